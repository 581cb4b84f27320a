"""What every back-office page shares: which roles may use each area, which puskesmas a staff
member may see, and the menu. Each page still names its roles with ``staff.roles(...)``.

Roles: ``admin_kabupaten`` (Dinas Kesehatan: every puskesmas, the kabupaten views, the fleet),
``admin_puskesmas`` (its own puskesmas: manage and see), ``kepala_puskesmas`` (its own puskesmas:
see, set quality targets, answer kritik & saran), ``petugas_loket`` / ``petugas_poli`` (no back
office; the loket resets PINs).
"""

from __future__ import annotations

from flask import Flask, g, url_for

from central.models import Puskesmas
from central.web.errors import http_error

ADMINS = ("admin_kabupaten", "admin_puskesmas")
VIEWERS = ("admin_kabupaten", "admin_puskesmas", "kepala_puskesmas")
KABUPATEN = ("admin_kabupaten",)

# (endpoint, label, roles) in menu order; an endpoint that does not exist is left out
MENU = (
    ("dashboard.index", "Dasbor", VIEWERS),
    ("reports.index", "Laporan", VIEWERS),
    ("feedback_admin.index", "Kritik & saran", VIEWERS),
    ("admin.index", "Pengaturan", ADMINS),
    ("holidays.index", "Hari libur", ADMINS),
    ("bpjs_antrean.index", "Laporan BPJS", ADMINS),
    ("fleet.index", "Node", KABUPATEN),
)


def scope(staff) -> list[Puskesmas]:
    """The puskesmas a staff member may see, by name."""
    if staff is None:
        return []
    if staff.role == "admin_kabupaten":
        return list(Puskesmas.select().order_by(Puskesmas.name))
    if staff.puskesmas_id is None:
        return []
    return [Puskesmas.get_by_id(staff.puskesmas_id)]


def pick(staff, code: str | None) -> Puskesmas:
    """The puskesmas ``code`` if this staff member may see it (their own when ``code`` is empty
    and they have one); 404 for an unknown code, 403 for another puskesmas."""
    code = (code or "").strip().lower()
    if not code:
        if staff.puskesmas_id is not None:
            return Puskesmas.get_by_id(staff.puskesmas_id)
        first = Puskesmas.select().order_by(Puskesmas.name).first()
        if first is None:
            raise http_error(404, "Belum ada puskesmas.")
        return first
    p = Puskesmas.get_or_none(Puskesmas.code == code)
    if p is None:
        raise http_error(404, "Puskesmas tidak ditemukan.")
    if staff.role != "admin_kabupaten" and staff.puskesmas_id != p.id:
        raise http_error(403, "Anda hanya boleh membuka data puskesmas Anda sendiri.")
    return p


def menu(staff) -> list[tuple[str, str]]:
    """(url, label) of the back-office areas this staff member may open."""
    from flask import current_app

    if staff is None:
        return []
    items = []
    for endpoint, label, roles in MENU:
        if staff.role in roles and endpoint in current_app.view_functions:
            items.append((url_for(endpoint), label))
    return items


def init_app(app: Flask) -> None:
    @app.context_processor
    def _menu():
        return {"back_office_menu": lambda: menu(getattr(g, "staff", None))}
