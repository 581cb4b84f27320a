"""The phone's live queue page as the server renders it: a ticket's QR link shows that ticket,
today only; the page asks its phone to open the stream and allows only that origin."""

from __future__ import annotations

import datetime as dt
import json

from central.models import Node, Puskesmas, Visit
from central.services import now_wib


def _ticket(token: str, day: dt.date, label: str = "A007") -> Visit:
    place = Puskesmas.get(Puskesmas.code == "cibinong")
    node = Node.get_or_none(Node.node_id == "pkm-cibinong") or Node.create(
        node_id="pkm-cibinong", puskesmas=place, online=True
    )
    board = {
        "day": now_wib().date().isoformat(),
        "counters": {},
        "queues": {"REG-A": {"name": "Pendaftaran Umum", "waiting": ["A006", label]}},
    }
    Node.update(snapshot=json.dumps({"at": board["day"], "queues": [board]})).where(Node.id == node.id).execute()
    return Visit.create(
        node=node,
        ticket_key=f"k-{token[:8]}",
        puskesmas=place,
        label=label,
        queue="REG-A",
        payer="UMUM",
        day=day,
        issued_at=f"{day.isoformat()}T08:00:00+07:00",
        token=token,
    )


def test_the_tickets_link_shows_that_ticket(client):
    _ticket("Tok3nOfTodayAbCdEf", now_wib().date())
    page = client.get("/antrian/cibinong?tiket=Tok3nOfTodayAbCdEf").text
    assert "Nomor Anda" in page and ">A007<" in page
    assert "Ada <strong>1 orang</strong> sebelum Anda di Pendaftaran Umum" in page
    assert "tidak berlaku" not in page


def test_yesterdays_or_a_made_up_link_shows_no_ticket(client):
    _ticket("Tok3nOfYesterdayXyz", now_wib().date() - dt.timedelta(days=1))
    for token in ("Tok3nOfYesterdayXyz", "x" * 20, "../../etc/passwd", "a" * 300):
        page = client.get("/antrian/cibinong", query_string={"tiket": token})
        assert page.status_code == 200
        assert "Tautan tiket ini tidak berlaku lagi" in page.text and "Nomor Anda" not in page.text


def test_the_page_opens_the_stream_of_its_puskesmas_and_allows_only_that_origin(client):
    page = client.get("/antrian/cibinong", headers={"Host": "antrean.example:8080"})
    assert 'data-stream="http://antrean.example:8082/arus/cibinong"' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' http://antrean.example:8082;" in csp
    assert 'http-equiv="refresh"' not in page.text
