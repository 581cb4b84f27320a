"""The TV's running text, end to end: the admin types it in the back office's puskesmas form,
central's change feed carries it in SiteChanged, the edge keeps it in its Site row, and the
waiting-room TV shows it (and nothing once it is emptied). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest

from central import staff
from central.models import Change, Node, Puskesmas
from edge import state
from edge.app import Runtime, create_app, mqtt_settings
from edge.config import from_dict
from edge.models import Site
from edge.sync import SyncClient
from infra.mqtt.memory import MemoryBroker
from protocol import messages

PASSWORD = "kata-sandi-rahasia"
TEXT = "Pendaftaran ditutup pukul 11.00 WIB. Bawa kartu BPJS & KTP <asli>."


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def post(client, path: str, data: dict):
    page = client.get(path)
    return client.post(path, data={"csrf_token": token(page), **data})


@pytest.fixture
def edge_node(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-cibinong",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path / "edge"),
        }
    )
    rt = Runtime(cfg)
    rt.sync = SyncClient(cfg, rt.bus, rt.status, MemoryBroker().transport(mqtt_settings(cfg)), board=rt.service.board)
    app = create_app(cfg, rt)
    app.rt = rt
    yield app
    rt.stop.set()
    rt.db.close()


def deliver(edge_app) -> None:
    """Central's change rows for the node the edge has not applied yet, as one batch."""
    last = state.change_seq()
    node = Node.get(Node.node_id == "pkm-cibinong")
    rows = list(Change.select().where((Change.node == node) & (Change.seq > last)).order_by(Change.seq))
    records = tuple(messages.ChangeRecord(c.seq, c.type, json.loads(c.data)) for c in rows)
    edge_app.rt.sync._apply_changes(messages.ChangeBatch(records, rows[-1].seq if rows else last))


def form(p: Puskesmas, running_text: str) -> dict:
    values = {
        "name": p.name,
        "address": p.address or "Jl. Mayor Oking No. 1",
        "kecamatan": p.kecamatan or "Cibinong",
        "phone": "",
        "map_url": "",
        "lokets": str(p.lokets),
        "info": "",
        "running_text": running_text,
    }
    for day in range(1, 8):
        opened, closed = ("07:30", "14:00") if day <= 6 else ("", "")
        values.update({f"h{day}_open": opened, f"h{day}_close": closed, f"h{day}_break_start": ""})
        values[f"h{day}_break_end"] = ""
    return values


def test_the_running_text_goes_from_the_admin_form_to_the_tv(client, edge_node):
    p = Puskesmas.get(code="cibinong")
    Node.create(node_id="pkm-cibinong", puskesmas=p)
    staff.add("admin.cibinong", "Dewi Admin", "admin_puskesmas", "cibinong", "", PASSWORD)
    page = client.get("/petugas/masuk")
    client.post("/petugas/masuk", data={"csrf_token": token(page), "username": "admin.cibinong", "password": PASSWORD})
    assert "Teks berjalan di TV" in client.get("/petugas/admin/cibinong").text

    tv = edge_node.test_client()
    before = tv.get("/tv").text
    assert 'id="running-text"' not in before  # nothing set: no running line
    rev = re.search(r'data-site-rev="([^"]*)"', before).group(1)

    # too long, or with a control character: a clear error, nothing saved or sent
    seq = Change.select().count()
    for bad, message in (
        ("x" * 201, "Teks berjalan di TV maksimal 200 karakter."),
        ("Libur\x07", "Teks berjalan di TV mengandung karakter yang tidak diizinkan."),
        ("Baris satu\r\nbaris dua", "Teks berjalan di TV harus satu baris"),
    ):
        r = post(client, "/petugas/admin/cibinong", form(p, bad))
        assert r.status_code == 400 and message in r.text, bad
    assert Change.select().count() == seq and Puskesmas.get_by_id(p.id).running_text == ""

    r = post(client, "/petugas/admin/cibinong", form(p, TEXT))
    assert r.status_code == 302, r.text
    assert Puskesmas.get_by_id(p.id).running_text == TEXT
    site = Change.select().where(Change.type == "site.upsert").order_by(Change.seq.desc())
    sent = json.loads(site.first().data)
    assert sent["running_text"] == TEXT
    assert f'value="{TEXT}"'.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in (
        client.get("/petugas/admin/cibinong").text
    )

    deliver(edge_node)
    assert Site.get_by_id(1).running_text == TEXT
    shown = tv.get("/tv/poli").text
    assert (
        '<span id="running-line">Pendaftaran ditutup pukul 11.00 WIB. Bawa kartu BPJS &amp; KTP &lt;asli&gt;.</span>'
        in (shown)
    )
    # the screens reload on a new site fingerprint: the running text is part of it
    assert re.search(r'data-site-rev="([^"]*)"', shown).group(1) != rev
    assert tv.get("/api/board").json["site"] != rev

    # emptied in the back office: the TV shows no running line again
    assert post(client, "/petugas/admin/cibinong", form(p, "")).status_code == 302
    deliver(edge_node)
    assert Site.get_by_id(1).running_text == ""
    assert 'id="running-text"' not in tv.get("/tv").text
