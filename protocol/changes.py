"""Typed changes: what central's per-node change feed tells an edge, one frozen dataclass each.

The same rules as ``protocol.events``: a stable ``NAME``, a ``VERSION``, one serialiser
(``to_data``), decode by name (``from_data``), unknown fields ignored. An edge that gets a change
it does not know (central was upgraded first) keeps it, moves its checkpoint on and applies it
after its own upgrade, so the feed never stalls. Changes hold no name, NIK, birth date or BPJS
number (a reservation's ``idents`` are keyed hashes, ``protocol.idents``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from protocol.events import decode_by_name


@dataclass(frozen=True, kw_only=True)
class Change:
    NAME: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1


@dataclass(frozen=True, kw_only=True)
class ReservationChanged(Change):
    """A reservation for this puskesmas was made, changed or cancelled at central."""

    NAME: ClassVar[str] = "reservation.upsert"

    rid: str
    poli: str
    date: str  # ISO, WIB
    slot: str  # "08:00-09:00"
    payer: str  # UMUM, BPJS
    status: str  # active, cancelled, checked_in, done
    # keyed hashes of the NIK and BPJS card number it was made with (``protocol.idents``), so the
    # kiosk and the loket can check a patient in by her number without the number being here
    idents: str = ""
    # a BPJS booking's membership as PCare answered (``central.bpjs_membership``), for the staff page
    membership: str = ""


@dataclass(frozen=True, kw_only=True)
class StaffChanged(Change):
    """A staff account that may sign in at this puskesmas's edge (also with no internet).

    ``password_hash`` is the argon2id hash (``protocol.passwords``), never the password;
    ``active`` False means the account may not sign in any more.
    """

    NAME: ClassVar[str] = "staff.upsert"

    username: str
    name: str
    role: str  # admin_kabupaten, admin_puskesmas, kepala_puskesmas, petugas_loket, petugas_poli
    polis: str = ""  # comma-separated poli codes (petugas_poli)
    password_hash: str
    active: bool = True


@dataclass(frozen=True, kw_only=True)
class QrKeyChanged(Change):
    """A QR signing key the edge trusts (central rotated its keys): its public part only.

    ``trusted_until`` (ISO, UTC) is when a retired key's last pass has expired; empty: no end.
    """

    NAME: ClassVar[str] = "qr_key.upsert"

    kid: str
    public_key: str
    trusted_until: str = ""


@dataclass(frozen=True, kw_only=True)
class SiteChanged(Change):
    """The puskesmas's own details as the back office keeps them (shown on the kiosk, TV and
    staff pages): name, address, phone, opening hours in words, and how many loket it has."""

    NAME: ClassVar[str] = "site.upsert"

    name: str
    address: str = ""
    phone: str = ""
    hours: str = ""  # e.g. "Senin-Kamis 07.30-14.00, Jumat 07.30-11.00, Sabtu 07.30-12.30"
    lokets: int  # registration counters, 1..20
    running_text: str = ""  # the TV's running text, set by the admin ("" for none)


@dataclass(frozen=True, kw_only=True)
class PoliChanged(Change):
    """A poli of this puskesmas, added or changed in the back office. ``active`` False: it takes
    no new tickets and leaves the kiosk, staff and TV pages (its history stays)."""

    NAME: ClassVar[str] = "poli.upsert"

    code: str  # e.g. "UMUM"
    name: str  # e.g. "Poli Umum" (announced: "silakan menuju, Poli Umum")
    prefix: str  # ticket letter(s), e.g. "U"
    active: bool = True
    order: int = 0  # position on the kiosk and TV (then by code)


@dataclass(frozen=True, kw_only=True)
class HolidayChanged(Change):
    """A day this puskesmas is closed (a national holiday, cuti bersama or its own), or, with
    ``closed`` False, a day that no longer is."""

    NAME: ClassVar[str] = "holiday.upsert"

    date: str  # ISO, WIB
    name: str  # e.g. "Hari Raya Idul Fitri 1447 H"
    closed: bool = True


CHANGE_TYPES: tuple[type[Change], ...] = (
    ReservationChanged,
    StaffChanged,
    QrKeyChanged,
    SiteChanged,
    PoliChanged,
    HolidayChanged,
)
BY_NAME: dict[str, type[Change]] = {cls.NAME: cls for cls in CHANGE_TYPES}


def to_data(change: Change) -> dict:
    """The change as a JSON-ready dict."""
    return dataclasses.asdict(change)


def from_data(name: str, data: Any, version: int = 1, registry: dict[str, type[Change]] | None = None) -> Change:
    """Decode a change by name; raises UnknownEvent (unknown name, newer version) or EventError."""
    return decode_by_name(BY_NAME if registry is None else registry, name, data, version)
