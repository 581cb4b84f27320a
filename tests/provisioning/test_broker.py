"""Rosma's broker identity and ACL against a real Mosquitto process (MQTT v5, QoS 1).

"Receives nothing" checks publish a marker afterwards on an allowed topic: Mosquitto
delivers to a subscriber in order, so a forbidden message would arrive before the marker.
"""

from __future__ import annotations

import os
import pwd
import re
import tempfile
from pathlib import Path

import pytest

from infra.files import write_private_file
from protocol import topics
from provisioning import broker as mb
from provisioning import tls
from provisioning.local_broker import LocalBroker, find_executable, free_port
from rosma.provision import new_password

pytestmark = pytest.mark.e2e

NOT_AUTHORIZED = 135
BAD_USERNAME_OR_PASSWORD = 134
REPO = Path(__file__).resolve().parents[2]


def _require_mosquitto():
    """make test installs mosquitto; a missing one is a broken setup, not a reason to skip."""
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"


EVENTS_A = topics.up("pkm-a", topics.UP_EVENTS)
EVENTS_B = topics.up("pkm-b", topics.UP_EVENTS)


def payloads(messages: list[tuple[str, bytes]]) -> list[bytes]:
    return [payload for _, payload in messages]


def test_node_publishes_own_up_and_central_receives(connected):
    central = connected("central")
    assert not any(rc.is_failure for rc in central.subscribe(topics.all_up_filter()))
    node = connected("pkm-a")

    rc = node.publish(EVENTS_A, b"ev-1")

    assert rc.value == 0, rc  # Success: central is subscribed
    assert central.receive_until(b"ev-1") == [(EVENTS_A, b"ev-1")]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("pkm-a", "wrong-password", id="wrong-password"),
        pytest.param("pkm-x", "whatever", id="unknown-user"),
        pytest.param(None, None, id="anonymous"),
    ],
)
def test_connection_refused(probe, username, password):
    rc = probe(username, password).connect()

    assert rc.is_failure and rc.value in (NOT_AUTHORIZED, BAD_USERNAME_OR_PASSWORD), rc


def test_node_cannot_publish_to_other_node(connected):
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    node = connected("pkm-a")

    rc = node.publish(EVENTS_B, b"forged")
    node.publish(EVENTS_A, b"marker")

    assert rc.value == NOT_AUTHORIZED, rc
    assert payloads(central.receive_until(b"marker")) == [b"marker"]


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param(topics.down("pkm-a", topics.DOWN_ACK), id="own-down"),
        pytest.param("rosma/v1/other", id="outside-node-tree"),
        pytest.param("elsewhere/x", id="outside-rosma"),
    ],
)
def test_node_cannot_publish_outside_its_up(connected, topic):
    assert connected("pkm-a").publish(topic, b"x").value == NOT_AUTHORIZED


def test_node_reads_only_its_own_down(connected):
    node = connected("pkm-a")
    node.subscribe(topics.node_down_filter("pkm-b"))  # granted by Mosquitto 2.0, filtered on delivery
    node.subscribe(topics.node_down_filter("pkm-a"))
    central = connected("central")

    assert not central.publish(topics.down("pkm-b", topics.DOWN_CHANGES), b"for-b").is_failure
    central.publish(topics.down("pkm-a", topics.DOWN_CHANGES), b"for-a")

    assert node.receive_until(b"for-a") == [(topics.down("pkm-a", topics.DOWN_CHANGES), b"for-a")]


def test_node_cannot_read_up_topics(connected):
    spy = connected("pkm-a")
    spy.subscribe(topics.all_up_filter())
    spy.subscribe(topics.node_down_filter("pkm-a"))
    assert not connected("pkm-b").publish(EVENTS_B, b"b-event").is_failure

    connected("central").publish(topics.down("pkm-a", topics.DOWN_ACK), b"marker")

    assert payloads(spy.receive_until(b"marker")) == [b"marker"]


def test_client_id_of_another_node_gives_no_access(connected):
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    victim = connected("pkm-b")
    spoofer = connected("pkm-a", client_id="pkm-b")

    forged = spoofer.publish(EVENTS_B, b"forged")
    real = victim.publish(EVENTS_B, b"real")

    assert forged.value == NOT_AUTHORIZED, forged
    assert not real.is_failure and not victim.disconnected.is_set(), "spoofer took over pkm-b"
    assert payloads(central.receive_until(b"real")) == [b"real"]


