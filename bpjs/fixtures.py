"""The fake BPJS's made-up consumers, members, poli and doctors (docs/bpjs.md lists them).

Every number here is invented for demos and tests; none is a real card, NIK or provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpjs.config import BpjsConfig


@dataclass(frozen=True)
class FakeConsumer:
    """A puskesmas as BPJS knows it: its credentials and its provider code."""

    cons_id: str
    secret: str = field(repr=False)
    pcare_user_key: str = field(repr=False)
    antrean_user_key: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    ppk_code: str
    ppk_name: str
    app_code: str = "095"

    def config(self, base_url: str, **overrides) -> BpjsConfig:
        """The client settings that reach this consumer on a fake at ``base_url`` (http://host:port)."""
        base = base_url.rstrip("/")
        values = dict(
            cons_id=self.cons_id,
            secret=self.secret,
            pcare_user_key=self.pcare_user_key,
            antrean_user_key=self.antrean_user_key,
            pcare_username=self.username,
            pcare_password=self.password,
            app_code=self.app_code,
            ppk_code=self.ppk_code,
            pcare_url=f"{base}/pcare-rest",
            antrean_url=f"{base}/antreanfktp",
        )
        values.update(overrides)
        return BpjsConfig(**values)


CIBINONG = FakeConsumer(
    cons_id="10001",
    secret="rosma-fake-bpjs-cibinong",
    pcare_user_key="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    antrean_user_key="f9e8d7c6b5a4938271605f4e3d2c1b0a",
    username="pkm.cibinong",
    password="demo-pcare",
    ppk_code="0403P001",
    ppk_name="PUSKESMAS CIBINONG",
)
CIAWI = FakeConsumer(
    cons_id="10002",
    secret="rosma-fake-bpjs-ciawi",
    pcare_user_key="1b2c3d4e5f60718293a4b5c6d7e8f90a",
    antrean_user_key="e8d7c6b5a4938271605f4e3d2c1b0af9",
    username="pkm.ciawi",
    password="demo-pcare",
    ppk_code="0403P002",
    ppk_name="PUSKESMAS CIAWI",
)
CONSUMERS = (CIBINONG, CIAWI)


def _member(
    card: str,
    nik: str,
    name: str,
    sex: str,
    born: str,
    *,
    aktif: bool = True,
    ket: str = "AKTIF",
    ppk: FakeConsumer = CIBINONG,
    jenis: tuple[str, str] = ("14", "PBI (APBN)"),
    kelas: tuple[str, str] = ("3", "KELAS III"),
    until: str = "31-12-2050",
    arrears: int = 0,
) -> dict:
    return {
        "noKartu": card,
        "nama": name,
        "hubunganKeluarga": "Peserta",
        "sex": sex,
        "tglLahir": born,
        "tglMulaiAktif": "01-01-2014",
        "tglAkhirBerlaku": until,
        "kdProviderPst": {"kdProvider": ppk.ppk_code, "nmProvider": ppk.ppk_name},
        "kdProviderGigi": {"kdProvider": None, "nmProvider": None},
        "jnsKelas": {"kode": kelas[0], "nama": kelas[1]},
        "jnsPeserta": {"kode": jenis[0], "nama": jenis[1]},
        "golDarah": "0",
        "noHP": "081200000000",
        "noKTP": nik,
        "pstProl": "",
        "pstPrb": "",
        "aktif": aktif,
        "ketAktif": ket,
        "asuransi": {"kdAsuransi": None, "nmAsuransi": None, "noAsuransi": None, "cob": False},
        "tunggakan": arrears,
    }


# The demo patient Ani Lestari (NIK 3201015708900002) is the first active member.
MEMBERS = (
    _member("0001234500001", "3201015708900002", "ANI LESTARI", "P", "17-08-1990"),
    _member("0001234500002", "3201011705900001", "BUDI SANTOSO", "L", "17-05-1990", jenis=("21", "PEKERJA MANDIRI")),
    _member(
        "0001234500003",
        "3201016208750003",
        "SITI RAHAYU",
        "P",
        "22-08-1975",
        aktif=False,
        ket="TIDAK AKTIF",
        jenis=("21", "PEKERJA MANDIRI"),
        kelas=("2", "KELAS II"),
        arrears=1_260_000,
    ),
    _member(
        "0001234500004",
        "3201010304600004",
        "AHMAD HIDAYAT",
        "L",
        "03-04-1960",
        aktif=False,
        ket="TIDAK AKTIF",
        until="30-06-2026",
    ),
    _member("0001234500005", "3201024511850005", "DEWI KURNIA", "P", "05-11-1985", ppk=CIAWI),
)
UNKNOWN_CARD = "0009999999999"
UNKNOWN_NIK = "3201011201000009"

POLI = (
    {"kodepoli": "001", "namapoli": "UMUM"},
    {"kodepoli": "002", "namapoli": "GIGI & MULUT"},
    {"kodepoli": "003", "namapoli": "KIA"},
    {"kodepoli": "013", "namapoli": "LANSIA"},
)
DOKTER = {
    "001": ({"namadokter": "dr. Rina Wulandari", "kodedokter": 101, "jampraktek": "07:30-14:00", "kapasitas": 60},),
    "002": ({"namadokter": "drg. Hendra Gunawan", "kodedokter": 201, "jampraktek": "08:00-12:00", "kapasitas": 20},),
    "003": ({"namadokter": "dr. Maya Sari", "kodedokter": 301, "jampraktek": "08:00-12:00", "kapasitas": 30},),
    "013": ({"namadokter": "dr. Rina Wulandari", "kodedokter": 101, "jampraktek": "10:00-12:00", "kapasitas": 20},),
}


def member_by_card(card: str) -> dict | None:
    return next((m for m in MEMBERS if m["noKartu"] == card), None)


def member_by_nik(nik: str) -> dict | None:
    return next((m for m in MEMBERS if m["noKTP"] == nik), None)
