"""PCare peserta: is this card number or NIK an active BPJS member of this puskesmas?

``PcareClient(config).peserta("0001234500001")`` (13 digits: card; 16 digits: NIK) returns a
Membership whose ``status`` is one of ACTIVE, INACTIVE, OTHER_FKTP or UNKNOWN, with a message and
advice in Bahasa Indonesia. Failures to ask (BPJS down, refused, unreadable) raise BpjsError;
an unknown number is a result, not an error.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from bpjs import errors as e
from bpjs.config import BpjsConfig
from bpjs.errors import mask
from bpjs.transport import BpjsTransport, Envelope, error_for

log = logging.getLogger(__name__)

ACTIVE = "aktif"
INACTIVE = "tidak_aktif"
OTHER_FKTP = "fktp_lain"
UNKNOWN = "tidak_terdaftar"

_DIGITS = re.compile(r"[0-9]+")
NOT_FOUND_CODES = frozenset({204, 404})

ADVICE_INACTIVE = (
    "Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN. Untuk kunjungan ini Anda tetap dapat "
    "berobat sebagai pasien Umum."
)
ADVICE_OTHER_FKTP = (
    "Peserta BPJS dilayani di FKTP tempat ia terdaftar. Pindah FKTP dapat diurus lewat aplikasi Mobile JKN "
    "atau kantor BPJS Kesehatan; untuk kunjungan ini Anda dapat berobat sebagai pasien Umum."
)
ADVICE_UNKNOWN = (
    "Periksa kembali nomornya. Bila benar, tanyakan ke kantor BPJS Kesehatan atau berobat sebagai pasien Umum."
)


def normalise_number(raw: str) -> str:
    """Digits only: the spaces, dots and dashes people type into card numbers and NIKs go."""
    return re.sub(r"[\s.\-]", "", raw or "")


def check_card(raw: str) -> str:
    number = normalise_number(raw)
    if not (len(number) == 13 and _DIGITS.fullmatch(number)):
        raise e.BpjsInputError("Nomor kartu BPJS harus 13 digit angka.")
    return number


def check_nik(raw: str) -> str:
    number = normalise_number(raw)
    if not (len(number) == 16 and _DIGITS.fullmatch(number)):
        raise e.BpjsInputError("NIK harus 16 digit angka.")
    return number


def _date(value: Any) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(value), "%d-%m-%Y").date()
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _sub(obj: Any, key: str) -> str:
    return _text(obj.get(key)) if isinstance(obj, dict) else ""


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (1, "1", "true", "True", "TRUE"):
        return True
    if value in (0, "0", "false", "False", "FALSE"):
        return False
    return None


@dataclass(frozen=True)
class Membership:
    """The outcome of a peserta lookup. Personal fields are left out of ``repr``."""

    status: str
    message: str  # what the patient or staff are told, Bahasa Indonesia
    advice: str = ""
    ket_aktif: str = ""  # BPJS's own words, e.g. "AKTIF", "TIDAK AKTIF"
    card_number: str = field(default="", repr=False)
    nik: str = field(default="", repr=False)
    name: str = field(default="", repr=False)
    provider_code: str = ""
    provider_name: str = ""
    member_type: str = ""  # jnsPeserta.nama, e.g. "PBI (APBN)"
    class_name: str = ""  # jnsKelas.nama, e.g. "KELAS III"
    valid_until: dt.date | None = None
    arrears: int = 0  # tunggakan, rupiah

    @property
    def active(self) -> bool:
        """True only for an active member of this puskesmas."""
        return self.status == ACTIVE


def membership_from(payload: Any, own_ppk: str) -> Membership:
    """Judge a decrypted peserta payload; BpjsMalformed if it is not a member object."""
    if not isinstance(payload, dict) or not (payload.get("noKartu") or payload.get("nama")):
        raise e.BpjsMalformed(e.MSG_MALFORMED, detail="peserta response is not a member object")
    ket = _text(payload.get("ketAktif"))
    aktif = _flag(payload.get("aktif"))
    if aktif is None:
        aktif = ket.upper() == "AKTIF"
    provider = payload.get("kdProviderPst")
    try:
        arrears = int(payload.get("tunggakan") or 0)
    except (TypeError, ValueError):
        arrears = 0
    common = dict(
        ket_aktif=ket,
        card_number=_text(payload.get("noKartu")),
        nik=_text(payload.get("noKTP")),
        name=_text(payload.get("nama")),
        provider_code=_sub(provider, "kdProvider"),
        provider_name=_sub(provider, "nmProvider"),
        member_type=_sub(payload.get("jnsPeserta"), "nama"),
        class_name=_sub(payload.get("jnsKelas"), "nama"),
        valid_until=_date(payload.get("tglAkhirBerlaku")),
        arrears=max(arrears, 0),
    )
    if not aktif:
        reason = ket or "TIDAK AKTIF"
        message = f"Kepesertaan BPJS Kesehatan tidak aktif (keterangan BPJS: {reason})."
        if arrears > 0:
            message += f" Ada tunggakan iuran Rp{arrears:,}.".replace(",", ".")
        return Membership(INACTIVE, message, ADVICE_INACTIVE, **common)
    own = own_ppk.strip().upper()
    theirs = common["provider_code"].upper()
    if own and theirs and theirs != own:
        where = common["provider_name"] or theirs
        return Membership(
            OTHER_FKTP, f"Peserta BPJS aktif, tetapi terdaftar di FKTP lain: {where}.", ADVICE_OTHER_FKTP, **common
        )
    return Membership(ACTIVE, "Kepesertaan BPJS Kesehatan aktif.", **common)


def unknown_member(what: str) -> Membership:
    return Membership(UNKNOWN, f"{what} tidak terdaftar sebagai peserta BPJS Kesehatan.", ADVICE_UNKNOWN)


class PcareClient:
    """PCare's peserta service for one puskesmas."""

    def __init__(self, config: BpjsConfig, transport: BpjsTransport | None = None) -> None:
        self.config = config.validate()
        self.transport = transport or BpjsTransport(
            config, config.pcare_url, config.pcare_user_key, send_authorization=True
        )

    def peserta(self, number: str) -> Membership:
        """Look up a card number (13 digits) or a NIK (16 digits)."""
        digits = normalise_number(number)
        if len(digits) == 16:
            return self.peserta_by_nik(digits)
        if len(digits) == 13:
            return self.peserta_by_card(digits)
        raise e.BpjsInputError("Masukkan nomor kartu BPJS (13 digit) atau NIK (16 digit).")

    def peserta_by_card(self, card_number: str) -> Membership:
        """``GET peserta/{noKartu}``."""
        card = check_card(card_number)
        return self._lookup(f"peserta/{card}", "Nomor kartu", card)

    def peserta_by_nik(self, nik: str) -> Membership:
        """``GET peserta/nik/{nik}``."""
        nik = check_nik(nik)
        return self._lookup(f"peserta/nik/{nik}", "NIK", nik)

    def _lookup(self, path: str, what: str, number: str) -> Membership:
        env = self.transport.send("GET", path)
        result = self._judge(env, what)
        log.info("PCare peserta %s %s: %s", what.lower(), mask(number), result.status)
        return result

    def _judge(self, env: Envelope, what: str) -> Membership:
        if env.code in NOT_FOUND_CODES:
            return unknown_member(what)
        if env.code != 200 and env.message.strip().upper() != "OK":
            raise self._logged(error_for(env))
        if env.empty:
            return unknown_member(what)
        try:
            payload = self.transport.decrypt(env)
            return membership_from(payload, self.config.ppk_code)
        except e.BpjsMalformed as err:
            raise self._logged(err) from None

    @staticmethod
    def _logged(err: e.BpjsError) -> e.BpjsError:
        log.warning("PCare peserta failed: %s", err.log_text())
        return err
