"""``rosma provision``: a node record, broker credentials, ACL and the edge's config file."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from central import db as central_db
from central import feed, keys
from central.models import Change, EdgeEvent, Node, NodeStream, Patient, Poli, Puskesmas, Reservation
from edge.config import load as load_edge_config
from provisioning import broker
from rosma.provision import provision_node


@pytest.fixture
def central(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'c.db'}")
    keys.bind(tmp_path / "keys")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U")
    yield pkm
    central_db.database.close()


def provision(tmp_path, **kw):
    return provision_node(
        "cibinong", "pkm-cibinong", tmp_path / "broker", tmp_path / "edge.toml", "127.0.0.1", 18830, **kw
    )


def test_provision_writes_a_config_the_edge_accepts(tmp_path, central):
    edge = provision(tmp_path, printer_uri="file:///tmp/t/", clock_start="2026-11-26T07:30:00+07:00")
    cfg = load_edge_config(tmp_path / "edge.toml")
    assert cfg.node_id == "pkm-cibinong" and cfg.mqtt_username == "pkm-cibinong"
    assert cfg.polis == [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}]
    assert cfg.qr_public_keys and cfg.printer_uri == "file:///tmp/t/"
    assert (tmp_path / "edge.toml").stat().st_mode & 0o077 == 0
    hashes = broker.read_password_file(tmp_path / "broker" / broker.PASSWD_NAME)
    assert broker.check_password(edge.mqtt_password, hashes["pkm-cibinong"])
    assert edge.mqtt_password not in (tmp_path / "broker" / broker.PASSWD_NAME).read_text()
    assert cfg == edge  # what provisioning meant is what the edge reads: one schema, one writer
    assert "rosma/v1/node/%u/up/#" in (tmp_path / "broker" / broker.ACL_NAME).read_text()


def test_reprovisioning_starts_a_fresh_record_and_keeps_history(tmp_path, central):
    provision(tmp_path)
    old = Node.get(Node.node_id == "pkm-cibinong")
    NodeStream.create(node=old, incarnation="sd-1", up_seq=3)
    EdgeEvent.create(node=old, incarnation="sd-1", seq=1, type="ticket.issued", at="-", data="{}")
    patient = Patient.create(
        nik="3201011705900001", name="B", birth_date=dt.date(1990, 5, 17), sex="L", address="-", phone="0812"
    )
    r = Reservation.create(
        rid="r1",
        patient=patient,
        puskesmas=central,
        poli=Poli.get(),
        date=dt.date(2026, 11, 26),
        slot="08:00-09:00",
        payer="UMUM",
        qr_text="-",
    )
    feed.publish_reservation(r)
    first_pw = tomllib.loads((tmp_path / "edge.toml").read_text())["mqtt_password"]
    provision(tmp_path)  # new SD card: the node's database starts empty
    new = Node.live().where(Node.node_id == "pkm-cibinong").get()
    assert new.id != old.id and not NodeStream.select().where(NodeStream.node == new).exists()
    assert Node.get_by_id(old.id).retired and Node.get_by_id(old.id).node_id == "pkm-cibinong"
    assert EdgeEvent.select().where(EdgeEvent.node == old.id).count() == 1
    # back-filled: the puskesmas's details and poli as the back office keeps them, then the
    # active reservation
    backfill = [(c.seq, c.type) for c in Change.select().where(Change.node == new).order_by(Change.seq)]
    polis = Poli.select().where(Poli.puskesmas == central).count()
    holidays = sum(1 for _seq, t in backfill if t == "holiday.upsert")
    assert [t for _seq, t in backfill] == [
        "site.upsert",
        *["poli.upsert"] * polis,
        *["holiday.upsert"] * holidays,
        "reservation.upsert",
    ]
    assert [seq for seq, _t in backfill] == list(range(1, len(backfill) + 1))
    assert tomllib.loads((tmp_path / "edge.toml").read_text())["mqtt_password"] != first_pw
    kept = Change.select().where(Change.node == old.id).count()
    feed.publish_reservation(r)  # later changes go to the live record only
    assert Change.select().where(Change.node == old.id).count() == kept
    assert Change.select().where(Change.node == new).count() == len(backfill) + 1


@pytest.mark.parametrize(
    "code, node_id, err",
    [
        pytest.param("bogor-kota", "pkm-x", "unknown puskesmas", id="unknown-puskesmas"),
        pytest.param("cibinong", "central", "central broker user", id="node-named-central"),
    ],
)
def test_provision_refuses(tmp_path, central, code, node_id, err):
    with pytest.raises(ValueError, match=err):
        provision_node(code, node_id, tmp_path / "b", tmp_path / "e.toml", "127.0.0.1", 1883)
    assert not (tmp_path / "e.toml").exists()


def test_a_poli_the_edge_could_not_announce_is_refused_before_anything_is_written(tmp_path, central):
    Poli.create(puskesmas=central, code="KB", name="Poli KB", prefix="K-")
    with pytest.raises(ValueError, match=r"polis\[1\]\.prefix: one or two capital letters"):
        provision(tmp_path)
    assert not (tmp_path / "edge.toml").exists() and not Node.select().exists()


def test_the_broker_password_can_live_in_a_systemd_credential_instead_of_the_config(tmp_path, central, monkeypatch):
    creds = tmp_path / "credentials"
    edge = provision(tmp_path, credentials_dir=creds)
    assert "mqtt_password" not in (tmp_path / "edge.toml").read_text()
    assert (creds / "mqtt_password").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))  # what systemd sets for LoadCredential=
    assert load_edge_config(tmp_path / "edge.toml").mqtt_password == edge.mqtt_password


def test_a_node_that_would_reach_a_remote_broker_in_clear_text_is_refused(tmp_path, central):
    with pytest.raises(ValueError, match="unencrypted: give the broker's CA"):
        provision_node("cibinong", "pkm-cibinong", tmp_path / "b", tmp_path / "e.toml", "central.example", 8883)
    assert not (tmp_path / "e.toml").exists() and Node.select().count() == 0
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = provision_node(
        "cibinong", "pkm-cibinong", tmp_path / "b", tmp_path / "e.toml", "central.example", 8883, mqtt_ca=str(ca)
    )
    assert cfg.mqtt_ca == str(ca) and load_edge_config(tmp_path / "e.toml").mqtt_ca == str(ca)
