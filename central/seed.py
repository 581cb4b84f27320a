"""Seed data: puskesmas of Kabupaten Bogor and their poli, for a new installation or a demo.

Addresses are given at kecamatan level; staff can refine them later.
"""

from __future__ import annotations

import logging

from central.models import Poli, Puskesmas, database

log = logging.getLogger(__name__)

POLI = {
    "UMUM": ("Poli Umum", "U"),
    "GIGI": ("Poli Gigi", "G"),
    "KIA": ("Poli KIA", "K"),
    "LANSIA": ("Poli Lansia", "L"),
}

HOURS = "Senin-Kamis 07.30-14.00, Jumat 07.30-11.00, Sabtu 07.30-12.30"

_INFO = (
    "Layanan: {layanan}.\n"
    "Jam buka: Senin-Kamis 07.30-14.00, Jumat 07.30-11.00, Sabtu 07.30-12.30. Minggu dan hari libur tutup.\n"
    "Reservasi daring untuk jam 08.00-12.00 (Jumat sampai 11.00). Datang 15 menit sebelum jam reservasi "
    "dan tunjukkan kode QR ke mesin antrean (APM).\n"
    "Peserta BPJS Kesehatan membawa KTP atau kartu JKN; pasien umum membawa KTP."
)

_LAYANAN = {
    "UMUM": "pemeriksaan umum",
    "GIGI": "kesehatan gigi dan mulut",
    "KIA": "kesehatan ibu dan anak (KIA), imunisasi, KB",
    "LANSIA": "pelayanan lanjut usia",
}

PUSKESMAS = [
    {
        "code": "cibinong",
        "name": "Puskesmas Cibinong",
        "kecamatan": "Cibinong",
        "address": "Kecamatan Cibinong, Kabupaten Bogor, Jawa Barat",
        "poli": ["UMUM", "GIGI", "KIA", "LANSIA"],
    },
    {
        "code": "ciawi",
        "name": "Puskesmas Ciawi",
        "kecamatan": "Ciawi",
        "address": "Kecamatan Ciawi, Kabupaten Bogor, Jawa Barat",
        "poli": ["UMUM", "GIGI", "KIA"],
    },
    {
        "code": "cileungsi",
        "name": "Puskesmas Cileungsi",
        "kecamatan": "Cileungsi",
        "address": "Kecamatan Cileungsi, Kabupaten Bogor, Jawa Barat",
        "poli": ["UMUM", "GIGI", "KIA", "LANSIA"],
    },
    {
        "code": "citeureup",
        "name": "Puskesmas Citeureup",
        "kecamatan": "Citeureup",
        "address": "Kecamatan Citeureup, Kabupaten Bogor, Jawa Barat",
        "poli": ["UMUM", "KIA", "LANSIA"],
    },
    {
        "code": "cisarua",
        "name": "Puskesmas Cisarua",
        "kecamatan": "Cisarua",
        "address": "Kecamatan Cisarua, Kabupaten Bogor, Jawa Barat",
        "poli": ["UMUM", "GIGI", "KIA"],
    },
]


def seed() -> int:
    """Create the seed puskesmas and poli that are missing; returns how many rows were added.

    Idempotent: running it again adds nothing and never changes existing rows.
    """
    added = 0
    with database.atomic():
        for item in PUSKESMAS:
            place = Puskesmas.get_or_none(Puskesmas.code == item["code"])
            if place is None:
                layanan = ", ".join(_LAYANAN[c] for c in item["poli"])
                place = Puskesmas.create(
                    code=item["code"],
                    name=item["name"],
                    address=item["address"],
                    kecamatan=item["kecamatan"],
                    hours=HOURS,
                    info=_INFO.format(layanan=layanan),
                )
                added += 1
            for code in item["poli"]:
                if not Poli.select().where((Poli.puskesmas == place) & (Poli.code == code)).exists():
                    name, prefix = POLI[code]
                    Poli.create(puskesmas=place, code=code, name=name, prefix=prefix, slot_quota=10)
                    added += 1
    log.info("seed added %s rows", added)
    return added
