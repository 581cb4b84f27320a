"""Importing the printer package must not litter the temp dir or configure logging."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

CHECK = """
import logging, tempfile
import devices.printer
from escpos.printer import Dummy
Dummy(profile="TM-T20II")
assert tempfile.mkdtemp.__module__ == "tempfile", "mkdtemp left patched"
print(len(logging.getLogger().handlers))
"""


def test_import_leaves_only_the_cache_dir_and_no_log_handler(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    for _ in range(2):  # first run writes the cache, second one reads it
        result = subprocess.run(
            [sys.executable, "-c", CHECK],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0"

    assert sorted(p.name for p in tmp_path.iterdir()) == ["rosma-escpos"]
    cache = [p.name for p in (tmp_path / "rosma-escpos").iterdir()]
    assert cache == [f"{platform.python_version()}.capabilities.pickle"]
