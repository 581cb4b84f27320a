"""Staff accounts at central: created from the CLI (``rosma staff``), later from the admin pages.

Every change goes down the change feed to the edges that need it (the staff member's
puskesmas; every edge for an admin kabupaten), so staff sign in at an edge with no internet.
"""

from __future__ import annotations

import logging
import re

from central import audit, feed
from central.core.patients import _hidden
from central.identity import ROLES, IdentityError
from central.models import Poli, Puskesmas, Staff, WebSession, database, utcnow
from protocol import passwords

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}\Z")
MIN_PASSWORD = 10


def check_password(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD:
        return f"Kata sandi minimal {MIN_PASSWORD} karakter."
    if len(password) > 200:
        return "Kata sandi terlalu panjang."
    return None


publish = feed.publish_staff


def values(s: Staff) -> dict:
    """What the audit log keeps of an account: never the password or its hash."""
    return {
        "username": s.username,
        "name": s.name,
        "role": s.role,
        "puskesmas": s.puskesmas.code if s.puskesmas_id else "",
        "polis": s.polis,
        "active": s.active,
    }


def add(
    username: str, name: str, role: str, puskesmas: str | None, polis: str, password: str, by: Staff | None = None
) -> Staff:
    """Create a staff account (``by``: the admin doing it, None for the command line); raises
    IdentityError with field errors. Audited."""
    username = (username or "").strip().lower()
    errors = {}
    if not USERNAME_RE.match(username):
        errors["username"] = "Nama pengguna 3-40 huruf kecil, angka, titik, - atau _."
    elif Staff.select().where(Staff.username == username).exists():
        errors["username"] = "Nama pengguna sudah dipakai."
    if not (name or "").strip() or len(name) > 120:
        errors["name"] = "Nama wajib diisi (maksimal 120 huruf)."
    elif _hidden(name):
        errors["name"] = "Nama mengandung karakter tersembunyi yang tidak diizinkan."
    if role not in ROLES:
        errors["role"] = "Peran: " + ", ".join(ROLES)
    place = None
    if role != "admin_kabupaten":
        place = Puskesmas.get_or_none(Puskesmas.code == (puskesmas or "").strip().lower())
        if place is None:
            errors["puskesmas"] = "Pilih puskesmas."
    codes = [c.strip().upper() for c in (polis or "").split(",") if c.strip()]
    if role == "petugas_poli":
        known = {p.code for p in Poli.select().where(Poli.puskesmas == place)} if place else set()
        if not codes or not set(codes) <= known:
            errors["polis"] = "Petugas poli perlu poli puskesmasnya: " + ", ".join(sorted(known))
    problem = check_password(password)
    if problem:
        errors["password"] = problem
    if errors:
        raise IdentityError("Periksa kembali isian.", errors)
    with database.atomic():
        s = Staff.create(
            username=username,
            name=name.strip(),
            role=role,
            puskesmas=place,
            polis=",".join(codes) if role == "petugas_poli" else "",
            password_hash=passwords.hash_secret(password),
        )
        publish(s)
        audit.record(by, "staff", s.username, "create", None, values(s), s.puskesmas_id)
    log.info("staff %s created (%s)", s.id, role)
    return s


def get(username: str) -> Staff:
    s = Staff.get_or_none(Staff.username == (username or "").strip().lower())
    if s is None:
        raise IdentityError("Tidak ada akun petugas dengan nama pengguna ini.", status=404)
    return s


def disable(username: str, by: Staff | None = None) -> Staff:
    s = get(username)
    before = values(s)
    with database.atomic():
        Staff.update(active=False).where(Staff.id == s.id).execute()
        s = Staff.get_by_id(s.id)
        publish(s)
        WebSession.update(revoked_at=utcnow()).where(
            (WebSession.staff == s) & WebSession.revoked_at.is_null()
        ).execute()
        audit.record(by, "staff", s.username, "update", before, values(s), s.puskesmas_id)
    log.info("staff %s disabled", s.id)
    return s


def set_password(username: str, password: str, by: Staff | None = None) -> Staff:
    problem = check_password(password)
    if problem:
        raise IdentityError(problem, {"password": problem})
    s = get(username)
    with database.atomic():
        Staff.update(password_hash=passwords.hash_secret(password), password_changed_at=utcnow(), active=True).where(
            Staff.id == s.id
        ).execute()
        s = Staff.get_by_id(s.id)
        publish(s)
        audit.record(by, "staff", s.username, "update", {"password": "lama"}, {"password": "baru"}, s.puskesmas_id)
    log.info("staff %s has a new password", s.id)
    return s
