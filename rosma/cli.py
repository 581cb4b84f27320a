"""The ``rosma`` command: run central, its sync worker or an edge node; provision; demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # peewee logs every statement with its parameters at DEBUG: NIKs, card numbers, names. Even at
    # log_level DEBUG those stay out of the log.
    logging.getLogger("peewee").setLevel(max(logging.INFO, logging.getLogger().level))


def _refuse(exc: Exception) -> int:
    """A config or database this release cannot run on: say why and exit non-zero (no traceback)."""
    print(f"rosma: {exc}", file=sys.stderr)
    logging.getLogger("rosma").error("refusing to start: %s", exc)
    return 2


def central_run(args) -> int:
    from central import config as cconfig
    from central.app import MAX_BODY, create_app
    from central.runtime import CentralRuntime
    from infra.config import ConfigError
    from infra.migrations import SchemaError
    from rosma.serve import serve

    try:
        cfg = cconfig.load(args.config)
        _logging(cfg.log_level)
        runtime = CentralRuntime(cfg)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    runtime.seed_if_empty()
    app = create_app(cfg, runtime)
    from central.web.proxy import trusted

    def run(sockets=None, notifier=None, first: bool = True) -> int:
        if cfg.embedded_sync and first:
            runtime.start_sync()
        if cfg.stream_embedded and first:
            runtime.start_streams()
        serve(
            app,
            cfg.http_host,
            cfg.http_port,
            healthy=runtime.healthy,
            on_stop=runtime.close,
            per_client=cfg.http_connections_per_client,
            exempt=trusted(cfg.trusted_proxies),
            proxy_headers=bool(cfg.trusted_proxies),  # TrustedProxies reads and removes them
            max_body=MAX_BODY,
            sockets=sockets,
            notifier=notifier,
        )
        return 0

    if cfg.web_processes == 1:
        return run()
    from rosma import prefork

    try:
        sock = prefork.listen(cfg.http_host, cfg.http_port)
    except OSError as exc:
        return _refuse(OSError(f"cannot listen on {cfg.http_host}:{cfg.http_port}: {exc.strerror}"))
    runtime.before_fork()

    def worker(index: int, notifier) -> int:
        runtime.worker = index
        # the embedded sync worker and the phone streams run once, in the first process
        return run([sock], notifier, first=index == 1)

    logging.getLogger("rosma").info(
        "serving http://%s:%s with %d web processes", cfg.http_host, cfg.http_port, cfg.web_processes
    )
    return prefork.run(cfg.web_processes, worker)


def central_sync(args) -> int:
    import signal
    import threading

    import sdnotify

    from central import config as cconfig
    from central import db
    from central.sync import CentralSync, mqtt_settings
    from infra.config import ConfigError
    from infra.migrations import SchemaError
    from infra.mqtt.paho import PahoTransport

    try:
        cfg = cconfig.load(args.config)
        _logging(cfg.log_level)
        db.connect(cfg.database_url)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    from central import bpjs_credentials, keys, push
    from infra.notify import open_notifier

    bpjs_credentials.bind(cfg.bpjs_credentials)
    keys.bind(cfg.keys_dir)  # the Web Push (VAPID) key lives beside the QR keys
    push.configure(cfg.push_services, cfg.push_contact, open_notifier(cfg.notify_uri))
    sync = CentralSync(PahoTransport(mqtt_settings(cfg)))
    sync.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    n = sdnotify.SystemdNotifier()
    n.notify("READY=1")
    while not stop.wait(10):
        problems = sync.problems()
        if problems:
            logging.getLogger("rosma").error("health check failed: %s; not petting the watchdog", "; ".join(problems))
        else:
            n.notify("WATCHDOG=1")
    sync.close()
    return 0


def central_stream(args) -> int:
    """The phones' live queue streams as a service of their own (when ``stream_embedded`` is false)."""
    import signal
    import threading

    import sdnotify

    from central import config as cconfig
    from central import db
    from central.streams import server_for
    from infra.config import ConfigError
    from infra.migrations import SchemaError
    from protocol.clock import Clock

    try:
        cfg = cconfig.load(args.config)
        _logging(cfg.log_level)
        db.connect(cfg.database_url)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    clock = Clock(cfg.clock_start)
    server = server_for(cfg, lambda: clock.now().date()).start()
    if server.error is not None:
        return _refuse(server.error)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    n = sdnotify.SystemdNotifier()
    n.notify("READY=1")
    while not stop.wait(10):
        if server.healthy():
            n.notify("WATCHDOG=1")
        else:
            logging.getLogger("rosma").error("health check failed: %s; not petting the watchdog", server.hub.problem)
    server.stop()
    return 0


