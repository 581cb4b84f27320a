"""The ticket directory printer (``file:///dir/``) never shows half a ticket: whoever reads the
directory (a test, a kiosk preview) sees a ticket complete or not at all, also when the disk is
full in the middle of writing one, and two writers never take the same number."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from PIL import Image

from devices.printer import open_printer, render_ticket
from devices.printer.file_printer import TicketFiles

ROOT = Path(__file__).resolve().parents[2]


def complete(directory: Path, number: int, ticket: bytes) -> bool:
    """Ticket ``number`` is all there: its bytes, its text and a readable preview."""
    base = directory / f"ticket-{number:04d}"
    if (base.with_suffix(".escpos")).read_bytes() != ticket:
        return False
    if "A007" not in base.with_suffix(".txt").read_text(encoding="utf-8"):
        return False
    with Image.open(base.with_suffix(".png")) as picture:
        picture.load()
        return picture.height > picture.width


def test_a_reader_watching_the_directory_only_ever_sees_whole_tickets(tmp_path, layout):
    directory = tmp_path / "tickets"
    printer = open_printer(f"file://{directory}/")
    ticket = render_ticket(layout)
    done = threading.Event()
    seen: set[int] = set()
    broken: list[str] = []

    def reader() -> None:
        while not done.is_set() or len(seen) < 30:
            if not directory.exists():
                continue
            for name in os.listdir(directory):
                if name.endswith(".escpos") and name.startswith("ticket-"):
                    number = int(name[7:11])
                    if number not in seen:
                        if not complete(directory, number, ticket):
                            broken.append(name)
                        seen.add(number)
            if broken:
                return

    watcher = threading.Thread(target=reader)
    watcher.start()
    for _ in range(30):
        printer.print_ticket(layout)
    done.set()
    watcher.join(timeout=60)
    assert not watcher.is_alive()
    assert broken == []
    assert seen == set(range(1, 31))
    names = sorted(os.listdir(directory))
    assert len(names) == 90 and not [n for n in names if n.startswith(".")]  # no temporary file left
    assert {oct(os.stat(directory / n).st_mode & 0o777) for n in names} == {"0o644"}


FULL_DISK = """
import resource, signal, sys
from datetime import datetime
from zoneinfo import ZoneInfo
from devices.printer import PrinterError, TicketLayout, open_printer
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over the limit is EFBIG, not death
layout = TicketLayout(puskesmas_name="Puskesmas Tanah Abang", puskesmas_address="Jl. Mas Mansyur",
                      number="A007", queue_name="Loket Pendaftaran", payer="BPJS",
                      issued_at=datetime(2026, 11, 25, 8, 31, tzinfo=ZoneInfo("Asia/Jakarta")), waiting_ahead=3)
printer = open_printer("file://" + sys.argv[1] + "/")
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))  # the preview is bigger
try:
    printer.print_ticket(layout)
except PrinterError as exc:
    print(exc)
"""


def test_a_disk_full_in_the_middle_of_a_ticket_leaves_no_ticket_and_the_next_one_is_whole(tmp_path, layout):
    directory = tmp_path / "tickets"
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FULL_DISK), str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Tiket gagal disimpan ke berkas"
    assert os.listdir(directory) == []  # nothing half-written, no temporary file

    open_printer(f"file://{directory}/").print_ticket(layout)
    assert sorted(os.listdir(directory)) == ["ticket-0001.escpos", "ticket-0001.png", "ticket-0001.txt"]
    assert complete(directory, 1, render_ticket(layout))


def test_two_writers_on_one_directory_never_share_a_number(tmp_path, layout):
    directory = str(tmp_path / "tickets")
    ticket = render_ticket(layout)
    writers = [TicketFiles(directory, "TM-T20II"), TicketFiles(directory, "TM-T20II")]
    bases: list[str] = []
    start = threading.Barrier(2)

    def write(files: TicketFiles) -> None:
        start.wait()
        for _ in range(15):
            bases.append(files.write(ticket))

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(bases) == [os.path.join(directory, f"ticket-{n:04d}") for n in range(1, 31)]
    assert all(complete(Path(directory), n, ticket) for n in range(1, 31))