def test_same_username_takes_over_the_session(connected):
    """Why every central sync worker needs its own username."""
    first = connected("central")
    connected("central", client_id="central-2")

    assert first.disconnected.wait(5)


def test_central_workers_share_a_subscription(broker, connected):
    worker_pw = new_password()
    mb.write_acl_file(broker.directory / mb.ACL_NAME, ["central", "central-2"])
    broker.add_users({"central-2": worker_pw})
    workers = [connected("central"), connected("central-2", worker_pw)]
    for worker in workers:
        worker.subscribe(topics.all_up_filter(share_group="sync"))
        worker.subscribe(topics.node_down_filter("pkm-a"))  # for the marker
    node = connected("pkm-a")
    sent = [b"m%d" % i for i in range(6)]

    for payload in sent:
        assert not node.publish(EVENTS_A, payload).is_failure
    workers[0].publish(topics.down("pkm-a", topics.DOWN_ACK), b"marker")
    got = [payloads(worker.receive_until(b"marker"))[:-1] for worker in workers]

    assert sorted(got[0] + got[1]) == sent
    assert got[0] and got[1], got


def test_new_node_connects_after_reload_without_restart(broker, probe, connected, passwords):
    pid = broker.pid
    new_pw = new_password()
    assert probe("pkm-c", new_pw).connect().is_failure

    mb.write_password_file(broker.directory / mb.PASSWD_NAME, {**passwords, "pkm-c": new_pw})
    mb.write_acl_file(broker.directory / mb.ACL_NAME)
    broker.reload()  # reload_broker(pid), then waits for "Reloading config." in the log
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    node = connected("pkm-c", new_pw)

    assert not node.publish(topics.up("pkm-c", topics.UP_EVENTS), b"hello").is_failure
    assert central.receive_until(b"hello") == [(topics.up("pkm-c", topics.UP_EVENTS), b"hello")]
    assert node.publish(EVENTS_A, b"x").value == NOT_AUTHORIZED
    assert broker.pid == pid and broker.process is not None and broker.process.poll() is None


@pytest.mark.parametrize("change", ["removed", "new-password"])
def test_revoked_node_is_disconnected_on_reload(broker, connected, probe, passwords, change):
    node = connected("pkm-a")

    if change == "removed":
        broker.remove_users(["pkm-a"])
    else:
        broker.add_users({"pkm-a": new_password()})

    assert node.disconnected.wait(5)
    assert probe("pkm-a", passwords["pkm-a"]).connect().is_failure


def test_broker_accepts_our_hash_with_other_iterations(broker, connected):
    password = "kata sandi ñ ü 🙂"
    entries = mb.read_password_file(broker.directory / mb.PASSWD_NAME)
    entries["pkm-d"] = mb.hash_password(password, salt=b"0123456789ab", iterations=2000)
    write_private_file(broker.directory / mb.PASSWD_NAME, "".join(f"{u}:{h}\n" for u, h in entries.items()))
    broker.reload()

    connected("pkm-d", password)


def test_broker_logs_connections(broker, connected):
    connected("pkm-a")

    assert re.search(r"New client connected from 127\.0\.0\.1:\d+ as pkm-a ", broker.log_path.read_text())


TEMPLATE = REPO / "provisioning" / "mosquitto.conf.example"


