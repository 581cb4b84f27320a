"""The docs say what the code does: the config reference is the schemas' own, and every
``rosma`` subcommand is in the README."""

from __future__ import annotations

from pathlib import Path

from central.config import CentralConfig
from edge.config import EdgeConfig
from infra.config import reference

ROOT = Path(__file__).resolve().parents[1]


def test_the_config_reference_matches_the_schemas():
    text = (ROOT / "docs" / "config.md").read_text()
    for schema in (EdgeConfig, CentralConfig):
        assert reference(schema) in text, f"docs/config.md is out of date for {schema.__name__}"


def test_every_rosma_subcommand_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for command in (
        "central run",
        "central sync",
        "keys rotate",
        "central alerts",
        "edge run",
        "provision",
        "demo",
        "scan",
        "fake-printer",
    ):
        assert f"rosma {command}" in readme, command
