"""scripts/bootstrap.sh, run against stub apt-get, dpkg-query, sudo and python in a scratch repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap.sh"
BASE_PACKAGES = {
    "python3",
    "python3-venv",
    "python3-dev",
    "gcc",
    "mosquitto",
    "mosquitto-clients",
    "espeak-ng",
    "libespeak-ng1",
    "sox",
    "alsa-utils",
    "libusb-1.0-0",
    "fonts-dejavu-core",
}

# Each stub appends "<name> <args>" to $CALLS.
RECORD = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'
STUBS = {
    "apt-get": RECORD,
    "sudo": RECORD + 'exec "$@"\n',
    "id": '#!/bin/sh\necho "$FAKE_UID"\n',
    "mosquitto": "#!/bin/sh\nexit 0\n",
    # Prints "installed" unless the package is listed in $MISSING.
    "dpkg-query": (
        '#!/bin/sh\nfor pkg; do :; done\nfor p in $MISSING; do [ "$p" = "$pkg" ] && exit 1; done\nprintf installed\n'
    ),
    "python3": RECORD
    + 'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; fi\n',
}


@pytest.fixture
def sandbox(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts" / "bootstrap.sh")
    (repo / "setup.cfg").write_text("[metadata]\nname = rosma\n")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    return repo, stubs, calls


def run(sandbox, *args: str, missing: str = "", uid: str = "0") -> list[str]:
    repo, stubs, calls = sandbox
    calls.write_text("")
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "CALLS": str(calls),
        "MISSING": missing,
        "FAKE_UID": uid,
        "HOME": str(repo),
    }
    result = subprocess.run(
        ["bash", str(repo / "scripts" / "bootstrap.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("==> ") for line in result.stdout.splitlines()), result.stdout
    return calls.read_text().splitlines()


def test_fresh_machine_installs_missing_packages_and_venv(sandbox):
    repo, _, _ = sandbox

    calls = run(sandbox, "chromium", missing="sox chromium")

    assert "apt-get update" in calls
    assert "apt-get install -y --no-install-recommends sox chromium" in calls
    assert any(c.startswith("python3 -m venv ") and c.endswith("/.venv") for c in calls)
    assert "python -m pip install --quiet -c constraints.txt -e .[test]" in calls
    assert (repo / ".venv" / ".installed").exists()


def test_second_run_is_a_no_op(sandbox):
    run(sandbox)

    calls = run(sandbox)

    assert not [c for c in calls if c.startswith(("apt-get", "python -m pip", "python3 -m venv"))], calls


def test_reinstalls_when_setup_cfg_changes(sandbox):
    repo, _, _ = sandbox
    run(sandbox)
    stamp = repo / ".venv" / ".installed"
    os.utime(stamp, (1_000_000_000, 1_000_000_000))

    calls = run(sandbox)

    assert "python -m pip install --quiet -c constraints.txt -e .[test]" in calls
    assert stamp.stat().st_mtime > 1_000_000_000


def test_uses_sudo_when_not_root(sandbox):
    calls = run(sandbox, missing="gcc", uid="1000")

    assert "sudo apt-get update" in calls
    assert "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc" in calls


def test_base_package_list_matches_the_brief():
    text = SCRIPT.read_text()
    block = text[text.index("packages=(") : text.index('"$@"')]

    assert set(block.removeprefix("packages=(").split()) == BASE_PACKAGES
