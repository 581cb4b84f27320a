#!/usr/bin/env bash
# Prepare a Debian 12 / Raspberry Pi OS machine for Rosma: system packages, then the
# virtualenv .venv in the repository root with Rosma and its test extras installed.
#
#   scripts/bootstrap.sh [extra Debian packages...]    e.g. scripts/bootstrap.sh chromium postgresql
#
# Idempotent: a second run installs nothing and takes a second or two. Runs apt-get as root,
# or through sudo otherwise. Starts no service. Rosma's development and test brokers are
# private mosquitto processes on free ports, so the system mosquitto.service that Debian's
# package enables is not needed (it is left as it is).
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo_root/.venv"
stamp="$venv/.installed"

packages=(
  python3 python3-venv python3-dev gcc
  mosquitto mosquitto-clients
  espeak-ng libespeak-ng1 sox alsa-utils
  libusb-1.0-0 fonts-dejavu-core
  "$@"
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

# --- system packages --------------------------------------------------------------------
command -v dpkg-query >/dev/null 2>&1 || die "this script expects Debian or Raspberry Pi OS (dpkg)"
missing=()
for pkg in "${packages[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  say "Debian packages already installed (${#packages[@]})"
fi

# rabbitmq-server (make test: tests/e2e/test_rabbitmq.py) is needed only for its programs; the
# tests start private nodes on free ports. Debian's package starts the system node when it is
# installed: one this run installed is stopped and disabled again. One already there is left as it is.
for pkg in "${missing[@]}"; do
  if [ "$pkg" = rabbitmq-server ]; then
    say "rabbitmq-server: stopping and disabling the system node the package started"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      as_root systemctl disable --now rabbitmq-server.service || true
    else
      as_root service rabbitmq-server stop || true
      as_root update-rc.d rabbitmq-server disable || true
    fi
  fi
done

# mosquitto lives in /usr/sbin, which is not on a normal user's PATH on Debian.
if ! PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v mosquitto >/dev/null 2>&1; then
  die "mosquitto is not installed"
fi
say "mosquitto: tests and demos start their own broker; the system service is not required"

# --- virtualenv ---------------------------------------------------------------------------
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "python3 >= 3.11 is required, found $(python3 --version 2>&1)"
if [ ! -x "$venv/bin/python" ]; then
  say "creating virtualenv $venv"
  python3 -m venv "$venv"
fi

needs_install=0
if [ ! -e "$stamp" ]; then
  needs_install=1
else
  for f in "$repo_root/setup.cfg" "$repo_root/pyproject.toml" "$repo_root/constraints.txt"; do
    if [ -e "$f" ] && [ "$f" -nt "$stamp" ]; then needs_install=1; fi
  done
fi
if [ "$needs_install" -eq 1 ]; then
  say "installing Rosma and its test extras into .venv"
  (cd "$repo_root" && "$venv/bin/python" -m pip install --quiet -c constraints.txt -e '.[test]')
  touch "$stamp"
else
  say ".venv is up to date (setup.cfg not newer than .venv/.installed)"
fi

say "done"
