"""Central's QR signing key: created once, stored in the database, never sent to an edge."""

from __future__ import annotations

import base64

from central.models import SigningKeyRow
from protocol.qrpass import SigningKey


def active_key() -> SigningKey:
    """The current signing key; generates and stores one on first use."""
    row = SigningKeyRow.select().where(SigningKeyRow.active).order_by(SigningKeyRow.id.desc()).first()
    if row is None:
        key = SigningKey.generate()
        SigningKeyRow.create(
            kid=key.kid, private_b64=base64.b64encode(key.private).decode(), public_b64=key.public_b64()
        )
        return key
    return SigningKey.from_private(base64.b64decode(row.private_b64))


def public_keys() -> dict[str, str]:
    """Every key id edges should trust, as kid -> base64 raw public key."""
    active_key()
    return {r.kid: r.public_b64 for r in SigningKeyRow.select().where(SigningKeyRow.active)}
