"""Password hashes, password file, ACL and config written by provisioning.broker."""

from __future__ import annotations

import base64
import logging
import os
import pwd
import re
import subprocess
import sys

import pytest

from protocol import topics
from provisioning import broker as mb
from provisioning.local_broker import find_executable

# Generated once with: mosquitto_passwd -c -b passwd pkm-a 'Sandi "rahasia" \ ñ 🙂'
KNOWN_PASSWORD = 'Sandi "rahasia" \\ ñ 🙂'
KNOWN_DIGEST = "PvujCEOuNd/fsOttfQf6/wO4cGux0MQ4o8kPseRchEK3hFWJHCrO+wWBbbbbBvNRf7yzEGp8CBU4ifSDGU4MPQ=="
KNOWN_HASH = f"$7$101$29vZX7r6b/+Uu2Oj${KNOWN_DIGEST}"
HASH_RE = re.compile(r"^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")


def _salt_and_iterations(encoded: str) -> tuple[bytes, int]:
    _, _, iterations, salt, _ = encoded.split("$")
    return base64.b64decode(salt), int(iterations)


def test_hash_matches_recorded_mosquitto_passwd_output():
    salt, iterations = _salt_and_iterations(KNOWN_HASH)

    assert mb.hash_password(KNOWN_PASSWORD, salt, iterations) == KNOWN_HASH


@pytest.mark.parametrize("password", ["secret pass", KNOWN_PASSWORD, "x", "a:b$c"])
def test_hash_matches_live_mosquitto_passwd(tmp_path, password):
    passwd = tmp_path / "passwd"
    subprocess.run(
        [find_executable("mosquitto_passwd") or "mosquitto_passwd", "-c", "-b", str(passwd), "pkm-a", password],
        check=True,
        capture_output=True,
    )
    name, encoded = passwd.read_text().strip().split(":", 1)
    salt, iterations = _salt_and_iterations(encoded)

    assert name == "pkm-a"
    assert mb.hash_password(password, salt, iterations) == encoded


def test_hash_defaults():
    first, second = mb.hash_password("pw"), mb.hash_password("pw")

    assert HASH_RE.match(first), first
    assert first != second  # a fresh salt each time
    assert mb.check_password("pw", first) and mb.check_password("pw", second)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param(KNOWN_PASSWORD, True, id="right"),
        pytest.param(KNOWN_PASSWORD + " ", False, id="trailing-space"),
        pytest.param("", False, id="empty"),
    ],
)
def test_check_password(password, expected):
    assert mb.check_password(password, KNOWN_HASH) is expected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"password": ""}, id="empty-password"),
        pytest.param({"password": "pw", "salt": b"x" * 16}, id="salt-not-12-bytes"),
        pytest.param({"password": "pw", "iterations": 0}, id="zero-iterations"),
    ],
)
def test_hash_rejects(kwargs):
    with pytest.raises(ValueError):
        mb.hash_password(**kwargs)


def test_check_password_rejects_other_formats():
    with pytest.raises(ValueError):
        mb.check_password("pw", "$6$abc$def")


def test_password_file(tmp_path):
    path = tmp_path / "passwd"

    mb.write_password_file(path, {"pkm-b": "b-pw", "central": "c-pw", "pkm-a": "a-pw"})

    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["central", "pkm-a", "pkm-b"]
    entries = mb.read_password_file(path)
    assert all(mb.check_password(pw, entries[u]) for u, pw in [("central", "c-pw"), ("pkm-a", "a-pw")])


def test_set_passwords_keeps_other_hashes_and_remove_users(tmp_path):
    path = tmp_path / "passwd"
    mb.write_password_file(path, {"central": "c-pw", "pkm-a": "a-pw"})
    before = mb.read_password_file(path)

    mb.set_passwords(path, {"pkm-a": "new-pw", "pkm-c": "c2-pw"})
    after = mb.read_password_file(path)
    mb.remove_users(path, ["pkm-a", "no-such-user"])

    assert after["central"] == before["central"]
    assert mb.check_password("new-pw", after["pkm-a"]) and mb.check_password("c2-pw", after["pkm-c"])
    assert set(mb.read_password_file(path)) == {"central", "pkm-c"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_set_passwords_creates_missing_file(tmp_path):
    mb.set_passwords(tmp_path / "passwd", {"pkm-a": "pw"})

    assert set(mb.read_password_file(tmp_path / "passwd")) == {"pkm-a"}


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("", id="empty"),
        pytest.param("pkm:a", id="colon"),
        pytest.param("pkm a", id="space"),
        pytest.param("pkm-a\npkm-b", id="newline"),
        pytest.param("pkm-a\n", id="trailing-newline"),
        pytest.param("pkm/a", id="topic-separator"),
        pytest.param("pkm+", id="wildcard-plus"),
        pytest.param("pkm#", id="wildcard-hash"),
        pytest.param("-pkm", id="leading-dash"),
    ],
)
def test_password_file_rejects_bad_username(tmp_path, username):
    with pytest.raises(ValueError, match="username"):
        mb.write_password_file(tmp_path / "passwd", {username: "pw"})
    assert not (tmp_path / "passwd").exists()


