"""``rosma demo``: the whole system on one machine with simulated devices.

Starts a private Mosquitto from the project's config, central (SQLite, seed data, embedded
sync) and one provisioned edge node whose printer writes ticket files (raw ESC/POS plus a
readable .txt and a .png), whose scanner is a pseudo-terminal fed through a FIFO, and whose
voice writes WAV files. Ctrl-C stops everything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pty
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from infra.toml_writer import toml_key, toml_value
from provisioning.local_broker import LocalBroker


def write_toml(path: Path, values: dict) -> None:
    path.write_text("".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in values.items()))
    path.chmod(0o600)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until ``url`` answers; raises RuntimeError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)  # polling a server that is still starting
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def fifo_bridge(fifo: Path, master_fd: int, stop: threading.Event) -> None:
    """Copy every line written to ``fifo`` into the scanner pty, as a scanner would send it."""
    while not stop.is_set():
        with open(fifo, "rb") as fh:  # blocks until a writer opens the FIFO
            for line in fh:
                os.write(master_fd, line.rstrip(b"\r\n") + b"\r\n")


def run_demo(base: Path, puskesmas: str) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    rosma = [sys.executable, "-m", "rosma.cli"]
    central_port, edge_port, mqtt_port, printer_port, bpjs_port = 8080, 8081, 18830, 19100, 18090
    stream_port = 8082  # the phones' live queue streams, served by central's web process
    for port in (central_port, edge_port, mqtt_port, printer_port, bpjs_port, stream_port):
        if not _port_free(port):
            print(f"port {port} is in use; stop whatever uses it (an earlier demo?) and try again", file=sys.stderr)
            return 1
    clock_start = demo_clock_start()
    central_cfg = base / "central.toml"
    if not central_cfg.exists():
        write_toml(
            central_cfg,
            {
                "database_url": f"sqlite:///{base / 'central.db'}",
                "secret_key": secrets.token_urlsafe(32),
                "http_host": "0.0.0.0",
                "http_port": central_port,
                "mqtt_port": mqtt_port,
                "mqtt_password": secrets.token_urlsafe(24),
                "seed": True,
                "embedded_sync": True,
                "keys_dir": str(base / "keys"),
                "notify_uri": f"log://{base / 'notifications.jsonl'}",
            },
        )
    _set_toml_key(central_cfg, "clock_start", clock_start)
    # the QR on every demo ticket opens central on a phone in the same Wi-Fi (this run's address)
    public_url = f"http://{lan_address()}:{central_port}"
    _set_toml_key(central_cfg, "public_url", public_url)
    import tomllib

    from central import bpjs_credentials

    # the fake BPJS's credentials for the seed puskesmas (cibinong, ciawi), 0600
    bpjs_file = bpjs_credentials.write_fake(base / "bpjs.toml", f"http://127.0.0.1:{bpjs_port}")
    # the edge's own file holds only its puskesmas's table (the kiosk checks membership itself)
    edge_bpjs = bpjs_credentials.write_fake(base / "edge-bpjs.toml", f"http://127.0.0.1:{bpjs_port}", only=puskesmas)
    from central import mobilejkn

    mobilejkn_file = mobilejkn.write_demo(base / "mobilejkn.toml")  # BPJS's demo account, 0600
    present = tomllib.loads(central_cfg.read_text())
    for key, value in (
        ("keys_dir", str(base / "keys")),
        ("notify_uri", f"log://{base / 'notifications.jsonl'}"),
        ("bpjs_credentials", str(bpjs_file)),
        ("mobilejkn_accounts", str(mobilejkn_file)),
    ):
        if key not in present:  # a demo directory from an earlier release
            _set_toml_key(central_cfg, key, value)
    from central import config as cconfig
    from central import db, keys
    from central.models import Node
    from central.seed import seed
    from edge import config as edge_config

    cfg = cconfig.load(central_cfg)
    db.connect(cfg.database_url)
    keys.bind(cfg.keys_dir)
    seed()

    procs: list[subprocess.Popen] = []
    stop = threading.Event()
    broker = LocalBroker(base / "broker", {"central": cfg.mqtt_password}, port=mqtt_port)
    try:
        print("==> starting Mosquitto (project config, TLS) on port", mqtt_port)
        broker.start()
        _set_toml_key(central_cfg, "mqtt_ca", str(broker.ca_path))
        from rosma.provision import provision_node

        master, slave = pty.openpty()
        slave_path = os.ttyname(slave)
        fifo = base / "scanner.fifo"
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)  # whoever reads it gets the scans
        threading.Thread(target=fifo_bridge, args=(fifo, master, stop), daemon=True).start()
        edge_cfg = base / "edge.toml"
        node_id = f"pkm-{puskesmas}"
        # the ticket printer is a virtual ESC/POS printer on TCP: the edge drives it exactly as a
        # network printer, reads its paper sensor, and it writes each ticket as files
        printer_uri = f"tcp://127.0.0.1:{printer_port}"
        printer_state = base / "printer-state"
        printer_state.write_text("ready\n")
        if edge_cfg.exists() and Node.live().where(Node.node_id == node_id).exists():
            # a second run: the same node and its database go on; only the pty and clock change
            edge = dataclasses.replace(
                edge_config.load(edge_cfg),
                scanner_uri=f"serial://{slave_path}",
                printer_uri=printer_uri,
                clock_start=clock_start,
                mqtt_ca=str(broker.ca_path),
                bpjs_credentials=str(edge_bpjs),
                central_public_url=public_url,
            )
            edge_config.write(edge_cfg, edge)
        else:
            edge = provision_node(
                puskesmas,
                node_id,
                broker.directory,
                edge_cfg,
                "127.0.0.1",
                mqtt_port,
                printer_uri=printer_uri,
                scanner_uri=f"serial://{slave_path}",
                audio_uri=f"wavdir://{base / 'audio'}",
                http_host="0.0.0.0",
                http_port=edge_port,
                data_dir=str(base / "edge"),
                clock_start=clock_start,
                mqtt_ca=str(broker.ca_path),
                bpjs_credentials=str(edge_bpjs),
                central_public_url=public_url,
            )
        accounts = demo_accounts(base, puskesmas)
        (base / "printer").mkdir(exist_ok=True)
        broker.add_users({edge.node_id: edge.mqtt_password})  # and reload the broker
        db.database.close()
        env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(base / "escpos")}
        logs = base / "logs"
        logs.mkdir(exist_ok=True, mode=0o700)
        print("==> starting central (SQLite, seed data, sync)")
        procs.append(
            _spawn(
                [
                    *rosma,
                    "fake-printer",
                    "--port",
                    str(printer_port),
                    "--dir",
                    str(base / "printer"),
                    "--control",
                    str(printer_state),
                ],
                env,
                logs / "printer.log",
            )
        )
        procs.append(_spawn([*rosma, "fake-bpjs", "--port", str(bpjs_port)], env, logs / "fake-bpjs.log"))
        procs.append(_spawn([*rosma, "central", "run", "--config", str(central_cfg)], env, logs / "central.log"))
        wait_http(f"http://127.0.0.1:{central_port}/", procs[-1])
        print("==> starting the edge node for", puskesmas)
        procs.append(_spawn([*rosma, "edge", "run", "--config", str(edge_cfg)], env, logs / "edge.log"))
        wait_http(f"http://127.0.0.1:{edge_port}/api/status", procs[-1])
        mobilejkn_login = f"x-username {mobilejkn.DEMO_USERNAME}, x-password {mobilejkn.DEMO_PASSWORD}"
        print(
            f"""
