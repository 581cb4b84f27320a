"""QR key rotation from central to the kiosk: a pass signed before a rotation and one signed after
are both checked in; once the old key's passes have expired the edge stops trusting it, even when
it came with the node's config. Private parts stay 0600 files outside the database."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from central import config as central_config
from central import db as central_db
from central import feed, keys, services
from central.models import Change, Node, Patient, Puskesmas, SigningKeyRow
from central.seed import seed
from edge import db as edge_db
from edge.app import mqtt_settings
from edge.bus import Bus
from edge.config import from_dict
from edge.models import QrKey
from edge.services import CheckinRefused, QueueService
from edge.sync import SyncClient
from edge.workers import DeviceStatus
from infra.mqtt.memory import MemoryBroker
from protocol import messages
from protocol.clock import WIB, Clock

ROOT = Path(__file__).resolve().parents[1]
NIK = "3201015708900002"


@pytest.fixture
def central(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'central.db'}")
    keys.bind(tmp_path / "keys")
    seed()
    node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
    patient = Patient.create(
        nik=NIK, name="Ani", birth_date=dt.date(1990, 8, 17), sex="P", address="-", phone="081234567890"
    )
    other = Patient.create(
        nik="3201011203850001", name="Budi", birth_date=dt.date(1985, 3, 12), sex="L", address="-", phone="08129876543"
    )
    patient.other = other
    yield node, patient
    central_db.database.close()


def edge_for(tmp_path, public_keys: dict, day: dt.date):
    cfg = from_dict(
        {
            "node_id": "pkm-cibinong",
            "puskesmas_code": "cibinong",
            "qr_public_keys": public_keys,
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path / "edge"),
        }
    )
    edge_db.connect(cfg.db_path)
    bus = Bus()
    client = SyncClient(cfg, bus, DeviceStatus(bus), MemoryBroker().transport(mqtt_settings(cfg)))
    clock = Clock(dt.datetime.combine(day, dt.time(8, 15), tzinfo=WIB).isoformat())
    return QueueService(cfg, bus, clock), client


def feed_to(client: SyncClient, node: Node) -> None:
    """Deliver central's change feed for the node as the sync would."""
    rows = Change.select().where(Change.node == node).order_by(Change.seq)
    records = tuple(messages.ChangeRecord(c.seq, c.type, json.loads(c.data), c.v) for c in rows)
    client._apply_changes(messages.ChangeBatch(records, head=records[-1].seq if records else 0))


def test_a_pass_from_before_and_one_from_after_a_rotation_both_check_in(tmp_path, central):
    node, patient = central
    day = services.booking_window(7)[1]
    provisioned = keys.public_keys()  # what `rosma provision` wrote into the node's config
    before = services.reserve(patient, "cibinong", "UMUM", day, "08:00-09:00", "UMUM")
    old_kid, new_kid = keys.rotate(booking_days=7)
    after = services.reserve(patient.other, "cibinong", "UMUM", day, "09:00-10:00", "UMUM")
    assert set(provisioned) == {old_kid} and old_kid != new_kid
    assert keys.active_key().kid == new_kid and set(keys.public_keys()) == {old_kid, new_kid}

    svc, client = edge_for(tmp_path, provisioned, day)
    try:
        with pytest.raises(CheckinRefused) as unknown:  # the node has not heard of the new key yet
            svc.check_in(after.qr_text)
        assert unknown.value.code == "unknown-key"
        feed_to(client, node)
        assert {k.kid for k in QrKey.select()} == {old_kid, new_kid}
        assert svc.check_in(before.qr_text).label == "U001"
        assert svc.check_in(after.qr_text).label == "U002"
    finally:
        edge_db.database.close()


def test_a_retired_key_is_dropped_once_its_passes_have_expired_even_from_the_config(tmp_path, central):
    node, patient = central
    day = services.booking_window(7)[1]
    provisioned = keys.public_keys()
    before = services.reserve(patient, "cibinong", "UMUM", day, "08:00-09:00", "UMUM")
    old_kid, _new = keys.rotate(booking_days=7)
    # time passes: the old key's last pass has expired
    SigningKeyRow.update(trusted_until=dt.datetime(2000, 1, 1)).where(SigningKeyRow.kid == old_kid).execute()
    for place in Puskesmas.select():
        feed.append(place.id, feed.key_change(SigningKeyRow.get(SigningKeyRow.kid == old_kid)))
    assert set(keys.public_keys()) == {_new}

    svc, client = edge_for(tmp_path, provisioned, day)
    try:
        feed_to(client, node)
        assert old_kid not in svc.trusted_keys()
        with pytest.raises(CheckinRefused) as refused:
            svc.check_in(before.qr_text)
        assert refused.value.code == "unknown-key"
    finally:
        edge_db.database.close()


def test_private_keys_are_0600_files_and_never_in_the_database(tmp_path, central):
    keys.active_key()
    keys.rotate(booking_days=7)
    files = sorted((tmp_path / "keys").glob("qr-*.key"))
    assert len(files) == 2
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert {r.private_b64 for r in SigningKeyRow.select()} == {""}


def test_a_key_kept_in_the_database_by_release_0_1_0_moves_to_its_file(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'central.db'}")
    try:
        old = keys.SigningKey.generate()
        SigningKeyRow.create(
            kid=old.kid, private_b64=base64.b64encode(old.private).decode(), public_b64=old.public_b64(), active=True
        )
        keys.bind(tmp_path / "k")
        assert SigningKeyRow.get(SigningKeyRow.kid == old.kid).private_b64 == ""
        assert keys.active_key().kid == old.kid  # passes it signed still verify
        assert stat.S_IMODE((tmp_path / "k" / f"qr-{old.kid}.key").stat().st_mode) == 0o600
    finally:
        central_db.database.close()


def test_rosma_keys_rotate_and_list(tmp_path):
    cfg = central_config.from_dict(
        {
            "database_url": f"sqlite:///{tmp_path / 'c.db'}",
            "secret_key": "s" * 40,
            "seed": True,
            "keys_dir": str(tmp_path / "keys"),
        }
    )
    central_config.write(tmp_path / "central.toml", cfg)
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")}

    def rosma(*args):
        return subprocess.run(
            [sys.executable, "-m", "rosma.cli", "keys", *args, "--config", str(tmp_path / "central.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )

    rotated = rosma("rotate")
    assert rotated.returncode == 0, rotated.stderr
    listed = rosma("list")
    assert listed.returncode == 0, listed.stderr
    lines = [ln for ln in listed.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2 and sum(" signs " in ln + " " for ln in lines) == 1, listed.stdout
    assert "PRIVATE" not in listed.stdout.upper()


def test_a_node_provisioned_after_a_rotation_learns_when_the_old_key_retires(tmp_path, central):
    _node, _patient = central
    old_kid, new_kid = keys.rotate(booking_days=7)
    late = Node.create(node_id="pkm-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    feed.backfill_node(late)
    sent = [json.loads(c.data) for c in Change.select().where((Change.node == late) & (Change.type == "qr_key.upsert"))]
    assert [(d["kid"], bool(d["trusted_until"])) for d in sent] == [(old_kid, True)]
    assert set(keys.public_keys()) == {old_kid, new_kid}  # what its config gets
