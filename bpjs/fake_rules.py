"""What the fake BPJS checks and answers: signatures and accounts, members, queue reports.

``FakeRules`` holds the state (the members, the queue of each day and poli) and knows nothing of
HTTP; ``bpjs.fake`` serves it. Messages follow the ones real services are known to send.
"""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bpjs import fixtures
from bpjs.crypto import authorization, signature
from bpjs.fixtures import FakeConsumer

WIB = ZoneInfo("Asia/Jakarta")
HTML_NOT_FOUND = b"<html><body><h1>404 Not Found</h1></body></html>"

_CARD = re.compile(r"[0-9]{13}")
_NIK = re.compile(r"[0-9]{16}")
_JAM = re.compile(r"[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]")

MSG_DUPLICATE = "Nomor Antrean Hanya Dapat Diambil 1 Kali Pada Tanggal dan Poli Yang Sama"
MSG_CANCELLED = "Antrean sudah dibatalkan"
MSG_NOT_FOUND = "Antrean tidak ditemukan"
MSG_SERVED = "Pasien Sudah Dilayani, Antrean Tidak Dapat Dibatalkan"


@dataclass
class Answer:
    """What the fake sends: an envelope (code, message, payload) or a raw HTTP reply."""

    code: int = 200
    message: str = "OK"
    payload: Any = None
    http_status: int = 200
    raw: bytes | None = None
    content_type: str = "application/json"


