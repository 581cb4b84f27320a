"""Typed changes: what central's per-node change feed tells an edge, one frozen dataclass each.

The same rules as ``protocol.events``: a stable ``NAME``, a ``VERSION``, one serialiser
(``to_data``), decode by name (``from_data``), unknown fields ignored. An edge that gets a change
it does not know (central was upgraded first) keeps it, moves its checkpoint on and applies it
after its own upgrade, so the feed never stalls. Changes hold no name, NIK, birth date or BPJS
number.
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


CHANGE_TYPES: tuple[type[Change], ...] = (ReservationChanged, StaffChanged, QrKeyChanged)
BY_NAME: dict[str, type[Change]] = {cls.NAME: cls for cls in CHANGE_TYPES}


def to_data(change: Change) -> dict:
    """The change as a JSON-ready dict."""
    return dataclasses.asdict(change)


def from_data(name: str, data: Any, version: int = 1, registry: dict[str, type[Change]] | None = None) -> Change:
    """Decode a change by name; raises UnknownEvent (unknown name, newer version) or EventError."""
    return decode_by_name(BY_NAME if registry is None else registry, name, data, version)
