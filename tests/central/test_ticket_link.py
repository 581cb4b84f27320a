"""A printed ticket's QR, ``/t/<token>``: today's ticket opens its puskesmas' live queue, any
other link says it is no longer valid, and no token ever reveals anything else."""

from __future__ import annotations

import datetime as dt

import pytest

from central import ingest
from central.models import Node, Puskesmas, Visit
from central.ticket_link import EXPIRED, valid_token, visit_for_token
from protocol import events
from protocol.events import TicketIssued
from protocol.messages import EventBatch, EventRecord

TOKEN = "Xq3_b-9KzT0aLmN4"


def issued(seq: int, key: str, day: dt.date, token: str, **kw) -> EventRecord:
    e = TicketIssued(
        ticket=key,
        day=day.isoformat(),
        queue=kw.pop("queue", "REG-A"),
        label=kw.pop("label", "A007"),
        number=kw.pop("number", 7),
        kind=kw.pop("kind", "walkin"),
        payer="UMUM",
        token=token,
        at=f"{day.isoformat()}T{kw.pop('time', '08:00:00')}.000+07:00",
        actor=events.KIOSK,
        **kw,
    )
    return EventRecord(seq, e.NAME, e.at, events.to_data(e), e.VERSION)


@pytest.fixture
def node(app):
    return Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(Puskesmas.code == "cibinong"))


def send(node, *records):
    assert ingest.apply_batch(node, EventBatch(tuple(records), "db-1")) == records[-1].seq


def test_ingest_keeps_the_token_and_priority_class_and_a_transfer_carries_the_same_token(node, clock):
    today = clock.today()
    send(
        node,
        issued(1, "k-loket", today, TOKEN, priority_class="lansia", priority=True),
        issued(2, "k-poli", today, TOKEN, kind="transfer", queue="POLI-UMUM", number=0, parent="k-loket", poli="UMUM"),
    )
    loket = Visit.get(Visit.ticket_key == "k-loket")
    poli = Visit.get(Visit.ticket_key == "k-poli")

    assert (loket.token, loket.priority_class) == (TOKEN, "lansia")
    assert (poli.token, poli.kind, poli.parent) == (TOKEN, "transfer", "k-loket")


def test_an_older_edges_ticket_has_no_token(node, clock):
    send(node, issued(1, "k1", clock.today(), ""))

    assert Visit.get(Visit.ticket_key == "k1").token == ""
    assert visit_for_token("", clock.today()) is None


def test_visit_for_token_is_todays_newest_leg(node, clock):
    today = clock.today()
    send(
        node,
        issued(1, "k-loket", today, TOKEN),
        issued(
            2, "k-poli", today, TOKEN, kind="transfer", queue="POLI-UMUM", number=0, parent="k-loket", time="08:40:00"
        ),
        issued(3, "k-other", today, "Zz9_Zz9_Zz9_Zz9_"),
    )

    found = visit_for_token(TOKEN, today)
    assert found is not None and found.ticket_key == "k-poli" and found.label == "A007"
    assert found.puskesmas.code == "cibinong"
    assert visit_for_token(TOKEN, today + dt.timedelta(days=1)) is None
    assert visit_for_token(TOKEN.lower(), today) is None  # tokens are case-sensitive


def test_todays_ticket_opens_the_puskesmas_live_queue(client, node, clock):
    send(node, issued(1, "k1", clock.today(), TOKEN))

    answer = client.get(f"/t/{TOKEN}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/antrian/cibinong?tiket={TOKEN}"
    assert "no-store" in answer.headers["Cache-Control"]
    assert client.get(answer.headers["Location"]).status_code == 200


def test_no_login_is_needed_and_no_session_is_started(client, node, clock):
    send(node, issued(1, "k1", clock.today(), TOKEN))

    answer = client.get(f"/t/{TOKEN}")
    assert answer.status_code == 303 and "Set-Cookie" not in answer.headers


def test_yesterdays_ticket_is_gone_not_an_error(client, node, clock):
    send(node, issued(1, "k1", clock.today() - dt.timedelta(days=1), TOKEN))

    answer = client.get(f"/t/{TOKEN}")
    assert answer.status_code == 410
    page = answer.get_data(as_text=True)
    assert EXPIRED in page and 'href="/"' in page and "Daftar puskesmas" in page
    assert "A007" not in page and "cibinong" not in page.lower()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"/t/{'A' * 16}", id="never-issued"),
        pytest.param("/t/short", id="too-short"),
        pytest.param(f"/t/{'A' * 25}", id="too-long"),
        pytest.param(f"/t/{'A' * 5000}", id="very-long"),
        pytest.param("/t/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9", id="unicode"),
        pytest.param("/t/..%2F..%2Fpetugas%2Fmasuk", id="encoded-path-trick"),
        pytest.param(f"/t/{TOKEN}/../../petugas", id="dot-segments"),
        pytest.param(f"/t/{TOKEN}%2F..", id="encoded-slash-after-token"),
        pytest.param("/t/' OR '1'='1' --xxxxx", id="sql"),
        pytest.param("/t/%25", id="percent"),
        pytest.param(f"/t/{TOKEN}.json", id="suffix"),
    ],
)
def test_a_bad_link_says_so_and_reveals_nothing(client, node, clock, path):
    send(node, issued(1, "k1", clock.today(), TOKEN))

    answer = client.get(path)
    assert answer.status_code == 404
    page = answer.get_data(as_text=True)
    assert "Location" not in answer.headers
    assert "A007" not in page and "/antrian/" not in page and TOKEN not in page
    assert "Tautan tiket ini tidak berlaku lagi" in page or "Halaman tidak ditemukan" in page


def test_a_control_character_is_refused_before_any_lookup(client, node, clock):
    send(node, issued(1, "k1", clock.today(), TOKEN))

    answer = client.get(f"/t/{TOKEN[:-1]}%00")  # the site's input rule: never a server error
    assert answer.status_code == 400 and "A007" not in answer.get_data(as_text=True)


def test_the_same_page_for_every_token_that_does_not_work_today(client, node, clock):
    send(node, issued(1, "k1", clock.today() - dt.timedelta(days=1), TOKEN))

    gone = client.get(f"/t/{TOKEN}").get_data(as_text=True)
    never = client.get(f"/t/{'B' * 16}").get_data(as_text=True)
    assert gone == never


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        (TOKEN, True),
        ("A" * 24, True),
        ("A" * 15, False),
        ("A" * 25, False),
        ("Xq3_b-9KzT0aLmN\u00e9", False),
        ("Xq3_b-9KzT0aLm/4", False),
        ("Xq3_b-9KzT0aLmN4\n", False),
        ("", False),
    ],
)
def test_token_shape(token, ok):
    assert valid_token(token) is ok
