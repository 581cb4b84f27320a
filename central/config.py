"""Central's typed configuration, one TOML file read and checked at start-up.

The secrets (``secret_key``, ``mqtt_password``) may come from systemd credentials of the same
names instead of the file (the units load them with ``LoadCredential=``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from infra import config as typed
from infra.config import ConfigError, clock_start, log_level, mqtt_tls, optional_file, public_url, setting


def _database_url(v: str) -> str | None:
    if v.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return None
    return "sqlite:///path or postgresql://user:password@host:port/database"


def _proxies(v: list) -> str | None:
    for item in v:
        try:
            ipaddress.ip_network(item, strict=False)
        except (TypeError, ValueError):
            return f"{item!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)"
    return None


def _bpjs_credentials(v: str) -> str | None:
    from central.bpjs_credentials import check

    return check(v)


def _mobilejkn_accounts(v: str) -> str | None:
    from central.mobilejkn import check

    return check(v)


_PACKAGE_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)+")
_FINGERPRINT_RE = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){31}")


def _push_services(v: list) -> str | None:
    for item in v:
        if not isinstance(item, str) or not item.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):
            return f"{item!r}: an https:// prefix of a push service (http only on this machine, for tests)"
    return None


def _push_contact(v: str) -> str | None:
    return None if v.startswith(("mailto:", "https://")) else "a mailto: or https: contact"


def _android_package(v: str) -> str | None:
    return None if not v or _PACKAGE_RE.fullmatch(v) else "an Android package name, e.g. id.go.bogorkab.rosma"


def _fingerprints(v: list) -> str | None:
    for item in v:
        if not isinstance(item, str) or not _FINGERPRINT_RE.fullmatch(item):
            return f"{item!r} is not a SHA-256 certificate fingerprint (32 hex pairs with colons, upper case)"
    return None


def _port(v: int) -> str | None:
    return None if 0 < v < 65536 else "must be a TCP port (1-65535)"


@dataclass(frozen=True)
class CentralConfig:
    database_url: str = setting(
        "sqlite:///var/central/central.db",
        "sqlite:///path (embedded) or postgresql://user@host/db",
        check=_database_url,
    )
    secret_key: str = setting(
        "",
        "Flask session and API token signing secret, 32+ characters (or the systemd credential secret_key)",
        check=lambda v: None if len(v) >= 32 else "must be at least 32 characters",
        secret=True,
    )
    http_host: str = setting("127.0.0.1", "address the patient site listens on")
    http_port: int = setting(8080, "port the patient site listens on", check=_port)
    public_url: str = setting(
        "",
        "this site's address as patients' phones reach it, e.g. https://antrean.bogorkab.go.id (not a loopback "
        "address); rosma provision hands it to the edges for the QR on every ticket; empty = tickets without it",
        check=public_url,
    )
    http_connections_per_client: int = setting(
        40,
        "open connections one address may hold (a trusted proxy's are not counted: it limits per client); 0 = no cap",
        check=lambda v: None if v >= 0 else "must be 0 or more",
    )
    web_processes: int = setting(
        1,
        "processes serving the site on the one port (rosma central run forks them and restarts one that dies); "
        "the embedded sync worker and phone streams run in the first only; more than 1 needs PostgreSQL",
        check=lambda v: None if 1 <= v <= 64 else "must be 1 to 64",
    )
    mqtt_host: str = setting("127.0.0.1", "MQTT broker host")
    mqtt_port: int = setting(1883, "MQTT broker port", check=_port)
    mqtt_username: str = setting("central", "broker username of the central sync worker")
    mqtt_password: str = setting(
        "", "broker password of the central sync worker (or the systemd credential mqtt_password)", secret=True
    )
    mqtt_ca: str = setting(
        "",
        "CA certificate the broker's TLS certificate must chain to; empty = no TLS (loopback only)",
        check=optional_file,
    )
    mqtt_cert: str = setting(
        "", "client certificate, when the broker identifies clients by certificate", check=optional_file
    )
    mqtt_key: str = setting("", "private key of mqtt_cert (0600); empty if mqtt_cert holds it", check=optional_file)
    mqtt_protocol: int = setting(
        5,
        "MQTT protocol level: 5 (MQTT 5), or 4 (MQTT 3.1.1) for a broker without MQTT 5, such as Debian 12's RabbitMQ",
        check=lambda v: None if v in (4, 5) else "must be 5 or 4",
    )
    keys_dir: str = setting(
        "var/central/keys", "directory of the QR signing keys' private parts (0600 files; back it up with the database)"
    )
    booking_days: int = setting(
        7, "how many days ahead patients may reserve", check=lambda v: None if v >= 1 else "must be at least 1"
    )
    seed: bool = setting(False, "load the Kabupaten Bogor seed puskesmas on start if the database is empty")
    embedded_sync: bool = setting(False, "run the MQTT sync worker inside the web process (embedded default)")
    stream_embedded: bool = setting(
        True,
        "serve the phones' live queue streams (server-sent events) from the web process; "
        "false when `rosma central stream` serves them (several web processes)",
    )
    stream_host: str = setting("", "address the phone streams listen on; empty = http_host")
    stream_port: int = setting(8082, "port the phone streams listen on (GET /arus/<puskesmas>)", check=_port)
    stream_url: str = setting(
        "",
        "the streams' address as phones reach it, e.g. https://antrean.bogorkab.go.id/arus (a proxy path); "
        "empty = /arus on the site's own origin when https, else http://<site host>:<stream_port>/arus",
        check=lambda v: (
            None
            if not v or re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/-]*)?", v) or v.startswith("/")
            else "must be an http(s) URL or a path such as /arus"
        ),
    )
    stream_max: int = setting(
        10000, "phone streams open at once, in all", check=lambda v: None if v >= 1 else "must be at least 1"
    )
    stream_per_client: int = setting(
        20,
        "phone streams one address may hold (loopback and trusted proxies exempt)",
        check=lambda v: None if v >= 1 else "must be at least 1",
    )
    https: bool = setting(
        False, "served over HTTPS (behind a TLS proxy): Secure cookies and HSTS; keep true in production"
    )
    trusted_proxies: list = setting(
        [],
        'addresses of reverse proxies whose X-Forwarded-For names the real client (e.g. ["127.0.0.1"])',
        check=_proxies,
    )
    notify_uri: str = setting(
        "none",
        "where one-time codes go: whatsapp://..., sms+https://... (docs/notifications.md); none: codes only at the "
        "loket; log:// and log:///path.jsonl for demos (they hold the codes)",
    )
    bpjs_credentials: str = setting(
        "",
        "TOML file (0600) of each puskesmas's BPJS credentials, one table per puskesmas code (docs/bpjs.md); "
        "empty = BPJS not configured",
        check=_bpjs_credentials,
    )
    mobilejkn_accounts: str = setting(
        "",
        "TOML file (0600) of the account each puskesmas gave BPJS for its Mobile JKN web service, one table per "
        "puskesmas code (docs/bpjs.md); empty = the web service refuses every call",
        check=_mobilejkn_accounts,
    )
    push_services: list = setting(
        ["https://fcm.googleapis.com/", "https://updates.push.services.mozilla.com/", "https://web.push.apple.com/"],
        "Web Push: the push services' endpoint prefixes central may send notifications to (a browser's "
        "subscription names one); nothing else is contacted",
        check=_push_services,
    )
    push_contact: str = setting(
        "mailto:rosma@localhost",
        "Web Push: the operator's contact sent with every notification (VAPID subject), mailto: or https:",
        check=_push_contact,
    )
    android_package: str = setting(
        "",
        "the Android app's package name (Trusted Web Activity, docs/android.md), e.g. id.go.bogorkab.rosma; "
        "empty = no /.well-known/assetlinks.json",
        check=_android_package,
    )
    android_cert_sha256: list = setting(
        [],
        "SHA-256 fingerprints of the certificates that sign the Android app (AB:CD:...), for assetlinks.json",
        check=_fingerprints,
    )
    log_level: str = setting("INFO", "logging level", check=log_level)
    clock_start: str = setting(
        "", "training/demo only: ISO datetime the clock starts at; empty = system clock", check=clock_start
    )

    def validate(self) -> None:
        problem = mqtt_tls(self)
        if problem:
            raise ConfigError(problem)
        if self.web_processes > 1 and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("config field web_processes: more than 1 needs a postgresql:// database_url")
        if self.android_cert_sha256 and not self.android_package:
            raise ConfigError("config field android_cert_sha256: needs android_package")


def load(path: str | Path, **overrides) -> CentralConfig:
    """Read ``path``; unknown keys, wrong types and broken rules raise ConfigError naming the field."""
    return typed.load(CentralConfig, path, **overrides)


def from_dict(data: dict) -> CentralConfig:
    """Build a config from a dict, checking field names, types and rules."""
    return typed.from_dict(CentralConfig, data)


def write(path: str | Path, cfg: CentralConfig) -> Path:
    """Write the config (0600: it holds secrets)."""
    return typed.write(path, cfg, header="Rosma central config (keep it 0600)")
