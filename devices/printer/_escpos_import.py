"""Import python-escpos 3.1 without its import-time side effects."""

from __future__ import annotations

import logging
import os
import sys
import tempfile

logger = logging.getLogger(__name__)


def import_escpos_quietly() -> None:
    """Import escpos.capabilities once, keeping /tmp and the root logger clean.

    python-escpos 3.1 does ``environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR", mkdtemp())``:
    the default is evaluated even when the variable is set, so every process leaves
    an empty temp directory behind. It also calls ``logging.basicConfig()``, which
    would make the application's own basicConfig() a no-op. Must run before any
    other escpos import; later calls do nothing.
    """
    if "escpos.capabilities" in sys.modules:
        return
    pickle_dir = os.environ.setdefault(
        "ESCPOS_CAPABILITIES_PICKLE_DIR",
        os.path.join(tempfile.gettempdir(), "rosma-escpos"),
    )
    try:
        # escpos writes its cache there at import and fails if it is missing.
        os.makedirs(pickle_dir, exist_ok=True)
    except OSError as exc:
        logger.warning("Cannot create escpos cache dir %s: %s", pickle_dir, exc)

    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp_for_escpos(*args, **kwargs):
        # Only the eager default in escpos.capabilities gets the existing directory.
        if sys._getframe(1).f_globals.get("__name__") == "escpos.capabilities":
            return pickle_dir
        return real_mkdtemp(*args, **kwargs)

    root = logging.getLogger()
    handlers_before = list(root.handlers)
    tempfile.mkdtemp = mkdtemp_for_escpos
    try:
        import escpos.capabilities  # noqa: F401
    finally:
        tempfile.mkdtemp = real_mkdtemp
        for handler in root.handlers[:]:
            if handler not in handlers_before:
                root.removeHandler(handler)