class FakeRules:
    """BPJS's side of each call; not thread-safe (the server serialises calls)."""

    def __init__(
        self,
        consumers: Iterable[FakeConsumer] = fixtures.CONSUMERS,
        members: Iterable[dict] = fixtures.MEMBERS,
        *,
        drift: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumers = {c.cons_id: c for c in consumers}
        self.members = [copy.deepcopy(m) for m in members]
        self.drift = drift
        self.clock = clock
        self.queue: dict[tuple, dict] = {}

    def authenticate(self, service: str, headers) -> tuple[FakeConsumer | None, Answer | None]:
        """The consumer a request comes from, or the refusal to send."""

        def refuse(message: str) -> tuple[None, Answer]:
            return None, Answer(401, message)

        cons_id = headers.get("X-cons-id", "")
        stamp = headers.get("X-timestamp", "")
        sent_signature = headers.get("X-signature", "")
        user_key = headers.get("user_key", "")
        if not (cons_id and stamp and sent_signature and user_key):
            return refuse("Header X-cons-id, X-timestamp, X-signature dan user_key wajib diisi")
        consumer = self.consumers.get(cons_id)
        if consumer is None:
            return refuse("Consumer ID tidak terdaftar")
        if not (stamp.isascii() and stamp.isdigit()) or abs(self.clock() - int(stamp)) > self.drift:
            return refuse("X-timestamp tidak valid atau kedaluwarsa")
        if not hmac.compare_digest(sent_signature, signature(consumer.cons_id, consumer.secret, stamp)):
            return refuse("Signature tidak valid")
        keys = [consumer.pcare_user_key]
        if service == "antrean":
            keys.append(consumer.antrean_user_key)  # mLITE sends the PCare key for panggil and batal
        if not any(hmac.compare_digest(user_key, k) for k in keys):
            return refuse("user_key tidak valid")
        auth = headers.get("X-authorization", "")
        if service == "pcare" or auth:
            expected = authorization(consumer.username, consumer.password, consumer.app_code)
            if not hmac.compare_digest(auth, expected):
                return refuse("Username atau password PCare salah")
        return consumer, None

    def handle(self, service: str, method: str, route: str, body: Any) -> Answer:
        if service == "pcare":
            return self._pcare(method, route)
        return self._antrean(method, route, body)

    def _pcare(self, method: str, route: str) -> Answer:
        parts = [p for p in route.split("/") if p]
        if method != "GET" or not parts or parts[0] != "peserta" or len(parts) not in (2, 3):
            return Answer(http_status=404, raw=HTML_NOT_FOUND, content_type="text/html")
        kind, number = ("noka", parts[1]) if len(parts) == 2 else (parts[1].lower(), parts[2])
        if kind == "noka":
            if not _CARD.fullmatch(number):
                return Answer(412, "Nomor kartu harus 13 digit")
            member = next((m for m in self.members if m["noKartu"] == number), None)
        elif kind == "nik":
            if not _NIK.fullmatch(number):
                return Answer(412, "NIK harus 16 digit")
            member = next((m for m in self.members if m["noKTP"] == number), None)
        else:
            return Answer(412, "Jenis kartu harus nik atau noka")
        if member is None:
            return Answer(204, "NO_CONTENT")
        return Answer(200, "OK", member)

    def _antrean(self, method: str, route: str, body: Any) -> Answer:
        parts = [p for p in route.split("/") if p]
        if method == "GET" and parts[:3] == ["ref", "poli", "tanggal"] and len(parts) == 4:
            day = _day(parts[3])
            if day is None:
                return Answer(201, "Format tanggal harus yyyy-mm-dd")
            if day.weekday() == 6:
                return Answer(201, "No Content")
            return Answer(200, "Ok", list(fixtures.POLI))
        if method == "GET" and parts[:3] == ["ref", "dokter", "kodepoli"] and len(parts) == 6 and parts[4] == "tanggal":
            day = _day(parts[5])
            if day is None:
                return Answer(201, "Format tanggal harus yyyy-mm-dd")
            doctors = fixtures.DOKTER.get(parts[3])
            if day.weekday() == 6 or not doctors:
                return Answer(201, "No Content")
            return Answer(1, "Ok", {"list": list(doctors)})
        if method == "POST" and len(parts) == 2 and parts[0] == "antrean" and parts[1] in ("add", "panggil", "batal"):
            if not isinstance(body, dict):
                return Answer(201, "Format data tidak valid")
            return getattr(self, f"_report_{parts[1]}")(body)
        return Answer(http_status=404, raw=HTML_NOT_FOUND, content_type="text/html")

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), WIB).date()

    def _report_add(self, body: dict) -> Answer:
        card, nik = str(body.get("nomorkartu") or ""), str(body.get("nik") or "")
        day = _day(str(body.get("tanggalperiksa") or ""))
        poli = str(body.get("kodepoli") or "")
        problem = None
        if card and not _CARD.fullmatch(card):
            problem = "Nomor kartu tidak valid (13 digit)"
        elif nik and not _NIK.fullmatch(nik):
            problem = "NIK tidak valid (16 digit)"
        elif not (card or nik):
            problem = "Nomor kartu atau NIK wajib diisi"
        elif day is None:
            problem = "Format tanggal periksa harus yyyy-mm-dd"
        elif day < self._today():
            problem = "Tanggal periksa tidak boleh tanggal yang sudah lewat"
        elif poli not in {p["kodepoli"] for p in fixtures.POLI}:
            problem = "Kode poli tidak ditemukan"
        elif not _is_int(body.get("kodedokter")) or not _is_int(body.get("angkaantrean")):
            problem = "Kode dokter dan angka antrean harus angka"
        elif not _JAM.fullmatch(str(body.get("jampraktek") or "")):
            problem = "Format jam praktek harus HH:MM-HH:MM"
        elif not str(body.get("nomorantrean") or "").strip():
            problem = "Nomor antrean wajib diisi"
        if problem:
            return Answer(201, problem)
        key = (day.isoformat(), poli, card or nik)
        held = self.queue.get(key)
        if held is not None and held["status"] != "batal":
            return Answer(201, MSG_DUPLICATE)
        number = str(body["nomorantrean"]).strip()
        for other_key, other in self.queue.items():
            if other_key[:2] == key[:2] and other_key != key and other["nomorantrean"] == number:
                return Answer(201, f"Nomor antrean {number} sudah dipakai peserta lain")
        self.queue[key] = {"nomorantrean": number, "status": "menunggu"}
        return Answer(200, "Ok")

    def _find(self, body: dict) -> tuple[tuple, dict | None, str | None]:
        card = str(body.get("nomorkartu") or "")
        day = _day(str(body.get("tanggalperiksa") or ""))
        if not _CARD.fullmatch(card):
            return (), None, "Nomor kartu tidak valid (13 digit)"
        if day is None:
            return (), None, "Format tanggal periksa harus yyyy-mm-dd"
        key = (day.isoformat(), str(body.get("kodepoli") or ""), card)
        held = self.queue.get(key)
        return key, held, None if held is not None else MSG_NOT_FOUND

    def _report_panggil(self, body: dict) -> Answer:
        if body.get("status") not in (1, 2) or not _is_int(body.get("waktu")):
            return Answer(201, "Status harus 1 (hadir) atau 2 (tidak hadir) dan waktu dalam milidetik")
        _, held, problem = self._find(body)
        if problem:
            return Answer(201, problem)
        if held["status"] == "batal":
            return Answer(201, MSG_CANCELLED)
        held["status"] = "hadir" if body["status"] == 1 else "tidak_hadir"
        return Answer(200, "Ok")

    def _report_batal(self, body: dict) -> Answer:
        if not str(body.get("alasan") or "").strip():
            return Answer(201, "Alasan wajib diisi")
        _, held, problem = self._find(body)
        if problem:
            return Answer(201, problem)
        if held["status"] == "batal":
            return Answer(201, MSG_CANCELLED)
        if held["status"] == "hadir":
            return Answer(201, MSG_SERVED)
        held["status"] = "batal"
        return Answer(200, "Ok")


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