Rosma demo is running (Ctrl-C to stop).

  Patient site (phone/web) : http://127.0.0.1:{central_port}/   (phones in this network: {public_url}/)
  Live queue on the phone  : http://127.0.0.1:{central_port}/antrian/{puskesmas}   (pushed from port {stream_port})
  Back office (petugas)    : http://127.0.0.1:{central_port}/petugas/masuk   (dashboard kunjungan, laporan, admin)
  Kiosk (APM)              : http://127.0.0.1:{edge_port}/kiosk
  Staff (loket & poli)     : http://127.0.0.1:{edge_port}/staff
  TV registration queue    : http://127.0.0.1:{edge_port}/tv/pendaftaran
  TV poli queues           : http://127.0.0.1:{edge_port}/tv/poli

  Scanner (pty)            : {slave_path}
  Scan a reservation QR    : .venv/bin/rosma scan --png downloaded-qr.png   (or: .venv/bin/rosma scan 'RS1:...')
  Printed tickets          : {base / "printer"}/ticket-*.txt (and .png)
  Printer out of paper     : echo paper_out > {printer_state}   (ready, cover_open, offline, paper_low)
  Announcements (WAV)      : {base / "audio"}/
  Logs                     : {logs}/
  Codes sent to phones     : {base / "notifications.jsonl"}   (Lupa PIN)
  Fake BPJS (PCare)        : http://127.0.0.1:{bpjs_port}/   cards: {DEMO_CARDS}
  Mobile JKN web service   : http://127.0.0.1:{central_port}/api/mobilejkn/cibinong   ({mobilejkn_login})

