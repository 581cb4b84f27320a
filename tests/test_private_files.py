"""Databases, keys and secrets are owner-only (0600) whatever the umask, and a file an older
release left readable by others is made 0600 when this release opens it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MAKE_EVERYTHING = """
import os, sys
os.umask(0)  # the loosest an operator could have
base = sys.argv[1]
from central import config as cc, db as cdb, keys
from edge import db as edb
from edge.app import _secret_key
from edge import config as ec
cfg = cc.from_dict({"database_url": f"sqlite:///{base}/central.db", "secret_key": "s" * 40, "keys_dir": base + "/keys"})
cc.write(base + "/central.toml", cfg)
cdb.connect(cfg.database_url)
keys.bind(cfg.keys_dir)
keys.active_key()
edb.connect(base + "/edge/edge.db")
edb.database.execute_sql("CREATE TABLE t (x)")
_secret_key(base + "/edge")
"""


def modes(base: Path) -> dict[str, int]:
    return {str(p.relative_to(base)): stat.S_IMODE(p.stat().st_mode) for p in sorted(base.rglob("*")) if p.is_file()}


def test_every_file_with_personal_data_or_a_secret_is_0600_under_umask_000(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", MAKE_EVERYTHING, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")},
    )
    assert run.returncode == 0, run.stderr
    found = {k: v for k, v in modes(tmp_path).items() if not k.startswith("escpos")}
    expected = {"central.toml", "central.db", "edge/edge.db", "edge/secret_key"}
    assert expected <= set(found), found
    assert any(k.startswith("keys/qr-") for k in found)
    loose = {k: oct(v) for k, v in found.items() if v & 0o077}
    assert loose == {}, f"readable by others: {loose}"
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_a_database_and_config_left_0644_by_an_older_release_are_made_0600(tmp_path, caplog):
    from central import config as central_config
    from central import db as central_db

    url = f"sqlite:///{tmp_path / 'central.db'}"
    central_config.write(
        tmp_path / "central.toml", central_config.from_dict({"database_url": url, "secret_key": "s" * 40})
    )
    central_db.connect(url)
    central_db.database.close()
    for name in ("central.db", "central.toml"):
        os.chmod(tmp_path / name, 0o644)
    central_config.load(tmp_path / "central.toml")
    central_db.connect(url)
    central_db.database.close()
    assert stat.S_IMODE((tmp_path / "central.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "central.toml").stat().st_mode) == 0o600
    assert "readable by others (mode 644); now 0600" in caplog.text