def central_alerts(args) -> int:
    """What an admin must look at: replaced edge databases and check-ins that outlived a cancellation."""
    from central import config as cconfig
    from central import db
    from central.models import Node, NodeAlert, Puskesmas, Reservation, utcnow
    from infra.config import ConfigError
    from infra.migrations import SchemaError

    try:
        cfg = cconfig.load(args.config)
        db.connect(cfg.database_url)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    if args.resolve:
        n = NodeAlert.update(resolved_at=utcnow()).where(NodeAlert.id == args.resolve).execute()
        print(f"alert {args.resolve} resolved" if n else f"no alert {args.resolve}")
        return 0 if n else 1
    alerts = (
        NodeAlert.select(NodeAlert, Node)
        .join(Node)
        .where(NodeAlert.resolved_at.is_null())
        .order_by(NodeAlert.created_at)
    )
    conflicts = (
        Reservation.select(Reservation, Puskesmas)
        .join(Puskesmas)
        .where(Reservation.conflict != "")
        .order_by(Reservation.date.desc())
    )
    for a in alerts:
        print(f"alert {a.id}  {a.created_at:%Y-%m-%d %H:%M} UTC  {a.node.node_id}  {a.kind}: {a.message}")
    for r in conflicts:
        print(f"reservation {r.rid}  {r.puskesmas.code} {r.date} {r.slot}  {r.conflict}")
    if not alerts.exists() and not conflicts.exists():
        print("no open alerts")
    return 0


def keys_cmd(args) -> int:
    """``rosma keys rotate``: a new QR signing key signs from now; edges keep the old one until its passes expire."""
    from central import config as cconfig
    from central import db, keys
    from infra.config import ConfigError
    from infra.migrations import SchemaError

    try:
        cfg = cconfig.load(args.config)
        _logging(cfg.log_level)
        db.connect(cfg.database_url)
        keys.bind(cfg.keys_dir)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    if args.keys_cmd == "list":
        for row in keys.trusted():
            until = f"until {row.trusted_until:%Y-%m-%d %H:%M} UTC" if row.trusted_until else ""
            print(f"{row.kid}  {'signs' if row.signs else 'trusted'}  {until}")
        return 0
    old, new = keys.rotate(cfg.booking_days)
    print(f"QR key {new} signs from now; {old} stays trusted until its passes expire (the edges are told)")
    return 0


def staff_cmd(args) -> int:
    """``rosma staff add|list|disable|reset``: staff accounts at central (they reach the edges)."""
    import secrets as pysecrets

    from central import config as cconfig
    from central import db
    from central import staff as staffdir
    from central.identity import ROLES, IdentityError
    from central.models import Staff
    from infra.config import ConfigError
    from infra.migrations import SchemaError

    try:
        cfg = cconfig.load(args.config)
        db.connect(cfg.database_url)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)

    def password() -> tuple[str, bool]:
        if getattr(args, "password_stdin", False):
            return sys.stdin.readline().rstrip("\r\n"), False
        return pysecrets.token_urlsafe(12), True

    try:
        if args.staff_cmd == "list":
            for s in Staff.select().order_by(Staff.username):
                where = s.puskesmas.code if s.puskesmas else "(semua)"
                state = "aktif" if s.active else "nonaktif"
                print(f"{s.username:24} {s.role:18} {where:12} {s.polis:12} {state:9} {s.name}")
            return 0
        if args.staff_cmd == "add":
            pw, made = password()
            s = staffdir.add(args.username, args.name, args.role, args.puskesmas, args.poli or "", pw)
            print(f"staff {s.username} ({ROLES[s.role]}) created" + (f"; password: {pw}" if made else ""))
            return 0
        if args.staff_cmd == "disable":
            staffdir.disable(args.username)
            print(f"staff {args.username} disabled; their sessions ended")
            return 0
        pw, made = password()
        staffdir.set_password(args.username, pw)
        print(f"staff {args.username} has a new password" + (f": {pw}" if made else ""))
        return 0
    except IdentityError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
        print(f"rosma: {detail}", file=sys.stderr)
        return 2


def edge_run(args) -> int:
    from edge import memory

    memory.tune_malloc()  # before the imports and the start-up work fill the heap
    memory.skip_server_drivers()  # before peewee is imported: this process never uses them
    from edge import config as econfig
    from infra.config import ConfigError

    try:
        cfg = econfig.load(args.config)
    except ConfigError as exc:
        return _refuse(exc)
    _logging(cfg.log_level)
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(Path(cfg.data_dir) / "escpos"))
    from edge.app import MAX_BODY, WEB_THREADS, Runtime, create_app
    from infra.migrations import SchemaError
    from rosma.serve import serve

    try:
        runtime = Runtime(cfg)
    except SchemaError as exc:
        return _refuse(exc)
    runtime.start()
    app = create_app(cfg, runtime)
    from infra.config import is_loopback

    # the node's own TV and touchscreen (127.0.0.1) share only the overall connection limit
    serve(
        app,
        cfg.http_host,
        cfg.http_port,
        healthy=runtime.healthy,
        on_stop=runtime.close,
        threads=WEB_THREADS,
        exempt=is_loopback,
        max_body=MAX_BODY,
    )
    return 0