def test_password_file_rejects_empty_password(tmp_path):
    with pytest.raises(ValueError, match="pkm-a"):
        mb.write_password_file(tmp_path / "passwd", {"pkm-a": ""})


def test_read_password_file_rejects_malformed(tmp_path):
    (tmp_path / "passwd").write_text("pkm-a\n")

    with pytest.raises(ValueError, match=":1:"):
        mb.read_password_file(tmp_path / "passwd")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_rewrite_keeps_owner_or_sets_given_owner(tmp_path):
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "passwd"
    mb.write_password_file(path, {"pkm-a": "pw"}, owner="nobody")
    assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)

    mb.set_passwords(path, {"pkm-b": "pw"})  # no owner given: keep the existing one
    assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    mb.write_acl_file(tmp_path / "acl", owner="nobody")
    assert (tmp_path / "acl").stat().st_uid == nobody.pw_uid


def test_acl_file(tmp_path):
    path = mb.write_acl_file(tmp_path / "acl")

    rules = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert rules == [
        "pattern write rosma/v1/node/%u/up/#",
        "pattern read rosma/v1/node/%u/down/#",
        "user central",
        "topic readwrite rosma/v1/#",
    ]
    assert path.stat().st_mode & 0o777 == 0o600


def test_acl_patterns_follow_protocol_topics():
    text = mb.acl_text()

    assert topics.up("pkm-a", topics.UP_EVENTS).replace("pkm-a", "%u").rsplit("/", 1)[0] + "/#" in text
    assert topics.node_down_filter("pkm-a").replace("pkm-a", "%u") in text
    assert topics.PREFIX.startswith(mb.CENTRAL_TOPIC_FILTER.removesuffix("#"))


def test_acl_several_central_users():
    rules = mb.acl_text(["central", "central-2"]).splitlines()

    assert rules.count("topic readwrite rosma/v1/#") == 2
    assert "user central" in rules and "user central-2" in rules


@pytest.mark.parametrize("central", ["", "cen tral", "central\ntopic readwrite #", []])
def test_acl_rejects_bad_central_user(central):
    with pytest.raises(ValueError):
        mb.acl_text(central)


def _listener_part(lines: list[str], port: int = 18999) -> list[str]:
    """The listener's lines: from its "listener" line to the end (per_listener_settings)."""
    return lines[next(i for i, line in enumerate(lines) if line.startswith(f"listener {port} ")) :]


def test_broker_config(tmp_path):
    path = mb.write_broker_config(tmp_path / "b", 18999, tls=mb.TlsListener("s.crt", "s.key", "ca.crt"))

    base = (tmp_path / "b").resolve()
    assert path == base / "mosquitto.conf"
    lines = path.read_text().splitlines()
    for expected in [
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        "per_listener_settings true",
        "persistence true",
        f"persistence_location {base}/data",
        f"log_dest file {base}/mosquitto.log",
        "connection_messages true",
        "max_queued_messages 1000",
        "listener 18999 127.0.0.1",
        "allow_anonymous false",
        f"password_file {base}/passwd",
        f"acl_file {base}/acl",
        "use_username_as_clientid true",
    ]:
        assert expected in lines, expected
    listener = lines.index("listener 18999 127.0.0.1")
    assert lines.index("allow_anonymous false") > listener  # per-listener settings follow it
    assert (base / "data").is_dir()


