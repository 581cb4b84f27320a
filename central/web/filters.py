"""Template filters and globals: Indonesian dates, statuses and masked numbers."""

from __future__ import annotations

from flask import Flask

from central import runtime
from central.core import reservations as rules
from central.core.calendar import format_date, format_date_short
from protocol import nik as nikrules


def mask_tail(value: str | None, keep: int = 4) -> str:
    """``••••1234``: only the last digits of a number, for its owner's screen."""
    value = value or ""
    return "••••" + value[-keep:] if len(value) > keep else value


def status_label(reservation) -> str:
    """The reservation's status as its patient reads it."""
    return rules.status_label(reservation.status, reservation.date, runtime.now().date())


def status_class(reservation) -> str:
    """A CSS modifier for the status badge."""
    label = status_label(reservation)
    return {"Aktif": "ok", "Dibatalkan": "off", "Terlewat": "off"}.get(label, "info")


def wib_datetime(value) -> str:
    """A stored UTC time (naive) as WIB: ``2 Desember 2026 08.12``."""
    import datetime as dt

    from central.core.calendar import WIB

    if value is None:
        return ""
    moment = value.replace(tzinfo=dt.UTC).astimezone(WIB)
    return f"{format_date_short(moment.date())} {moment:%H.%M}"


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(format_date, "tanggal")
    app.add_template_filter(format_date_short, "tanggal_pendek")
    app.add_template_filter(mask_tail, "samarkan")
    app.add_template_filter(nikrules.mask, "samarkan_nik")
    app.add_template_filter(status_label, "status")
    app.add_template_filter(status_class, "status_kelas")
    app.add_template_filter(wib_datetime, "wib_datetime")
    app.jinja_env.globals["payer_label"] = rules.PAYERS
