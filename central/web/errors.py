"""HTTP errors that carry an Indonesian message for the error page or JSON body."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException, default_exceptions


def http_error(status: int, message: str) -> HTTPException:
    """An exception to raise for ``status`` whose page shows ``message``."""
    exc = default_exceptions[status]()
    exc.rosma_message = message
    return exc