def test_broker_config_tls_with_passwords(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative TLS paths are written absolute
    tls = mb.TlsListener(certfile="tls/server.crt", keyfile="tls/server.key", cafile="tls/ca.crt")

    lines = mb.write_broker_config(tmp_path, 18999, tls=tls).read_text().splitlines()

    base = tmp_path.resolve()
    assert _listener_part(lines) == [
        "listener 18999 127.0.0.1",
        f"certfile {base}/tls/server.crt",
        f"keyfile {base}/tls/server.key",
        f"cafile {base}/tls/ca.crt",
        "tls_version tlsv1.2",
        "require_certificate false",
        "allow_anonymous false",
        f"password_file {base}/passwd",
        f"acl_file {base}/acl",
        "use_username_as_clientid true",
    ]
    assert not any("PLAINTEXT" in line for line in lines)


def test_broker_config_tls_with_client_certificates(tmp_path):
    tls = mb.TlsListener(
        tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt", require_certificate=True
    )

    lines = mb.write_broker_config(tmp_path, 18999, bind="0.0.0.0", tls=tls).read_text().splitlines()

    base = tmp_path.resolve()
    assert _listener_part(lines) == [
        "listener 18999 0.0.0.0",
        f"certfile {base}/server.crt",
        f"keyfile {base}/server.key",
        f"cafile {base}/ca.crt",
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"acl_file {base}/acl",
        "use_username_as_clientid true",
    ]
    assert not any(line.startswith("password_file") for line in lines), "not used with use_identity_as_username"
    assert any("password file is not used" in line for line in lines if line.startswith("#"))


def test_broker_config_tls_options(tmp_path):
    tls = mb.TlsListener(
        tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "ca.crt", True, tmp_path / "crl.pem", "tlsv1.3"
    )
    public = mb.TlsListener(tmp_path / "fullchain.pem", tmp_path / "privkey.pem")  # public CA, passwords

    tls_lines = mb.write_broker_config(tmp_path, 18999, tls=tls).read_text().splitlines()
    public_lines = mb.write_broker_config(tmp_path, 18999, tls=public).read_text().splitlines()

    assert f"crlfile {tmp_path.resolve()}/crl.pem" in tls_lines and "tls_version tlsv1.3" in tls_lines
    assert not any(line.startswith(("cafile", "crlfile")) for line in public_lines)
    assert "require_certificate false" in public_lines


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"require_certificate": True}, id="client-certificates-without-cafile"),
        pytest.param({"cafile": "ca.crt", "crlfile": "crl.pem"}, id="crl-without-client-certificates"),
        pytest.param({"tls_version": "tlsv1.1"}, id="tls-1.1"),
        pytest.param({"tls_version": "TLSv1.2"}, id="version-spelling"),
    ],
)
def test_tls_listener_rejects(kwargs):
    with pytest.raises(ValueError):
        mb.TlsListener("s.crt", "s.key", **kwargs)


def test_broker_config_rejects_a_tls_path_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="mosquitto.conf"):
        mb.write_broker_config(tmp_path, 18999, tls=mb.TlsListener(tmp_path / "a\nb.crt", "s.key"))


def test_tls_is_required_and_plaintext_must_be_asked_for(tmp_path, caplog):
    with pytest.raises(TypeError):
        mb.write_broker_config(tmp_path, 18999)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        mb.write_broker_config(tmp_path, 18999, tls=True)  # type: ignore[arg-type]

    text = mb.write_broker_config(tmp_path, 18999, tls=None).read_text()
    with caplog.at_level(logging.WARNING, logger="provisioning.broker"):
        mb.write_broker_config(tmp_path / "lan", 18999, bind="0.0.0.0", tls=None)

    lines = text.splitlines()
    listener = lines.index("listener 18999 127.0.0.1")
    assert lines[listener - 2].startswith("# !!! PLAINTEXT LISTENER") and "unencrypted" in lines[listener - 1]
    assert not any(line.startswith(("certfile", "keyfile", "cafile", "tls_version")) for line in lines)
    assert f"password_file {tmp_path.resolve()}/passwd" in lines
    assert any("PLAINTEXT listener 0.0.0.0:18999" in r.getMessage() for r in caplog.records)


def test_broker_config_without_persistence(tmp_path):
    text = mb.write_broker_config(tmp_path, 18999, bind="0.0.0.0", persistence=False, tls=None).read_text()

    assert "persistence false" in text and "persistence_location" not in text
    assert "listener 18999 0.0.0.0" in text


@pytest.mark.parametrize(
    ("port", "bind"),
    [
        pytest.param(0, "127.0.0.1", id="port-zero"),
        pytest.param(70000, "127.0.0.1", id="port-too-big"),
        pytest.param(True, "127.0.0.1", id="port-bool"),
        pytest.param(1883, "", id="empty-bind"),
        pytest.param(1883, "127.0.0.1 x", id="bind-with-space"),
    ],
)
def test_broker_config_rejects(tmp_path, port, bind):
    with pytest.raises(ValueError):
        mb.write_broker_config(tmp_path, port, bind=bind, tls=None)


def test_reload_broker_sends_sighup():
    code = "\n".join(
        [
            "import os, signal",
            "signal.signal(signal.SIGHUP, lambda *a: os._exit(7))",
            "print('ready', flush=True)",
            "signal.pause()",
        ]
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        mb.reload_broker(child.pid)
        assert child.wait(timeout=5) == 7
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_reload_broker_unknown_pid():
    with pytest.raises(ProcessLookupError):
        mb.reload_broker(2**22 + 12345)
