"""What the edge process keeps out of its memory, and that it still works without it."""

import subprocess
import sys

EDGE_PROCESS = """
import sys
from edge import memory
memory.tune_malloc()
memory.skip_server_drivers()
import edge.app
from edge import db
from devices.scanner import open_scanner
from devices.printer import TicketLayout, render_ticket
import datetime as dt

d = db.connect(sys.argv[1])
d.execute_sql("SELECT 1")
open_scanner("serial:///dev/ttyACM0")
layout = TicketLayout("Puskesmas", "Jl. Raya", "A001", "Umum", "Umum",
                      dt.datetime.now(dt.timezone(dt.timedelta(hours=7))), 0, live_url="https://x/t/abc")
assert render_ticket(layout).startswith(b"\\x1b@")
print(" ".join(m for m in ("psycopg2", "evdev", "asyncio", "escpos.printer", "usb") if sys.modules.get(m)))
"""


def test_the_edge_runs_without_server_drivers_evdev_or_escpos_backends(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", EDGE_PROCESS, str(tmp_path / "edge.db")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""


def test_server_drivers_already_imported_are_left_alone():
    from edge import memory

    before = dict(sys.modules)
    try:
        skipped = memory.skip_server_drivers()
        assert all(name not in before for name in skipped)
        assert all(sys.modules.get(name) is before[name] for name in memory.SERVER_DRIVERS if name in before)
    finally:
        for name in memory.SERVER_DRIVERS:
            if name not in before:
                sys.modules.pop(name, None)