{accounts}
{clock_note(clock_start)}""",
            flush=True,
        )
        # three weeks of history for the back office, while the demo already runs (first run only)
        threading.Thread(target=seed_demo_history, args=(cfg.database_url, clock_start, puskesmas), daemon=True).start()
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)  # idle until Ctrl-C or a child exits
        print("a process exited; see the logs in", logs, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> stopping")
        return 0
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()


DEMO_CARDS = "0001234500001 aktif, 0001234500003 tidak aktif, 0001234500005 FKTP lain (Ciawi)"

DEMO_STAFF = (
    # username, name, role, polis; the puskesmas is the demo's (admin kabupaten: every one)
    ("admin.dinkes", "Admin Dinkes Kabupaten Bogor", "admin_kabupaten", ""),
    ("admin.{p}", "Admin Puskesmas", "admin_puskesmas", ""),
    ("kepala.{p}", "Kepala Puskesmas", "kepala_puskesmas", ""),
    ("loket.{p}", "Petugas Loket", "petugas_loket", ""),
    ("poli.umum.{p}", "Petugas Poli Umum", "petugas_poli", "UMUM"),
)
DEMO_PATIENT = {
    "name": "Ani Lestari",
    "nik": "3201015708900002",
    "birth_date": "1990-08-17",
    "sex": "P",
    "address": "Kp. Babakan RT 01/02, Cibinong",
    "phone": "081234567890",
}


def demo_accounts(base: Path, puskesmas: str) -> str:
    """Demo staff accounts and a demo patient, made once with random passwords kept in
    ``<base>/demo-accounts.toml`` (0600) so a second run prints the same; returns what to print."""
    import tomllib

    from central import identity
    from central import staff as staff_accounts
    from central.models import Patient, Staff
    from infra.files import write_private_file

    path = base / "demo-accounts.toml"
    known = tomllib.loads(path.read_text()) if path.exists() else {}
    for username, name, role, polis in DEMO_STAFF:
        username = username.format(p=puskesmas)
        if Staff.get_or_none(Staff.username == username) is None:
            known[username] = secrets.token_urlsafe(9)
            staff_accounts.add(
                username, name, role, None if role == "admin_kabupaten" else puskesmas, polis, known[username]
            )
    if Patient.get_or_none(Patient.nik == DEMO_PATIENT["nik"]) is None:
        while True:  # a PIN the site accepts (not 123456 or 111111)
            pin = f"{secrets.randbelow(10**6):06d}"
            if not identity.check_pin_fields(pin, None, dt.date.fromisoformat(DEMO_PATIENT["birth_date"])):
                break
        known["patient_pin"] = pin
        identity.register({**DEMO_PATIENT, "pin": pin}, identity.Client("127.0.0.1"), now=dt.datetime.now())
    write_private_file(path, "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in known.items()))
    lines = ["  Demo accounts (also in " + str(path) + "):"]
    lines.append(
        f"    patient  NIK {DEMO_PATIENT['nik']}, lahir 17-08-1990, PIN {known.get('patient_pin', '(set earlier)')}"
    )
    for username, _name, role, _polis in DEMO_STAFF:
        username = username.format(p=puskesmas)
        lines.append(f"    {role:<17} {username:<22} {known.get(username, '(set earlier)')}")
    lines.append("  Staff sign in at the edge (/staff) and at central (/petugas/masuk).")
    return "\n".join(lines)


def seed_demo_history(database_url: str, clock_start: str, puskesmas: str = "cibinong") -> int:
    """Three weeks of visits, reservations and kritik & saran before the demo's day, made as the
    edges' typed events (central.history), one of the visits the demo patient's, with her kritik
    & saran answered; once: a later run finds them and adds nothing."""
    from central import db
    from central.history import give_patient_a_visit, seed_history
    from central.models import Node

    start = time.monotonic()
    today = dt.date.fromisoformat(clock_start[:10]) if clock_start else None
    try:
        db.connect(database_url)
        if not Node.select().where(Node.node_id.startswith("riwayat-")).exists():
            print("==> making three weeks of back office history in the background", flush=True)
        added = seed_history(days=21, today=today)
        give_patient_a_visit(DEMO_PATIENT["nik"], puskesmas)
    except Exception as exc:  # the demo goes on without its history
        print(f"==> history for the back office could not be made: {exc}", file=sys.stderr, flush=True)
        return 0
    finally:
        if not db.database.is_closed():
            db.database.close()
    if added:
        took = time.monotonic() - start
        print(f"==> back office history ready: {added} visits over three weeks ({took:.0f} s)", flush=True)
    return added


def demo_clock_start() -> str:
    """Outside service hours the demo runs on a clock that starts at the next 07:30 WIB.

    Reservations are for service days and hours, and the kiosk only checks in today's; so a
    demo started in the evening would have nothing to check in without this.
    """
    from protocol.clock import WIB

    now = dt.datetime.now(WIB)
    if now.weekday() != 6 and dt.time(7, 0) <= now.time() < dt.time(11, 0):
        return ""
    day = now.date() + dt.timedelta(days=0 if now.time() < dt.time(7, 0) else 1)
    while day.weekday() == 6:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(7, 30), WIB).isoformat()


def clock_note(clock_start: str) -> str:
    if not clock_start:
        return ""
    when = dt.datetime.fromisoformat(clock_start)
    return (
        f"  Demo clock               : starts at {when:%d-%m-%Y %H.%M} WIB (outside service hours now),\n"
        f"                             so reserve for that day and check in right away.\n"
    )


def _set_toml_key(path: Path, key: str, value: str) -> None:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(f"{key} =")]
    path.write_text("\n".join(lines + [f"{toml_key(key)} = {toml_value(value)}"]) + "\n")


def _spawn(cmd: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stderr=log)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def lan_address() -> str:
    """This machine's address in its local network (the one its default route leaves by), so a
    phone in the same Wi-Fi reaches the demo; 127.0.0.1 when there is none."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: picks the outgoing interface, sends nothing
            address = s.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return "127.0.0.1" if address.startswith(("127.", "0.")) else address


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
