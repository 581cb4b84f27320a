"""The kiosk's BPJS membership check: the edge asks PCare itself, with this puskesmas's own
credentials (config ``bpjs_credentials``), so a patient at the kiosk hears within seconds whether
her card is active. Offline, or without credentials, the answer is "tertunda" (or "": the loket
checks) and the ticket is issued all the same; the loket settles it on the staff page.

Answers are kept for the day in memory, keyed by a hash of the number: a patient who first
chose "Pasien BPJS" and then confirms, or staff re-checking at once, do not ask PCare twice.
A failure is never kept. Numbers never reach a log unmasked (``bpjs.errors.mask``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from dataclasses import dataclass, field

from bpjs import config_file
from bpjs import pcare as p
from bpjs.config import BpjsConfig
from bpjs.errors import BpjsError, mask
from bpjs.pcare import PcareClient
from edge.config import EdgeConfig
from protocol import idents
from protocol.clock import Clock

log = logging.getLogger(__name__)

PENDING = "tertunda"
UNCHECKED = ""
REFUSED = (p.INACTIVE, p.OTHER_FKTP, p.UNKNOWN)
LABELS = {
    p.ACTIVE: "BPJS aktif",
    p.INACTIVE: "BPJS tidak aktif",
    p.OTHER_FKTP: "Terdaftar di FKTP lain",
    p.UNKNOWN: "Tidak terdaftar di BPJS",
    PENDING: "Verifikasi BPJS tertunda",
    UNCHECKED: "Belum diperiksa",
}
KELAS = {p.ACTIVE: "ok", p.INACTIVE: "bad", p.OTHER_FKTP: "bad", p.UNKNOWN: "bad", PENDING: "warn", UNCHECKED: "info"}
MSG_PENDING = (
    "Layanan BPJS sedang tidak dapat dihubungi, jadi kepesertaan belum dapat diperiksa. "
    "Nomor antrean tetap dibuat; petugas loket memeriksanya saat Anda dipanggil."
)
MSG_UNCHECKED = "Kepesertaan BPJS diperiksa petugas di loket pendaftaran."
# a patient stands at the kiosk while PCare is asked: well under the library's defaults
CONNECT_TIMEOUT_S = 2.5
READ_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Checked:
    """A number's membership as the kiosk and the loket are told it."""

    membership: str
    message: str
    advice: str = ""
    kartu: str = field(default="", repr=False)  # 13 digits, when known
    nik: str = field(default="", repr=False)  # 16 digits, when given or returned

    @property
    def label(self) -> str:
        return LABELS.get(self.membership, self.membership)

    @property
    def kelas(self) -> str:
        return KELAS.get(self.membership, "info")

    @property
    def refused(self) -> bool:
        return self.membership in REFUSED


def hint(number: str) -> tuple[str, str]:
    """(kind, what staff see of it): ("kartu", "Kartu •••• 0001") for a card number, ("nik", "NIK •••• 0001")."""
    if len(number) == 16:
        return "nik", "NIK •••• " + number[-4:]
    return "kartu", "Kartu •••• " + number[-4:]


class MembershipChecker:
    def __init__(self, config: EdgeConfig, clock: Clock):
        self.clock = clock
        self.puskesmas = config.puskesmas_code
        self._config: BpjsConfig | None = None
        if config.bpjs_credentials:
            found = config_file.parse(config.bpjs_credentials).get(config.puskesmas_code)
            if found is not None:
                self._config = dataclasses.replace(
                    found,
                    connect_timeout=min(found.connect_timeout, CONNECT_TIMEOUT_S),
                    read_timeout=min(found.read_timeout, READ_TIMEOUT_S),
                )
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Checked] = {}

    @property
    def configured(self) -> bool:
        return self._config is not None

    def check(self, number: str, *, fresh: bool = False) -> Checked:
        """The membership of ``number`` (normalised: 13-digit card or 16-digit NIK) today.

        PCare failing gives PENDING, no credentials UNCHECKED; neither is kept. ``fresh``: ask
        PCare even when today's answer is known (staff pressed "Periksa ulang").
        """
        day = self.clock.now().date().isoformat()
        key = (day, hashlib.sha256(number.encode()).hexdigest())
        with self._lock:
            if not fresh and key in self._cache:
                return self._cache[key]
        kind = "nik" if len(number) == 16 else "kartu"
        given = {"nik": number} if kind == "nik" else {"kartu": number}
        if self._config is None:
            return Checked(UNCHECKED, MSG_UNCHECKED, **given)
        try:
            member = PcareClient(self._config).peserta(number)
        except BpjsError as exc:
            log.warning("kiosk BPJS check %s not answered: %s", mask(number), exc.log_text())
            return Checked(PENDING, MSG_PENDING, **given)
        kartu = member.card_number if idents.normalise(member.card_number or "")[:13] else ""
        if kind == "kartu":
            kartu = number
        nik = number if kind == "nik" else (member.nik if len(idents.normalise(member.nik or "")) == 16 else "")
        outcome = Checked(member.status, member.message[:200], member.advice, kartu if len(kartu) == 13 else "", nik)
        with self._lock:
            if len(self._cache) > 5000:  # a new day, or an attack: start over
                self._cache.clear()
            self._cache[key] = outcome
        log.info("kiosk BPJS check %s: %s", mask(number), outcome.membership)
        return outcome
