"""Central's runtime: built outside create_app, and its health check includes the embedded sync."""

from __future__ import annotations

from central.app import create_app
from central.config import from_dict
from central.runtime import CentralRuntime
from infra import migrations
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker

SECRET = "test-secret-key-0123456789abcdef0123456789"


def test_create_app_has_no_side_effects_and_health_includes_the_embedded_sync(tmp_path):
    cfg = from_dict(
        {
            "database_url": f"sqlite:///{tmp_path / 'c.db'}",
            "secret_key": SECRET,
            "embedded_sync": True,
            "keys_dir": str(tmp_path / "keys"),
        }
    )
    runtime = CentralRuntime(cfg)
    app = create_app(cfg, runtime)  # no threads, no seeding: the caller decides
    assert runtime.sync is None and app.extensions["rosma"] is runtime
    sync = runtime.start_sync(MemoryBroker().transport(Settings(username="central")))
    try:
        assert runtime.healthy()
        runtime.db.execute_sql(f"INSERT INTO {migrations.TABLE} (version, name, applied_at) VALUES (99, 'x', 'x')")
        assert runtime.problems() == ["database schema does not match this release"] * 2  # web and sync both see it
        runtime.db.execute_sql(f"DELETE FROM {migrations.TABLE} WHERE version = 99")
        sync.stop.set()  # the change-feed poller stops looping
        sync.poller.join(5)
        assert runtime.problems() == ["sync worker is stuck or stopped"]
    finally:
        runtime.close()
        runtime.db.close()
