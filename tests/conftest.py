"""Fixtures for every test."""

from __future__ import annotations

import pytest

from central import keys


@pytest.fixture(autouse=True)
def _unbind_qr_keys():
    """Each test binds the QR keys directory it uses; none inherits another test's."""
    yield
    keys._DIR.clear()
