"""Release 0.2: staff accounts (from central's feed) sign in at the edge with no internet, their
sessions, the kiosks paired by staff, and the QR keys central rotated in since provisioning."""

from __future__ import annotations

import datetime as dt

from peewee import BooleanField, CharField, Model


def up(db) -> None:
    def now() -> str:
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    class Base(Model):
        class Meta:
            database = db

    class Staff(Base):
        username = CharField(unique=True, max_length=40)
        name = CharField(max_length=120)
        role = CharField(max_length=20)
        polis = CharField(max_length=200, default="")
        password_hash = CharField(max_length=200)
        active = BooleanField(default=True)

        class Meta:
            table_name = "staff"

    class StaffSession(Base):
        key_hash = CharField(unique=True, max_length=64)
        username = CharField(max_length=40, index=True)
        created_at = CharField(max_length=40, default=now)
        last_seen = CharField(max_length=40, default=now)
        expires_at = CharField(max_length=40)
        revoked = BooleanField(default=False)

        class Meta:
            table_name = "staffsession"

    class KioskDevice(Base):
        key_hash = CharField(unique=True, max_length=64)
        name = CharField(max_length=60)
        paired_by = CharField(max_length=40)
        created_at = CharField(max_length=40, default=now)
        revoked = BooleanField(default=False)

        class Meta:
            table_name = "kioskdevice"

    class QrKey(Base):
        kid = CharField(unique=True, max_length=16)
        public_b64 = CharField(max_length=64)
        trusted_until = CharField(max_length=40, default="")

        class Meta:
            table_name = "qrkey"

    db.create_tables([Staff, StaffSession, KioskDevice, QrKey])