def _template_for(tmp_path: Path, port: int, client_certificates: bool) -> Path:
    """The production template with its paths in ``tmp_path`` and its TLS listener on loopback ``port``."""
    text = TEMPLATE.read_text()
    text = text.replace("/var/lib/mosquitto/", f"{tmp_path}/data/")
    for prefix in ("/etc/mosquitto/", "/var/log/mosquitto/", "/run/mosquitto/"):
        text = text.replace(prefix, f"{tmp_path}/")
    text = text.replace("user mosquitto", f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    assert "\nlistener 8883\n" in text
    text = text.replace("\nlistener 8883\n", f"\nlistener {port} 127.0.0.1\n")
    if client_certificates:  # the switch its comment describes
        assert text.count("require_certificate false\n") == 1
        main, sep, rest = text.partition("# Client certificates instead of passwords")
        main = main.replace("require_certificate false\n", "").replace(f"password_file {tmp_path}/passwd\n", "")
        rest = rest.replace("#require_certificate true", "require_certificate true")
        rest = rest.replace("#use_identity_as_username true", "use_identity_as_username true")
        rest = rest.replace("#crlfile", "crlfile")
        text = main + sep + rest
    config = tmp_path / "mosquitto.conf"
    config.write_text(text)
    return config


def test_production_template_has_only_a_tls_listener():
    lines = TEMPLATE.read_text().splitlines()

    assert [line for line in lines if line.startswith("listener")] == ["listener 8883"]
    listener = lines.index("listener 8883")
    for option in ("certfile", "keyfile", "cafile", "tls_version tlsv1.2", "require_certificate false"):
        assert any(line.startswith(option) for line in lines[listener:]), option
    assert "#listener 1883 127.0.0.1" in lines  # the optional plaintext one is loopback-only and commented out


@pytest.mark.parametrize("client_certificates", [False, True], ids=["passwords", "client-certificates"])
def test_production_template_runs(tmp_path, make_probe, client_certificates):
    """The checked-in template is a valid config once its paths point into a scratch dir (both TLS modes)."""
    _require_mosquitto()
    users = {"central": new_password()}
    mb.write_password_file(tmp_path / "passwd", users)
    mb.write_acl_file(tmp_path / "acl")
    (tmp_path / "data").mkdir()
    ca = tls.make_ca(tmp_path / "ca")  # the CA key stays elsewhere; only ca.crt goes to the broker
    certs = tmp_path / "certs"
    tls.make_server_cert(ca, certs, ["mqtt.rosma.test"])
    tls.write_public_file(certs / "ca.crt", ca.cert.read_bytes())
    tls.make_crl(ca, certs / "crl.pem")
    port = free_port()
    config = _template_for(tmp_path, port, client_certificates)

    local = LocalBroker(tmp_path, users, port=port).run(config)
    try:
        assert (tmp_path / "mosquitto.pid").read_text().strip() == str(local.pid)
        if client_certificates:
            cert, key = tls.make_client_cert(ca, tmp_path / "clients", "central")
            login = make_probe(port, None, None, "central", ca=ca.cert, cert=cert, key=key)
            refused = make_probe(port, "central", users["central"], "central", ca=ca.cert)
        else:
            login = make_probe(port, "central", users["central"], "central", ca=ca.cert)
            refused = make_probe(port, "central", users["central"], "central")  # plaintext
        assert not login.connect().is_failure
        refused.connect_refused()
    finally:
        local.stop()
    assert "Error: " not in local.output()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can start a broker that drops privileges")
def test_root_broker_dropping_to_mosquitto_reads_files_it_owns(make_probe):
    """Debian's setup: root drops to 'mosquitto' before reading passwd/acl and the TLS key, also on reload."""
    _require_mosquitto()
    pwd.getpwnam("mosquitto")  # Debian's mosquitto package creates this user
    # Not tmp_path: pytest's base temp directory is 0700, so 'mosquitto' cannot enter it.
    with tempfile.TemporaryDirectory(prefix="rosma-broker-") as scratch:
        base = Path(scratch)
        base.chmod(0o755)
        users = {"central": new_password(), "pkm-a": new_password()}
        mb.write_password_file(base / mb.PASSWD_NAME, users, owner="mosquitto")
        mb.write_acl_file(base / mb.ACL_NAME, owner="mosquitto")
        ca = tls.make_ca(base / "ca")  # root's; the broker only needs ca.crt
        cert, key = tls.make_server_cert(ca, base / "certs", [], owner="mosquitto")
        local = LocalBroker(base, users)
        listener = mb.TlsListener(cert, key, ca.cert)
        config = mb.write_broker_config(base, local.port, user="mosquitto", tls=listener)
        new_pw = new_password()
        local.run(config)
        try:
            mb.set_passwords(base / mb.PASSWD_NAME, {"pkm-b": new_pw})  # as root; keeps the owner
            local.reload()
            assert not make_probe(local.port, "pkm-b", new_pw, "pkm-b", ca=ca.cert).connect().is_failure
        finally:
            local.stop()
        assert "user mosquitto\n" in config.read_text()
        for name in (mb.PASSWD_NAME, mb.ACL_NAME, mb.LOG_NAME, mb.DATA_DIR_NAME, "certs/server.key"):
            assert pwd.getpwuid((base / name).stat().st_uid).pw_name == "mosquitto", name
        assert pwd.getpwuid(ca.key.stat().st_uid).pw_name == "root"
        assert "Error" not in local.output()
