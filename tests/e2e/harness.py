"""Starts Rosma as a user would: a private Mosquitto, ``rosma central run``, ``rosma central
sync``, ``rosma provision`` and ``rosma edge run`` as separate processes, with the edge's
scanner on a pty, its printer writing ticket files and its voice writing WAV files. Also where
the browser tests' Chromium is (the ``browser`` fixture is in conftest.py) and their screenshots go.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import requests

from infra.toml_writer import toml_key, toml_value
from provisioning.local_broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[2]
STAFF_PASSWORD = "kata-sandi-petugas"
PATIENT_PIN = "204816"
# the puskesmas's staff in every run: (username, role, polis)
STAFF = (
    ("admin.pkm", "admin_puskesmas", ""),
    ("petugas.loket", "petugas_loket", ""),
    ("petugas.poli", "petugas_poli", "UMUM,GIGI"),
)
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)  # polling an outside process; the predicate is the synchronisation


class EventStream:
    """Reads an SSE endpoint in a thread and queues (event, data) pairs.

    Like a browser's EventSource it reconnects when a stream ends, sending Last-Event-ID, so
    the server replays what happened in between.
    """

    def __init__(self, url: str):
        self.url = url
        self.events: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self.last_id = None
        self.resp = None
        self.raw: list[str] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), f"could not open {url}"

    def _run(self):
        while not self.closed.is_set():
            headers = {"Last-Event-ID": str(self.last_id)} if self.last_id else {}
            try:
                self.resp = requests.get(self.url, stream=True, timeout=(5, 60), headers=headers)
                self.connected.set()
                self._read(self.resp)
            except Exception:  # closed by us, or the edge is restarting: retry like a browser
                self.closed.wait(0.5)

    def _read(self, resp):
        event = None
        for line in resp.iter_lines(decode_unicode=True):
            self.raw.append(line)  # everything the stream carried, as a screen would get it
            if line.startswith("id: "):
                self.last_id = int(line[4:])
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                self.events.put((event, json.loads(line[6:])))
                event = None

    def expect(self, event_type: str, pred=lambda d: True, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event_type!r} event within {timeout:.0f} s")
            try:
                ev, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev == event_type and pred(data):
                return data

    def close(self):
        self.closed.set()
        if self.resp is not None:
            self.resp.close()


def csrf_of(html: str) -> str:
    """The CSRF token of a page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class System:
    def __init__(
        self,
        base: Path,
        pg_url: str,
        edge_day: str,
        puskesmas: str = "cibinong",
        printer: str = "file",
        central_settings: dict | None = None,
        broker: str = "mosquitto",
        sync_workers: int = 1,
    ):
        self.base = base
        self.central_settings = central_settings or {}
        self.pg_url = pg_url
        self.edge_day = edge_day
        self.puskesmas = puskesmas
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.central_port = free_port()
        self.stream_port = free_port()  # the phones' live queue streams (central.streams)
        self.edge_port = free_port()
        self.central_pw = secrets.token_urlsafe(16)
        # more than one ``rosma central sync`` on the shared subscription: each its own broker user
        self.sync_users = {f"central-{i}": secrets.token_urlsafe(16) for i in range(1, sync_workers)}
        self.broker_kind = broker  # "mosquitto", or "rabbitmq": RabbitMQ's MQTT plugin (MQTT 3.1.1)
        if broker == "rabbitmq":
            from provisioning.rabbitmq import LocalRabbitMQ

            self.broker = LocalRabbitMQ(base / "broker", {"central": self.central_pw})
            self.central_settings = {"mqtt_protocol": 4, **self.central_settings}
        else:
            self.broker = LocalBroker(
                base / "broker",
                {"central": self.central_pw, **self.sync_users},
                central_user=["central", *self.sync_users],
            )
        self.printer_dir = base / "printer"
        self.audio_dir = base / "audio"
        self.printer_dir.mkdir()
        self.printer = printer  # "file": tickets as files; "virtual": rosma fake-printer over TCP
        self.printer_state = base / "printer-state"
        self.central_url = f"http://127.0.0.1:{self.central_port}"
        self.edge_url = f"http://127.0.0.1:{self.edge_port}"
        self.env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(base / "escpos"), "PYTHONUNBUFFERED": "1"}

    # ---- processes -------------------------------------------------------------------------
    def rosma(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:
            p = subprocess.Popen(
                [sys.executable, "-m", "rosma.cli", *args],
                cwd=self.base,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = p
        return p

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_http(self, url: str, name: str) -> None:
        def up():
            if self.procs[name].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log_text(name)[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return True
            except OSError:
                return False

        wait_for(up, 60, f"{name} at {url}")

    def start(self) -> System:
        self.broker.start()
        self.central_cfg = self.base / "central.toml"
        self.central_cfg.write_text(
            "".join(
                f"{toml_key(k)} = {toml_value(v)}\n"
                for k, v in {
                    "database_url": self.pg_url,
                    "secret_key": secrets.token_urlsafe(32),
                    "http_port": self.central_port,
                    "stream_port": self.stream_port,
                    "mqtt_port": self.broker.port,
                    "mqtt_password": self.central_pw,
                    "mqtt_ca": str(self.broker.ca_path),
                    "keys_dir": str(self.base / "keys"),
                    "seed": True,
                    "clock_start": f"{self.edge_day}T08:30:00+07:00",  # central and edge share the day
                    **self.central_settings,
                }.items()
            )
        )
        self.rosma("central", "central", "run", "--config", str(self.central_cfg))
        self.wait_http(self.central_url + "/", "central")
        for username, role, polis in STAFF:  # before provisioning: the node's feed starts with them
            self.add_staff(username, role, polis)
        self.start_sync()
        printer_uri = f"file://{self.printer_dir}/"
        if self.printer == "virtual":
            port = free_port()
            self.printer_state.write_text("ready\n")
            self.rosma(
                "printer",
                "fake-printer",
                "--port",
                str(port),
                "--dir",
                str(self.printer_dir),
                "--control",
                str(self.printer_state),
            )
            wait_for(lambda: "listening" in self.log_text("printer"), 30, "the virtual printer")
            printer_uri = f"tcp://127.0.0.1:{port}"
        self.master, slave = os.openpty()
        self.scanner_path = os.ttyname(slave)
        self.edge_cfg = self.base / "edge.toml"
        p = self.rosma(
            "provision",
            "provision",
            "--central-config",
            str(self.central_cfg),
            "--puskesmas",
            self.puskesmas,
            "--broker-dir",
            str(self.broker.directory),
            *(["--broker-pid", str(self.broker.pid)] if self.broker_kind == "mosquitto" else []),
            "--mqtt-port",
            str(self.broker.port),
            "--mqtt-ca",
            str(self.broker.ca_path),
            "--out",
            str(self.edge_cfg),
            "--printer-uri",
            printer_uri,
            "--scanner-uri",
            f"serial://{self.scanner_path}",
            "--audio-uri",
            f"wavdir://{self.audio_dir}",
            "--http-port",
            str(self.edge_port),
            "--data-dir",
            str(self.base / "edge"),
            "--clock-start",
            f"{self.edge_day}T08:30:00+07:00",
        )
        assert p.wait(60) == 0, self.log_text("provision")
        cfg = tomllib.loads(self.edge_cfg.read_text())
        self.node_id, self.node_pw = cfg["node_id"], cfg["mqtt_password"]
        self.broker.users[self.node_id] = self.node_pw  # so a broker restart keeps the node's login
        if self.broker_kind == "rabbitmq":  # provision wrote Mosquitto's files: give RabbitMQ the user
            from edge import config as edge_config

            self.broker.add_users({self.node_id: self.node_pw})
            edge_config.write(self.edge_cfg, dataclasses.replace(edge_config.load(self.edge_cfg), mqtt_protocol=4))
        if self.sync_users:  # provisioning wrote the ACL for "central" alone: give the others theirs
            from provisioning import broker as mosquitto

            mosquitto.write_acl_file(self.broker.directory / mosquitto.ACL_NAME, self.broker.central_user)
            os.kill(self.broker.pid, signal.SIGHUP)
            for i, (user, pw) in enumerate(self.sync_users.items(), start=1):
                cfg = self.base / f"central-sync-{i}.toml"
                text = self.central_cfg.read_text()
                cfg.write_text(
                    "".join(line + "\n" for line in text.splitlines() if not line.startswith("mqtt_password"))
                    + f"mqtt_username = {toml_value(user)}\nmqtt_password = {toml_value(pw)}\n"
                )
                self.rosma(f"sync-{i}", "central", "sync", "--config", str(cfg))
        self.start_edge()
        return self

    def start_sync(self) -> None:
        self.rosma("sync", "central", "sync", "--config", str(self.central_cfg))

    def start_edge(self) -> None:
        self.rosma("edge", "edge", "run", "--config", str(self.edge_cfg))
        self.wait_http(self.edge_url + "/api/status", "edge")

    def restart_edge(self, **settings) -> None:
        """Stop the edge, change settings in its config file, and start it again."""
        from edge import config as edge_config

        self.stop_process("edge")
        cfg = edge_config.load(self.edge_cfg)
        edge_config.write(self.edge_cfg, dataclasses.replace(cfg, **settings))
        self.start_edge()

    def stop_process(self, name: str) -> None:
        p = self.procs[name]
        p.terminate()
        assert p.wait(20) == 0, f"{name} did not stop cleanly:\n{self.log_text(name)[-2000:]}"

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.broker.stop()
        os.close(self.master)

    # ---- the patient side (central JSON API) -------------------------------------------------
    def add_staff(self, username: str, role: str, polis: str = "", password: str = STAFF_PASSWORD) -> None:
        """A staff account at central, made with the real command (``rosma staff add``)."""
        args = [
            "staff",
            "add",
            "--config",
            str(self.central_cfg),
            "--username",
            username,
            "--name",
            username.title(),
            "--role",
            role,
            "--puskesmas",
            self.puskesmas,
            "--password-stdin",
        ]
        if polis:
            args += ["--poli", polis]
        run = subprocess.run(
            [sys.executable, "-m", "rosma.cli", *args],
            input=password + "\n",
            cwd=self.base,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr

    def staff(self, username: str = "admin.pkm", password: str = STAFF_PASSWORD) -> requests.Session:
        """An HTTP session signed in at the edge as a staff member, sending its CSRF token."""
        s = requests.Session()
        r = s.post(self.edge_url + "/api/staff/login", json={"username": username, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return s

    def central_staff(self, username: str = "petugas.loket", password: str = STAFF_PASSWORD) -> requests.Session:
        """A browser-like session signed in on central's staff pages (/petugas)."""
        s = requests.Session()
        page = s.get(self.central_url + "/petugas/masuk", timeout=10)
        form = {"csrf_token": csrf_of(page.text), "username": username, "password": password}
        r = s.post(self.central_url + "/petugas/masuk", data=form, timeout=10, allow_redirects=False)
        assert r.status_code == 302, r.text
        return s

    def loket_code(self, staff: requests.Session, nik: str, birth_date: str) -> str:
        """The one-time code the loket gives a patient whose KTP it checked (/petugas/reset-pin)."""
        page = staff.get(self.central_url + "/petugas/reset-pin", timeout=10)
        form = {"csrf_token": csrf_of(page.text), "nik": nik, "birth_date": birth_date, "ktp": "1"}
        r = staff.post(self.central_url + "/petugas/reset-pin", data=form, timeout=10)
        found = re.search(r'id="reset-code">(\d+)<', r.text)
        assert r.status_code == 200 and found, r.text[-2000:]
        return found.group(1)

    def patient(self, nik: str, birth_date: str, sex: str = "L", pin: str = PATIENT_PIN) -> dict:
        body = {
            "name": "Budi Santoso",
            "nik": nik,
            "birth_date": birth_date,
            "sex": sex,
            "address": "Jl. Raya Bogor No. 1, Cibinong",
            "phone": "081234567890",
            "pin": pin,
        }
        r = requests.post(self.central_url + "/api/v1/patients", json=body, timeout=10)
        assert r.status_code == 201, r.text
        login = {"nik": nik, "birth_date": birth_date, "pin": pin}
        r = requests.post(self.central_url + "/api/v1/login", json=login, timeout=10)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def reserve(
        self,
        auth: dict,
        date: str,
        puskesmas: str | None = None,
        poli: str = "UMUM",
        slot: str = "09:00-10:00",
        payer: str = "BPJS",
    ) -> dict:
        body = {"puskesmas": puskesmas or self.puskesmas, "poli": poli, "date": date, "slot": slot, "payer": payer}
        if payer == "BPJS":
            body["bpjs_no"] = "0001234567890"
        r = requests.post(self.central_url + "/api/v1/reservations", json=body, headers=auth, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["reservation"]

    def qr_text_from_png(self, auth: dict, rid: str) -> str:
        import io

        from PIL import Image

        from devices.scanner.image import read_qr_codes

        r = requests.get(f"{self.central_url}/api/v1/reservations/{rid}/qr.png", headers=auth, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
        found = read_qr_codes(Image.open(io.BytesIO(r.content)))
        assert len(found) == 1, "the QR PNG must hold exactly one readable QR code"
        return found[0]

    # ---- the edge ------------------------------------------------------------------------------
    def edge_status(self) -> dict:
        return requests.get(self.edge_url + "/api/status", timeout=5).json()

    def scan(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\r\n")

    def events(self) -> EventStream:
        return EventStream(self.edge_url + "/api/events")

    def set_printer(self, state: str) -> None:
        """Put the virtual printer in a state (ready, paper_out, cover_open, offline, paper_low)."""
        self.printer_state.write_text(state + "\n")

    def tickets_printed(self) -> list[Path]:
        return sorted(self.printer_dir.glob("ticket-*.escpos"))

    def wavs(self) -> list[Path]:
        return sorted(self.audio_dir.glob("*.wav"))
