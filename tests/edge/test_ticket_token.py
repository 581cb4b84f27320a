"""Every ticket's live-page token: random, stored, sent to central, kept by the poli ticket a loket
ticket is sent on with, and printed as the QR of ``<central_public_url>/t/<token>``."""

from __future__ import annotations

import json
import re
import threading

import pytest

from devices.printer import FakePrinter, decode_escpos, ticket_png
from devices.scanner.image import read_qr_codes
from edge import db as edge_db
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Outbox, PrintJob, Ticket
from edge.services import QueueService
from edge.workers import DeviceStatus, PrinterWorker, live_url
from protocol.clock import Clock
from protocol.events import TicketIssued
from tests.edge.test_services import DAY, KEY, qr

PUBLIC = "https://antrean.bogorkab.go.id"


def make_service(tmp_path, **settings) -> QueueService:
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {KEY.kid: KEY.public_b64()},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path),
            **settings,
        }
    )
    edge_db.connect(cfg.db_path)
    return QueueService(cfg, Bus(), Clock(f"{DAY}T08:30:00+07:00"))


@pytest.fixture
def svc(tmp_path):
    s = make_service(tmp_path)
    yield s
    edge_db.database.close()


def issued_events() -> list[dict]:
    return [json.loads(o.data) for o in Outbox.select().where(Outbox.type == TicketIssued.NAME).order_by(Outbox.seq)]


def test_every_ticket_gets_its_own_unguessable_token_stored_and_sent_to_central(svc):
    tickets = [svc.issue_walkin(p) for p in ("UMUM", "BPJS", "UMUM")] + [svc.check_in(qr())]
    tokens = [Ticket.get(Ticket.key == t.key).token for t in tickets]

    assert len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16,24}", token) for token in tokens)
    assert [e["token"] for e in issued_events()] == tokens
    assert all(token not in (t.key, t.label) for token, t in zip(tokens, tickets, strict=True))


def test_a_poli_ticket_sent_on_from_the_loket_keeps_the_patients_token_and_priority(svc):
    a = svc.issue_walkin("BPJS")
    Ticket.update(priority_class="lansia").where(Ticket.key == a.key).execute()
    other = svc.issue_walkin("UMUM")
    svc.call_next("loket-1")
    svc.act(a.key, "transfer", to_poli="GIGI")
    poli = Ticket.get((Ticket.parent == a.key) & (Ticket.kind == "transfer"))
    loket = Ticket.get(Ticket.key == a.key)

    assert poli.token == loket.token and poli.token != Ticket.get(Ticket.key == other.key).token
    assert poli.priority_class == "lansia"
    sent = issued_events()[-1]
    assert (sent["kind"], sent["parent"], sent["token"], sent["priority_class"]) == (
        "transfer",
        a.key,
        loket.token,
        "lansia",
    )


def test_a_walk_in_has_no_priority_class_unless_one_is_set(svc):
    svc.issue_walkin("UMUM")

    assert issued_events()[-1]["priority_class"] == ""


@pytest.mark.parametrize(
    ("public", "token", "expected"),
    [
        pytest.param(PUBLIC, "Xq3_b-9KzT0aLmN4", f"{PUBLIC}/t/Xq3_b-9KzT0aLmN4", id="set"),
        pytest.param(PUBLIC + "/", "Xq3_b-9KzT0aLmN4", f"{PUBLIC}/t/Xq3_b-9KzT0aLmN4", id="trailing-slash"),
        pytest.param("", "Xq3_b-9KzT0aLmN4", "", id="no-public-url"),
        pytest.param(PUBLIC, "", "", id="ticket-without-token"),
    ],
)
def test_live_url(public, token, expected):
    assert live_url(public, token) == expected


def _print_one(svc, profile="TM-T20II") -> tuple[Ticket, bytes]:
    t = svc.issue_walkin("UMUM")
    stop = threading.Event()
    worker = PrinterWorker(stop, svc, DeviceStatus(svc.bus), "none", profile)
    worker.printer = fake = FakePrinter(profile)
    worker._print(PrintJob.get(PrintJob.ticket_key == t.key))
    return Ticket.get(Ticket.key == t.key), fake.output[0]


def test_the_printed_ticket_carries_the_qr_of_its_live_page(tmp_path):
    svc = make_service(tmp_path, central_public_url=PUBLIC)
    try:
        t, data = _print_one(svc)
        decoded = decode_escpos(data)
        assert read_qr_codes(ticket_png(decoded)) == [f"{PUBLIC}/t/{t.token}"]
        assert "Pantau antrean dari HP: pindai QR ini" in decoded.lines
        assert f"antrean.bogorkab.go.id/t/{t.token}" in decoded.lines
    finally:
        edge_db.database.close()


def test_without_centrals_public_url_the_ticket_prints_without_the_link(svc):
    _t, data = _print_one(svc)
    decoded = decode_escpos(data)

    assert decoded.images == [] and not any("/t/" in line for line in decoded.lines)
