"""The systemd units in systemd/: parsed with a small reader that keeps repeated keys."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = {
    "rosma-edge.service": "/opt/rosma/venv/bin/rosma edge run --config /etc/rosma/edge.toml",
    "rosma-central-web.service": "/opt/rosma/venv/bin/rosma central run --config /etc/rosma/central.toml",
    "rosma-central-sync.service": "/opt/rosma/venv/bin/rosma central sync --config /etc/rosma/central.toml",
    "rosma-central-stream.service": "/opt/rosma/venv/bin/rosma central stream --config /etc/rosma/central.toml",
}
HARDENING_YES = [
    "NoNewPrivileges",
    "ProtectHome",
    "PrivateTmp",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "MemoryDenyWriteExecute",
]

Unit = dict[str, dict[str, list[str]]]


def read_unit(path: Path) -> Unit:
    """Parse a unit file: section -> key -> every value in order (systemd allows repeats)."""
    unit: Unit = {}
    section = None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"{path.name}:{lineno}: no line continuations please"
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            assert section not in unit, f"{path.name}:{lineno}: duplicate section"
            unit[section] = {}
            continue
        assert section is not None, f"{path.name}:{lineno}: key before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}:{lineno}: expected key=value"
        unit[section].setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{section}.{key}: expected one value, got {values}"
    return values[0]


@pytest.fixture(params=sorted(UNITS))
def unit_name(request) -> str:
    return request.param


def test_only_the_expected_units():
    # the services run as user rosma; the kiosk screen is a user unit of the desktop session
    assert sorted(p.name for p in UNIT_DIR.iterdir()) == sorted([*UNITS, "rosma-kiosk.service"])


def test_sections(unit_name):
    assert set(read_unit(UNIT_DIR / unit_name)) == {"Unit", "Service", "Install"}


def test_notify_watchdog_restart(unit_name):
    unit = read_unit(UNIT_DIR / unit_name)

    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "WatchdogSec") == "30"
    assert one(unit, "Service", "RestartSec") == "3"
    expected_restart = "always" if unit_name == "rosma-edge.service" else "on-failure"
    assert one(unit, "Service", "Restart") == expected_restart
    assert one(unit, "Unit", "StartLimitIntervalSec") == "300"
    assert one(unit, "Unit", "StartLimitBurst") == "10"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_exec_start(unit_name):
    unit = read_unit(UNIT_DIR / unit_name)

    command = one(unit, "Service", "ExecStart")
    assert command == UNITS[unit_name]
    argv = shlex.split(command)
    assert argv[0].startswith("/") and argv[0].endswith("/bin/rosma")
    assert argv[1:3] in (["edge", "run"], ["central", "run"], ["central", "sync"], ["central", "stream"])


def test_identity_and_directories(unit_name):
    unit = read_unit(UNIT_DIR / unit_name)

    assert one(unit, "Service", "User") == "rosma"
    assert one(unit, "Service", "Group") == "rosma"
    assert one(unit, "Service", "StateDirectory") == "rosma"
    assert one(unit, "Service", "LogsDirectory") == "rosma"
    assert one(unit, "Service", "WorkingDirectory") == "/var/lib/rosma"
    env = shlex.split(one(unit, "Service", "Environment"))
    assert "ESCPOS_CAPABILITIES_PICKLE_DIR=/var/lib/rosma/escpos" in env
    assert "PYTHONUNBUFFERED=1" in env


CREDENTIALS = {
    "rosma-edge.service": {"mqtt_password"},
    "rosma-central-web.service": {"secret_key", "mqtt_password"},
    "rosma-central-sync.service": {"secret_key", "mqtt_password"},
    "rosma-central-stream.service": {"secret_key", "mqtt_password"},
}


def test_secrets_come_as_systemd_credentials_named_like_the_config_fields(unit_name):
    from central.config import CentralConfig
    from edge.config import EdgeConfig
    from infra.config import fields

    unit = read_unit(UNIT_DIR / unit_name)
    loaded = dict(value.split(":", 1) for value in unit["Service"]["LoadCredential"])
    assert set(loaded) == CREDENTIALS[unit_name]
    assert all(path.startswith("/etc/rosma/credentials/") for path in loaded.values())
    schema = EdgeConfig if unit_name == "rosma-edge.service" else CentralConfig
    secrets = {f.name for f in fields(schema) if f.metadata.get("secret")}
    assert set(loaded) == secrets  # every secret field can come from a credential, and only those


def test_hardening(unit_name):
    unit = read_unit(UNIT_DIR / unit_name)

    for key in HARDENING_YES:
        assert one(unit, "Service", key) == "yes", key
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "SystemCallArchitectures") == "native"
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(one(unit, "Service", "RestrictAddressFamilies").split())


def test_edge_devices():
    unit = read_unit(UNIT_DIR / "rosma-edge.service")

    assert one(unit, "Service", "DevicePolicy") == "closed"
    assert "PrivateDevices" not in unit["Service"]  # it would hide /dev/input and /dev/usb/lp*
    allowed = {value.split()[0] for value in unit["Service"]["DeviceAllow"]}
    wanted = {"char-input", "char-usb_device", "char-usb", "char-lp", "char-alsa", "char-ttyUSB", "char-ttyACM"}
    assert wanted <= allowed
    assert all(value.split()[1] == "rw" for value in unit["Service"]["DeviceAllow"])
    assert set(one(unit, "Service", "SupplementaryGroups").split()) == {"input", "lp", "dialout", "audio"}


@pytest.mark.parametrize("name", ["rosma-central-web.service", "rosma-central-sync.service"])
def test_central_has_no_devices(name):
    unit = read_unit(UNIT_DIR / name)

    assert one(unit, "Service", "PrivateDevices") == "yes"
    assert "DeviceAllow" not in unit["Service"]
    assert "AF_NETLINK" not in one(unit, "Service", "RestrictAddressFamilies")


def _with_stub_exec(unit_name: str, tmp_path: Path) -> Path:
    """Copy a unit with ExecStart pointing at a stub, since /opt/rosma is not installed here."""
    stub = tmp_path / "rosma"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = tmp_path / unit_name
    copy.write_text((UNIT_DIR / unit_name).read_text().replace("/opt/rosma/venv/bin/rosma", str(stub)))
    return copy


def test_systemd_analyze_verify(unit_name, tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", str(_with_stub_exec(unit_name, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_systemd_analyze_security(unit_name, tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(_with_stub_exec(unit_name, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)

    assert match, result.stdout + result.stderr
    assert float(match[1]) < 4.0, match[0]  # 3.2 (central) and 3.4 (edge) with systemd 252


def test_the_kiosk_screen_opens_the_kiosk_on_the_nodes_own_address():
    """The kiosk's credential on the node is its address (kiosk_on_this_device): the unit must open
    the kiosk on 127.0.0.1, in a browser without an address bar or saved passwords."""
    from edge.config import EdgeConfig

    unit = read_unit(UNIT_DIR / "rosma-kiosk.service")
    command = shlex.split(one(unit, "Service", "ExecStart"))
    assert command[0] == "/usr/bin/chromium" and "--kiosk" in command and "--password-store=basic" in command
    assert f"--app=http://127.0.0.1:{EdgeConfig().http_port}/kiosk" in command
    assert one(unit, "Install", "WantedBy") == "graphical-session.target"
    assert EdgeConfig().kiosk_on_this_device is True