def provision(args) -> int:
    from central import config as cconfig
    from central import db, keys
    from infra.config import ConfigError
    from infra.migrations import SchemaError
    from rosma.provision import provision_node

    try:
        cfg = cconfig.load(args.central_config)
        _logging(cfg.log_level)
        db.connect(cfg.database_url)
        keys.bind(cfg.keys_dir)
    except (ConfigError, SchemaError) as exc:
        return _refuse(exc)
    local = {
        k: v
        for k, v in vars(args).items()
        if k
        in (
            "printer_uri",
            "scanner_uri",
            "audio_uri",
            "http_host",
            "http_port",
            "data_dir",
            "clock_start",
            "mqtt_ca",
            "mqtt_cert",
            "mqtt_key",
            "bpjs_credentials",
        )
        and v is not None
    }
    # central's address for the QR on every ticket (a loopback one is logged as a warning)
    public = cfg.public_url if args.central_public_url is None else args.central_public_url
    try:
        edge = provision_node(
            args.puskesmas,
            args.node_id or f"pkm-{args.puskesmas}",
            Path(args.broker_dir),
            Path(args.out),
            mqtt_host=args.mqtt_host,
            mqtt_port=args.mqtt_port,
            lokets=args.lokets,
            credentials_dir=Path(args.credentials_dir) if args.credentials_dir else None,
            central_public_url=public,
            **local,
        )
    except ValueError as exc:
        return _refuse(exc)
    if args.broker_pid:
        from provisioning import broker

        broker.reload_broker(args.broker_pid)
    print(f"node {edge.node_id} provisioned for {edge.puskesmas_name}; edge config written to {args.out}")
    return 0


def demo(args) -> int:
    from rosma.demo import run_demo

    return run_demo(Path(args.dir), args.puskesmas)


