"""Antrean FKTP: the puskesmas tells BPJS about its queue (add, panggil, batal) and reads the
reference lists (poli, dokter) those reports must use.

Success is metadata code 200 (1 has been seen too). A report BPJS already holds comes back as a
refusal whose message says so ("... 1 kali ...", "sudah ..."); ``add`` and ``batal`` turn that into
an outcome with ``already=True`` so a report retried after a time-out or a damaged answer is not
an error: the durable queue that sends them can retry freely and nothing is doubled. That
reading of the message is an assumption (BPJS documents no code for it).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from bpjs import errors as e
from bpjs.config import BpjsConfig
from bpjs.pcare import check_card, check_nik, normalise_number
from bpjs.transport import BpjsTransport, Envelope, error_for

log = logging.getLogger(__name__)

OK_CODES = frozenset({200, 1})
NO_SCHEDULE_CODES = frozenset({201, 204})  # ref lists on a day without a published schedule
HADIR = 1
TIDAK_HADIR = 2
# Antrean FKTP's POST bodies travel as JSON text under this type ("mengacu pada panduan TrustMark")
BODY_TYPE = "Application/x-www-form-urlencoded"
_ALREADY = re.compile(r"sudah (ada|terdaftar|diambil|dibatalkan|batal)|1 kali|satu kali|duplika", re.IGNORECASE)
_JAM = re.compile(r"[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]")


@dataclass(frozen=True)
class Poli:
    kodepoli: str
    namapoli: str


@dataclass(frozen=True)
class Dokter:
    kodedokter: int
    namadokter: str
    jampraktek: str  # "HH:MM-HH:MM"
    kapasitas: int


@dataclass(frozen=True)
class AntreanBaru:
    """The body of ``antrean/add``: one queue number of a patient for a poli and day."""

    nomorkartu: str  # 13 digits; "" for a non-JKN patient
    nik: str
    kodepoli: str
    namapoli: str
    tanggalperiksa: dt.date
    nomorantrean: str  # e.g. "A-12"
    angkaantrean: int
    kodedokter: int
    namadokter: str
    jampraktek: str
    nohp: str = ""
    norm: str = ""
    keterangan: str = ""

    def body(self) -> dict:
        data = asdict(self)
        data["tanggalperiksa"] = self.tanggalperiksa.isoformat()
        return data


@dataclass(frozen=True)
class Outcome:
    """A report BPJS took: ``already`` when it held it from an earlier try."""

    already: bool = False
    message: str = ""


def _list_of(payload: Any) -> list:
    if isinstance(payload, dict) and isinstance(payload.get("list"), list):
        return payload["list"]
    if isinstance(payload, list):
        return payload
    if payload in (None, "", {}):
        return []
    raise e.BpjsMalformed(e.MSG_MALFORMED, detail="reference list is neither a list nor {'list': [...]}")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise e.BpjsMalformed(e.MSG_MALFORMED, detail=f"{name} is not a number") from None


def millis(moment: dt.datetime) -> int:
    """Epoch milliseconds of an aware datetime (``waktu`` in panggil)."""
    if moment.tzinfo is None:
        raise ValueError("waktu must be timezone-aware")
    return int(moment.timestamp() * 1000)


class AntreanClient:
    """Antrean FKTP for one puskesmas."""

    def __init__(self, config: BpjsConfig, transport: BpjsTransport | None = None) -> None:
        self.config = config.validate()
        self.transport = transport or BpjsTransport(
            config, config.antrean_url, config.antrean_key, send_authorization=config.antrean_authorization
        )

    # --- reference lists -------------------------------------------------

    def ref_poli(self, day: dt.date) -> list[Poli]:
        """The poli with a schedule on ``day`` ([] when none is published, e.g. a Sunday)."""
        items = self._ref(f"ref/poli/tanggal/{day.isoformat()}")
        polis = []
        for item in items:
            if not isinstance(item, dict):
                raise e.BpjsMalformed(e.MSG_MALFORMED, detail="ref poli item is not an object")
            code = item.get("kodepoli", item.get("kdpoli"))
            name = item.get("namapoli", item.get("nmpoli"))
            if code in (None, ""):
                raise e.BpjsMalformed(e.MSG_MALFORMED, detail="ref poli item without a code")
            polis.append(Poli(str(code), str(name or "")))
        return polis

    def ref_dokter(self, kodepoli: str, day: dt.date) -> list[Dokter]:
        """The doctors of ``kodepoli`` on ``day`` with their hours and capacity."""
        items = self._ref(f"ref/dokter/kodepoli/{_code(kodepoli)}/tanggal/{day.isoformat()}")
        doctors = []
        for item in items:
            if not isinstance(item, dict):
                raise e.BpjsMalformed(e.MSG_MALFORMED, detail="ref dokter item is not an object")
            doctors.append(
                Dokter(
                    kodedokter=_int(item.get("kodedokter"), "kodedokter"),
                    namadokter=str(item.get("namadokter") or ""),
                    jampraktek=str(item.get("jampraktek") or ""),
                    kapasitas=_int(item.get("kapasitas", 0), "kapasitas"),
                )
            )
        return doctors

    def _ref(self, path: str) -> list:
        env = self.transport.send("GET", path)
        if env.code in NO_SCHEDULE_CODES and env.empty:
            return []
        self._check(env, path)
        try:
            return _list_of(self.transport.decrypt(env))
        except e.BpjsMalformed as err:
            raise self._logged(err, path) from None

    # --- reports ---------------------------------------------------------

    def add(self, antrean: AntreanBaru) -> Outcome:
        """``antrean/add``: report a queue number. Safe to repeat (``already=True`` the second time)."""
        body = antrean.body()
        if antrean.nomorkartu:
            body["nomorkartu"] = check_card(antrean.nomorkartu)
        body["nik"] = check_nik(antrean.nik) if antrean.nik else ""
        body["kodepoli"] = _code(antrean.kodepoli)
        if not (body["nomorkartu"] or body["nik"]):
            raise e.BpjsInputError("Nomor kartu BPJS atau NIK wajib diisi.")
        if not _JAM.fullmatch(antrean.jampraktek):
            raise e.BpjsInputError("Jam praktik harus berbentuk JJ:MM-JJ:MM, misalnya 08:00-12:00.")
        if not antrean.nomorantrean.strip():
            raise e.BpjsInputError("Nomor antrean wajib diisi.")
        return self._report("antrean/add", body, allow_already=True)

    def panggil(
        self, tanggalperiksa: dt.date, kodepoli: str, nomorkartu: str, status: int, waktu: dt.datetime
    ) -> Outcome:
        """``antrean/panggil``: the patient was called and came (HADIR) or did not (TIDAK_HADIR)."""
        if status not in (HADIR, TIDAK_HADIR):
            raise e.BpjsInputError("Status panggilan harus 1 (hadir) atau 2 (tidak hadir).")
        body = {
            "tanggalperiksa": tanggalperiksa.isoformat(),
            "kodepoli": _code(kodepoli),
            "nomorkartu": check_card(nomorkartu),
            "status": status,
            "waktu": millis(waktu),
        }
        return self._report("antrean/panggil", body, allow_already=False)

    def batal(self, tanggalperiksa: dt.date, kodepoli: str, nomorkartu: str, alasan: str) -> Outcome:
        """``antrean/batal``: the queue number is cancelled. Safe to repeat (``already=True``)."""
        if not alasan.strip():
            raise e.BpjsInputError("Alasan pembatalan wajib diisi.")
        body = {
            "tanggalperiksa": tanggalperiksa.isoformat(),
            "kodepoli": _code(kodepoli),
            "nomorkartu": check_card(nomorkartu),
            "alasan": alasan.strip(),
        }
        return self._report("antrean/batal", body, allow_already=True)

    def _report(self, path: str, body: dict, *, allow_already: bool) -> Outcome:
        env = self.transport.send("POST", path, body, content_type=BODY_TYPE)
        if env.code not in OK_CODES and allow_already and _ALREADY.search(env.message or ""):
            log.info("Antrean FKTP %s: already held by BPJS", path)
            return Outcome(already=True, message=env.message)
        self._check(env, path)
        log.info("Antrean FKTP %s: accepted", path)
        return Outcome(message=env.message)

    def _check(self, env: Envelope, path: str) -> None:
        if env.code not in OK_CODES:
            raise self._logged(error_for(env), path)

    @staticmethod
    def _logged(err: e.BpjsError, path: str) -> e.BpjsError:
        log.warning("Antrean FKTP %s failed: %s", e.mask_numbers(path), err.log_text())
        return err


def _code(kodepoli: str) -> str:
    code = normalise_number(kodepoli) if kodepoli.strip().isdigit() else kodepoli.strip()
    if not code or not code.isalnum() or not code.isascii():
        raise e.BpjsInputError("Kode poli BPJS tidak valid.")
    return code
