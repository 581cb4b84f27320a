"""The Dashboard kunjungan and the quality targets page as each role uses them: who may open what,
the figures of a fixed day (the very ones central.kpi gives the exports and the API), filters, bad
input answered in Bahasa Indonesia without a 500, text escaped; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest

from central import kpi, staff
from central.ingest import apply_batch
from central.models import AuditLog, Node, Poli, Puskesmas
from tests.central.test_kpi import Stream, cibinong_day

PASSWORD = "kata-sandi-rahasia"
DAY = "from=2026-11-26&to=2026-11-26"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str) -> None:
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text


@pytest.fixture
def people(app):
    """One account per role; the fixed day's events at Puskesmas Cibinong's node."""
    with app.app_context():
        staff.add("dinkes", "Dr. Rahma", "admin_kabupaten", None, "", PASSWORD)
        staff.add("admin.cibinong", "Yudi", "admin_puskesmas", "cibinong", "", PASSWORD)
        staff.add("kepala.cibinong", "Dr. Sari", "kepala_puskesmas", "cibinong", "", PASSWORD)
        staff.add("kepala.ciawi", "Dr. Asep", "kepala_puskesmas", "ciawi", "", PASSWORD)
        staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", PASSWORD)
        staff.add("poli.cibinong", "Dewi", "petugas_poli", "cibinong", "UMUM", PASSWORD)
        cib = Puskesmas.get(Puskesmas.code == "cibinong")
        node = Node.create(node_id="pkm-cibinong", puskesmas=cib)
        s = Stream()
        cibinong_day(s)
        apply_batch(node, s.batch())
    return cib


def charts(page) -> dict:
    block = re.search(r'<script type="application/json" id="dash-charts">(.*?)</script>', page.text, re.S)
    return json.loads(html.unescape(block.group(1))) if block else {}


def table_rows(page, key) -> list[list[str]]:
    """The cells of one table as the page shows them."""
    body = re.search(rf'data-table="{key}">.*?<tbody>(.*?)</tbody>', page.text, re.S).group(1)
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_who_may_open_the_dashboard(client, people):
    assert client.get("/petugas/dasbor/").status_code == 302  # signed out: the sign-in
    for user in ("loket.cibinong", "poli.cibinong"):
        sign_in(client, user)
        r = client.get("/petugas/dasbor/")
        assert r.status_code == 403 and "Peran Anda tidak boleh membuka halaman ini." in r.text
        assert client.get("/petugas/dasbor/target").status_code == 403
        assert client.get("/petugas/dasbor/langsung.json?puskesmas=cibinong").status_code == 403
        client.post("/petugas/keluar", data={"csrf_token": token(client.get("/petugas/"))})
    sign_in(client, "kepala.cibinong")
    own = client.get("/petugas/dasbor/")
    assert own.status_code == 200 and "Puskesmas Cibinong" in own.text and "Hari ini" in own.text
    assert 'href="/petugas/dasbor/"' in own.text  # in the staff menu
    other = client.get("/petugas/dasbor/?puskesmas=ciawi")
    assert other.status_code == 403 and "puskesmas Anda sendiri" in other.text
    assert client.get("/petugas/dasbor/?puskesmas=semua").status_code == 403
    assert client.get("/petugas/dasbor/langsung.json?puskesmas=ciawi").status_code == 403
    assert client.get("/petugas/dasbor/target?puskesmas=ciawi").status_code == 403
    assert client.get("/petugas/dasbor/?puskesmas=tidak-ada").status_code == 404


def test_the_kabupaten_compares_puskesmas(client, people):
    sign_in(client, "dinkes")
    page = client.get(f"/petugas/dasbor/?{DAY}")
    assert page.status_code == 200 and "Kabupaten Bogor" in page.text and "Perbandingan puskesmas" in page.text
    rows = {r[0]: r for r in table_rows(page, "puskesmas")}
    assert rows["Puskesmas Cibinong"] == [
        "Puskesmas Cibinong",
        "8",
        "37,5",
        "50,0",
        "2,0",
        "9,0",
        "15,0",
        "30,0",
        "25,0",
    ]
    assert rows["Puskesmas Ciawi"][1] == "0" and len(rows) == Puskesmas.select().count()
    assert charts(page)["puskesmas"]["labels"] == sorted(rows)
    one = client.get(f"/petugas/dasbor/?puskesmas=ciawi&{DAY}")
    assert one.status_code == 200 and "Perbandingan puskesmas" not in one.text and "Puskesmas Ciawi" in one.text


def test_the_figures_of_the_day_are_those_of_the_kpis(client, people):
    sign_in(client, "kepala.cibinong")
    page = client.get(f"/petugas/dasbor/?{DAY}")
    assert page.status_code == 200
    report = kpi.report([people.id], dt.date(2026, 11, 26), dt.date(2026, 11, 26))
    assert table_rows(page, "harian") == [["Kam 26 Nov 2026", "8", "3", "5", "4", "4"]]
    assert table_rows(page, "tunggu_poli") == [
        ["Pendaftaran (loket)", "3", "2,0", "9,0", "–", "–", "–"],
        ["Poli Gigi", "2", "20,0", "30,0", "1", "30,0", "30,0"],  # the seed's poli share one order: by code
        ["Poli Umum", "3", "10,0", "15,0", "2", "-10,0", "3,0"],
    ]
    assert table_rows(page, "target")[0][-1] == "Tidak" and table_rows(page, "target")[1][-1] == "Ya"
    drawn = charts(page)
    assert drawn["tunggu_poli"]["datasets"][1]["data"] == [r[3] for r in report.tables["tunggu_poli"].rows]
    assert drawn["cara_bayar"]["labels"] == ["BPJS", "Umum"] and drawn["cara_bayar"]["datasets"][0]["data"] == [4, 4]
    for key in ("harian", "poli", "cara_bayar", "jenis", "tunggu_jam", "layanan_poli", "petugas", "reservasi"):
        assert f'data-table="{key}"' in page.text
    summary = re.findall(r'<span class="dash-tile-value">([^<]*)</span>', page.text)
    assert summary[:5] == ["8", "37,5%", "50,0%", "2,0 menit", "25,0%"]
    # the filters narrow every table
    umum = client.get(f"/petugas/dasbor/?{DAY}&poli=UMUM&payer=BPJS")
    assert umum.status_code == 200 and table_rows(umum, "harian") == [["Kam 26 Nov 2026", "1", "1", "0", "1", "0"]]
    assert 'value="UMUM" selected' in umum.text and 'value="BPJS" selected' in umum.text


def test_bad_input_is_answered_in_indonesian(client, people):
    sign_in(client, "admin.cibinong")
    cases = {
        "from=2026-11-27&to=2026-11-26": "Tanggal akhir tidak boleh sebelum tanggal awal.",
        "from=kemarin&to=2026-11-26": "Tanggal tidak dikenali. Tulis tanggal-bulan-tahun, seperti 26-11-2026.",
        "from=2024-01-01&to=2026-11-26": "Rentang paling panjang 731 hari.",
        f"{DAY}&payer=ASURANSI": "Cara bayar harus BPJS atau Umum.",
        f"{DAY}&poli=%3Cb%3EX": "Poli ini tidak ada di puskesmas yang dipilih.",
        "from=" + "9" * 5000: "Tanggal tidak dikenali.",
    }
    for query, message in cases.items():
        r = client.get(f"/petugas/dasbor/?{query}")
        assert r.status_code == 400, query
        assert message in r.text and "Ada isian yang perlu diperbaiki." in r.text
        assert 'data-table="harian"' not in r.text  # no figures for a period that is not one
    assert "<b>X" not in client.get(f"/petugas/dasbor/?{DAY}&poli=%3Cb%3EX").text


def test_names_are_escaped(client, people):
    Poli.update(name='<img src=x onerror="alert(1)">').where(
        (Poli.puskesmas == people.id) & (Poli.code == "GIGI")
    ).execute()
    sign_in(client, "kepala.cibinong")
    page = client.get(f"/petugas/dasbor/?{DAY}")
    assert page.status_code == 200 and "<img src=x" not in page.text
    assert "&lt;img src=x" in page.text
    assert "\\u003cimg" in page.text  # inside the charts' JSON block, too


def test_today_live_refreshes_from_json(client, people, app):
    sign_in(client, "kepala.cibinong")
    live = client.get("/petugas/dasbor/langsung.json?puskesmas=cibinong")
    assert live.status_code == 200 and set(live.json) == {"now", "day", "queues", "totals"}
    page = client.get("/petugas/dasbor/")
    assert 'data-live-url="/petugas/dasbor/langsung.json?puskesmas=cibinong"' in page.text
    sign_in(client, "dinkes")
    r = client.get("/petugas/dasbor/langsung.json")
    assert r.status_code == 400 and r.json["fields"] == {"puskesmas": "Wajib diisi."}


def test_the_kepala_sets_the_quality_targets(client, people):
    sign_in(client, "kepala.cibinong")
    page = client.get("/petugas/dasbor/target")
    assert page.status_code == 200 and 'value="5"' in page.text
    form = {f"{s}_{k}": str(v[k]) for s, v in kpi.targets(people).items() for k in ("menit", "persen")}
    bad = client.post("/petugas/dasbor/target", data={"csrf_token": token(page), **form, "poli_menit": "999"})
    assert bad.status_code == 400 and "Harus antara 1 dan 240 menit." in bad.text and 'value="999"' in bad.text
    assert AuditLog.select().where(AuditLog.entity == "targets").count() == 0
    no_token = client.post("/petugas/dasbor/target", data={**form, "pendaftaran_menit": "7"})
    assert no_token.status_code in (400, 403)
    good = client.post("/petugas/dasbor/target", data={"csrf_token": token(page), **form, "pendaftaran_menit": "10"})
    assert good.status_code == 302
    after = client.get(good.headers["Location"])
    assert "Target mutu disimpan." in after.text and 'value="10"' in after.text
    log = AuditLog.get(AuditLog.entity == "targets")
    assert log.actor == "kepala.cibinong" and json.loads(log.after)["pendaftaran"]["menit"] == 10
    day = client.get(f"/petugas/dasbor/?{DAY}")
    assert table_rows(day, "target")[0][1] == "Tunggu pendaftaran ≤ 10 menit untuk 90% pasien"
    assert table_rows(day, "target")[0][-1] == "Ya"  # 60, 120 and 540 s are all within 10 minutes