def scan(args) -> int:
    """Send a QR text to the demo's simulated scanner, as if a patient held up their phone."""
    fifo = Path(args.fifo)
    if not fifo.exists():
        print(f"no demo scanner at {fifo}: start 'make demo' first", file=sys.stderr)
        return 1
    text = args.text
    if args.png:
        from PIL import Image

        from devices.scanner.image import read_qr_codes

        found = read_qr_codes(Image.open(args.png))
        if len(found) != 1:
            what = "no QR code" if not found else f"{len(found)} QR codes"
            print(f"{what} found in {args.png}; give a picture of one reservation QR", file=sys.stderr)
            return 1
        text = found[0]
    if not text:
        print("give the QR text or --png FILE", file=sys.stderr)
        return 2
    with open(fifo, "w") as fh:
        fh.write(text.strip() + "\n")
    print("scanned; see the kiosk page and the printer folder")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fake-printer"]:
        from devices.printer.virtual import main as virtual_main

        return virtual_main(argv[1:], prog="rosma fake-printer")
    if argv[:1] == ["fake-bpjs"]:
        from bpjs.fake import main as fake_bpjs_main

        return fake_bpjs_main(argv[1:], prog="rosma fake-bpjs")
    p = argparse.ArgumentParser(prog="rosma", description="Rosma reservation and queue system")
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("central", help="central server").add_subparsers(dest="central_cmd", required=True)
    cr = c.add_parser("run", help="run the patient web site and JSON API")
    cr.add_argument("--config", required=True)
    cr.set_defaults(func=central_run)
    cst = c.add_parser("stream", help="serve the phones' live queue streams (when stream_embedded is false)")
    cst.add_argument("--config", required=True)
    cst.set_defaults(func=central_stream)
    cs = c.add_parser("sync", help="run the MQTT sync worker")
    cs.add_argument("--config", required=True)
    cs.set_defaults(func=central_sync)
    ca = c.add_parser("alerts", help="list what an admin must look at (replaced edge databases, sync conflicts)")
    ca.add_argument("--config", required=True)
    ca.add_argument("--resolve", type=int, help="mark alert ID as dealt with")
    ca.set_defaults(func=central_alerts)

    e = sub.add_parser("edge", help="edge node").add_subparsers(dest="edge_cmd", required=True)
    er = e.add_parser("run", help="run the kiosk, staff and TV pages with the device workers")
    er.add_argument("--config", required=True)
    er.set_defaults(func=edge_run)

    pv = sub.add_parser("provision", help="create an edge node for a puskesmas")
    pv.add_argument("--central-config", required=True)
    pv.add_argument("--puskesmas", required=True, help="puskesmas code, e.g. cibinong")
    pv.add_argument("--node-id", help="default: pkm-<puskesmas>")
    pv.add_argument("--broker-dir", required=True, help="directory with the broker's passwd and acl files")
    pv.add_argument("--broker-pid", type=int, help="send SIGHUP to this Mosquitto so it reloads")
    pv.add_argument("--mqtt-host", default="127.0.0.1")
    pv.add_argument("--mqtt-port", type=int, default=8883, help="the broker's TLS port (1883: plain, loopback only)")
    pv.add_argument("--mqtt-ca", help="CA certificate of the broker, at this path on the node too (TLS)")
    pv.add_argument("--mqtt-cert", help="the node's client certificate (brokers that identify nodes by certificate)")
    pv.add_argument("--mqtt-key", help="private key of --mqtt-cert")
    pv.add_argument(
        "--bpjs-credentials",
        help="this puskesmas's BPJS credentials (0600 TOML, one table) for the kiosk's membership check",
    )
    pv.add_argument(
        "--central-public-url",
        help="central's address as patients' phones reach it, for the QR on every ticket (default: central's "
        "public_url; '' for none)",
    )
    pv.add_argument("--lokets", type=int, default=2)
    pv.add_argument("--out", required=True, help="edge config file to write")
    for opt in ("--printer-uri", "--scanner-uri", "--audio-uri", "--data-dir", "--http-host"):
        pv.add_argument(opt)
    pv.add_argument(
        "--credentials-dir", help="write the broker password here (for systemd LoadCredential=) instead of the config"
    )
    pv.add_argument("--http-port", type=int)
    pv.add_argument("--clock-start", help="training/testing only: the edge clock starts at this ISO datetime")
    pv.set_defaults(func=provision)

    kp = sub.add_parser("keys", help="the QR signing keys (private parts are 0600 files in keys_dir)")
    ksub = kp.add_subparsers(dest="keys_cmd", required=True)
    for name, text in (
        ("rotate", "a new key signs; the old one stays trusted until its passes expire"),
        ("list", "the keys edges trust"),
    ):
        ksub.add_parser(name, help=text).add_argument("--config", required=True, help="central.toml")
    kp.set_defaults(func=keys_cmd)

    st = sub.add_parser("staff", help="staff accounts (they reach their puskesmas's edge for offline sign-in)")
    stsub = st.add_subparsers(dest="staff_cmd", required=True)
    sa = stsub.add_parser("add", help="create an account (prints a generated password unless --password-stdin)")
    sa.add_argument("--username", required=True)
    sa.add_argument("--name", required=True)
    sa.add_argument(
        "--role", required=True, help="admin_kabupaten, admin_puskesmas, kepala_puskesmas, petugas_loket, petugas_poli"
    )
    sa.add_argument("--puskesmas", help="puskesmas code (not for admin_kabupaten)")
    sa.add_argument("--poli", help="petugas_poli: comma-separated poli codes, e.g. UMUM,GIGI")
    sl = stsub.add_parser("list", help="every account")
    sd = stsub.add_parser("disable", help="an account may not sign in any more (its sessions end)")
    sd.add_argument("--username", required=True)
    sr = stsub.add_parser("reset", help="a new password (prints a generated one unless --password-stdin)")
    sr.add_argument("--username", required=True)
    for sp in (sa, sl, sd, sr):
        sp.add_argument("--config", required=True, help="central.toml")
    for sp in (sa, sr):
        sp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    st.set_defaults(func=staff_cmd)

    # its options are the virtual printer's own (see main below)
    sub.add_parser("fake-printer", help="a virtual ESC/POS ticket printer on TCP for demos and tests", add_help=False)
    sub.add_parser("fake-bpjs", help="a fake BPJS (PCare peserta, Antrean FKTP) for demos and tests", add_help=False)

    d = sub.add_parser("demo", help="run everything locally with simulated devices")
    d.add_argument("--dir", default="var/demo")
    d.add_argument("--puskesmas", default="cibinong")
    d.set_defaults(func=demo)

    s = sub.add_parser("scan", help="'scan' a QR text into the demo's simulated scanner")
    s.add_argument("text", nargs="?", default="")
    s.add_argument("--png", help="decode the QR code in this PNG (e.g. the downloaded reservation QR)")
    s.add_argument("--fifo", default="var/demo/scanner.fifo")
    s.set_defaults(func=scan)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
