"""The 2026 national holidays and cuti bersama as closed days of every puskesmas.

Source: SKB Menteri Agama, Menteri Ketenagakerjaan dan Menteri PANRB Nomor 1497 Tahun 2025,
Nomor 2 Tahun 2025, Nomor 5 Tahun 2025 tentang Hari Libur Nasional dan Cuti Bersama Tahun 2026
(the same list as ``central.holidays_data``, copied here so this migration never changes).

A date that already has a holiday for every puskesmas is left as it is. Each live edge node is
told of the days still to come (a ``holiday.upsert`` change, version 1, in its change feed), so a
node provisioned before this upgrade knows them too.
"""

from __future__ import annotations

import datetime as dt
import json

HOLIDAYS = (
    ("2026-01-01", "Tahun Baru 2026 Masehi", "libur"),
    ("2026-01-16", "Isra Mikraj Nabi Muhammad S.A.W.", "libur"),
    ("2026-02-16", "Cuti bersama Tahun Baru Imlek 2577 Kongzili", "cuti"),
    ("2026-02-17", "Tahun Baru Imlek 2577 Kongzili", "libur"),
    ("2026-03-18", "Cuti bersama Hari Suci Nyepi (Tahun Baru Saka 1948)", "cuti"),
    ("2026-03-19", "Hari Suci Nyepi (Tahun Baru Saka 1948)", "libur"),
    ("2026-03-20", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-03-21", "Idulfitri 1447 Hijriah", "libur"),
    ("2026-03-22", "Idulfitri 1447 Hijriah", "libur"),
    ("2026-03-23", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-03-24", "Cuti bersama Idulfitri 1447 Hijriah", "cuti"),
    ("2026-04-03", "Wafat Yesus Kristus", "libur"),
    ("2026-04-05", "Kebangkitan Yesus Kristus (Paskah)", "libur"),
    ("2026-05-01", "Hari Buruh Internasional", "libur"),
    ("2026-05-14", "Kenaikan Yesus Kristus", "libur"),
    ("2026-05-15", "Cuti bersama Kenaikan Yesus Kristus", "cuti"),
    ("2026-05-27", "Iduladha 1447 Hijriah", "libur"),
    ("2026-05-28", "Cuti bersama Iduladha 1447 Hijriah", "cuti"),
    ("2026-05-31", "Hari Raya Waisak 2570 BE", "libur"),
    ("2026-06-01", "Hari Lahir Pancasila", "libur"),
    ("2026-06-16", "1 Muharam Tahun Baru Islam 1448 Hijriah", "libur"),
    ("2026-08-17", "Proklamasi Kemerdekaan Republik Indonesia", "libur"),
    ("2026-08-25", "Maulid Nabi Muhammad S.A.W.", "libur"),
    ("2026-12-24", "Cuti bersama Kelahiran Yesus Kristus", "cuti"),
    ("2026-12-25", "Kelahiran Yesus Kristus", "libur"),
)


def up(db) -> None:
    p = db.param
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=7)).date()  # Asia/Jakarta
    nodes = [row[0] for row in db.execute_sql('SELECT id FROM "node" WHERE NOT retired').fetchall()]
    for date, name, kind in HOLIDAYS:
        day = dt.date.fromisoformat(date)
        there = db.execute_sql(f'SELECT 1 FROM "holiday" WHERE "date" = {p} AND puskesmas_id IS NULL', (date,))
        there = there.fetchone()
        if there:
            continue
        db.execute_sql(
            f'INSERT INTO "holiday" ("date", name, kind, puskesmas_id, created_at) VALUES ({p}, {p}, {p}, NULL, {p})',
            (date, name, kind, now),
        )
        if day < today:
            continue
        data = json.dumps({"date": date, "name": name, "closed": True})
        for node in nodes:
            last = db.execute_sql(f'SELECT MAX(seq) FROM "change" WHERE node_id = {p}', (node,)).fetchone()[0] or 0
            db.execute_sql(
                f'INSERT INTO "change" (node_id, seq, type, v, data, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p})',
                (node, last + 1, "holiday.upsert", 1, data, now),
            )
