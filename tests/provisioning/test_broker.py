"""Rosma's broker identity and ACL against a real Mosquitto process (MQTT v5, QoS 1)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from protocol import topics
from provisioning import broker as mb
from provisioning.bundle import new_password
from provisioning.files import write_private_file
from provisioning.local_broker import LocalBroker, free_port

pytestmark = pytest.mark.e2e

NOT_AUTHORIZED = 135
BAD_USERNAME_OR_PASSWORD = 134
REPO = Path(__file__).resolve().parents[2]


def test_node_publishes_own_up_and_central_receives(broker, connected):
    central = connected("central")
    assert not any(rc.is_failure for rc in central.subscribe(topics.all_up_filter()))
    node = connected("pkm-a")

    rc = node.publish(topics.up("pkm-a", topics.UP_EVENTS), b"ev-1")

    assert not rc.is_failure and rc.value == 0, rc
    assert central.receive_until(b"ev-1") == [(topics.up("pkm-a", topics.UP_EVENTS), b"ev-1")]


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

    rc = node.publish(topics.up("pkm-b", topics.UP_EVENTS), b"forged")
    node.publish(topics.up("pkm-a", topics.UP_EVENTS), b"marker")

    assert rc.value == NOT_AUTHORIZED, rc
    assert [payload for _, payload in central.receive_until(b"marker")] == [b"marker"]


def test_node_cannot_publish_down_or_outside_rosma(connected):
    node = connected("pkm-a")

    assert node.publish(topics.down("pkm-a", topics.DOWN_ACK), b"x").value == NOT_AUTHORIZED
    assert node.publish("rosma/v1/other", b"x").value == NOT_AUTHORIZED


def test_node_reads_only_its_own_down(connected):
    node = connected("pkm-a")
    node.subscribe(topics.node_down_filter("pkm-b"))  # granted by Mosquitto 2.0, filtered on delivery
    node.subscribe(topics.node_down_filter("pkm-a"))
    central = connected("central")

    assert not central.publish(topics.down("pkm-b", topics.DOWN_CHANGES), b"for-b").is_failure
    central.publish(topics.down("pkm-a", topics.DOWN_CHANGES), b"for-a")

    assert node.receive_until(b"for-a") == [(topics.down("pkm-a", topics.DOWN_CHANGES), b"for-a")]


def test_node_cannot_read_other_nodes_up(connected):
    spy = connected("pkm-a")
    spy.subscribe(topics.all_up_filter())
    other = connected("pkm-b")

    other.publish(topics.up("pkm-b", topics.UP_EVENTS), b"b-event")
    spy.publish(topics.up("pkm-a", topics.UP_EVENTS), b"a-marker")
    # pkm-a may not read up/ at all, not even its own; check via central that both went out.
    central = connected("central")
    central.subscribe(topics.node_down_filter("pkm-a"))
    central.publish(topics.down("pkm-a", topics.DOWN_ACK), b"central-marker")
    central.receive_until(b"central-marker")

    assert spy.messages.empty()


def test_client_id_of_another_node_is_ignored(connected):
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    victim = connected("pkm-b")
    spoofer = connected("pkm-a", client_id="pkm-b")

    forged = spoofer.publish(topics.up("pkm-b", topics.UP_EVENTS), b"forged")
    victim_rc = victim.publish(topics.up("pkm-b", topics.UP_EVENTS), b"real")

    assert forged.value == NOT_AUTHORIZED, forged
    assert not victim_rc.is_failure
    assert not victim.disconnected.is_set(), "the spoofer took over pkm-b's session"
    assert [payload for _, payload in central.receive_until(b"real")] == [b"real"]


def test_same_username_takes_over_the_session(connected):
    """Why each central sync worker needs its own username (use_username_as_clientid)."""
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
    node = connected("pkm-a")

    for i in range(6):
        assert not node.publish(topics.up("pkm-a", topics.UP_EVENTS), b"m%d" % i).is_failure
    node.publish(topics.up("pkm-a", topics.UP_PULL), b"end")  # round robin: reaches one worker
    got = []
    for worker in workers:
        while not worker.messages.empty():
            got.append(worker.messages.get_nowait()[1])
    pending = [w for w in workers if b"end" not in got]
    if pending:  # "end" not yet seen: wait for whichever worker holds it
        got += [p for w in workers for _, p in _drain_until(w, b"end")]

    assert sorted(p for p in got if p != b"end") == [b"m%d" % i for i in range(6)]


def _drain_until(worker, marker):  # noqa: ANN001, ANN202
    try:
        return worker.receive_until(marker)
    except AssertionError:
        return []


def test_new_node_connects_after_reload_without_restart(broker, probe, connected, passwords):
    pid = broker.pid
    new_pw = new_password()
    assert probe("pkm-c", new_pw).connect().is_failure

    mb.write_password_file(broker.directory / mb.PASSWD_NAME, {**passwords, "pkm-c": new_pw})
    mb.write_acl_file(broker.directory / mb.ACL_NAME)
    broker.reload()  # reload_broker(pid) + wait for "Reloading config." in the log
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    node = connected("pkm-c", new_pw)

    assert not node.publish(topics.up("pkm-c", topics.UP_EVENTS), b"hello").is_failure
    assert central.receive_until(b"hello")[-1][0] == topics.up("pkm-c", topics.UP_EVENTS)
    assert node.publish(topics.up("pkm-a", topics.UP_EVENTS), b"x").value == NOT_AUTHORIZED
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


def test_broker_accepts_hash_with_other_salt_and_iterations(broker, connected):
    password = "kata sandi ñ ü 🙂"
    entries = mb.read_password_file(broker.directory / mb.PASSWD_NAME)
    entries["pkm-d"] = mb.hash_password(password, salt=b"0123456789abcdef", iterations=2000)
    write_private_file(broker.directory / mb.PASSWD_NAME, "".join(f"{u}:{h}\n" for u, h in entries.items()))
    broker.reload()

    connected("pkm-d", password)


def test_broker_log_records_connections(broker, connected):
    connected("pkm-a")

    assert re.search(r"New client connected from 127\.0\.0\.1:\d+ as pkm-a ", broker.log_path.read_text())


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")
def test_production_template_is_a_valid_config(tmp_path):
    """The checked-in template runs once its absolute paths point into a scratch dir."""
    users = {"central": new_password()}
    mb.write_password_file(tmp_path / "passwd", users)
    mb.write_acl_file(tmp_path / "acl")
    (tmp_path / "data").mkdir()
    port = free_port()
    text = (REPO / "provisioning" / "mosquitto.conf.example").read_text()
    for prefix in ("/etc/mosquitto/", "/var/lib/mosquitto/", "/var/log/mosquitto/", "/run/mosquitto/"):
        text = text.replace(prefix, f"{tmp_path}/" if prefix != "/var/lib/mosquitto/" else f"{tmp_path}/data/")
    text = text.replace("user mosquitto", f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    text = text.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    (tmp_path / "mosquitto.conf").write_text(text)
    # Reuse LocalBroker's process handling, but with the template instead of a generated config.
    local = LocalBroker(tmp_path, users, port=port)
    local.start = _start_with_existing_config(local)  # type: ignore[method-assign]
    with local:
        assert (tmp_path / "mosquitto.pid").read_text().strip() == str(local.pid)


def _start_with_existing_config(local: LocalBroker):  # noqa: ANN202
    import subprocess

    def start(timeout: float = 10.0) -> LocalBroker:
        with open(local.directory / "mosquitto.out", "wb") as out:
            local.process = subprocess.Popen(
                [shutil.which("mosquitto") or "mosquitto", "-c", str(local.directory / "mosquitto.conf")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        local._wait_listening(timeout)
        return local

    return start


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to see mosquitto drop privileges")
def test_root_broker_dropping_to_mosquitto_reads_files_owned_by_it(probe):
    """Debian's setup: root drops to 'mosquitto' before reading passwd/acl, also on reload."""
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user")
    # pytest's tmp_path lives under a 0700 directory that 'mosquitto' cannot enter.
    with tempfile.TemporaryDirectory(prefix="rosma-broker-") as scratch:
        base = Path(scratch)
        base.chmod(0o755)
        users = {"central": new_password(), "pkm-a": new_password()}
        mb.write_password_file(base / mb.PASSWD_NAME, users, owner="mosquitto")
        mb.write_acl_file(base / mb.ACL_NAME, owner="mosquitto")
        local = LocalBroker(base, users)
        config = mb.write_broker_config(base, local.port, user="mosquitto")
        assert "user mosquitto\n" in config.read_text()
        local.start = _start_with_existing_config(local)  # type: ignore[method-assign]
        with local:
            owner = pwd.getpwuid((base / mb.PASSWD_NAME).stat().st_uid).pw_name
            assert owner == "mosquitto"
            new_pw = new_password()
            mb.set_passwords(base / mb.PASSWD_NAME, {"pkm-b": new_pw})  # as root: keeps the owner
            local.reload()
            assert pwd.getpwuid((base / mb.PASSWD_NAME).stat().st_uid).pw_name == "mosquitto"
            from conftest import Probe

            node = Probe(local.port, "pkm-b", new_pw, "pkm-b")
            try:
                assert not node.connect().is_failure
            finally:
                node.close()
            assert "Error" not in local.output()
