"""One puskesmas's BPJS settings: its credentials, the service addresses and the time-outs.

BPJS issues each FKTP a consumer id and secret, a user key per service (PCare, and a separate
"Antrol" key for Antrean FKTP that may be left empty to reuse the PCare key) and a PCare
account. Secrets never show in ``repr``. Where the values are stored is the caller's business;
they belong in a file only central (or that puskesmas's edge) can read, mode 0600.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PCARE_PRODUCTION = "https://apijkn.bpjs-kesehatan.go.id/pcare-rest"
PCARE_DEVELOPMENT = "https://apijkn-dev.bpjs-kesehatan.go.id/pcare-rest-dev"
ANTREAN_PRODUCTION = "https://apijkn.bpjs-kesehatan.go.id/antreanfktp"
ANTREAN_DEVELOPMENT = "https://apijkn-dev.bpjs-kesehatan.go.id/antreanfktp_dev"
PCARE_APP_CODE = "095"


@dataclass(frozen=True)
class BpjsConfig:
    """BPJS settings of one puskesmas; ``validate()`` raises ValueError naming the bad field."""

    cons_id: str
    secret: str = field(repr=False)
    pcare_user_key: str = field(repr=False)
    pcare_username: str = ""
    pcare_password: str = field(default="", repr=False)
    antrean_user_key: str = field(default="", repr=False)
    app_code: str = PCARE_APP_CODE
    ppk_code: str = ""  # the puskesmas's own kdProvider: members registered elsewhere are told so
    pcare_url: str = PCARE_PRODUCTION
    antrean_url: str = ANTREAN_PRODUCTION
    antrean_authorization: bool = True  # send X-authorization to Antrean FKTP too (mLITE does; harmless)
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 15.0  # seconds, per read
    max_response_bytes: int = 2 * 1024 * 1024

    def validate(self) -> BpjsConfig:
        for name in ("cons_id", "secret", "pcare_user_key"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"BPJS {name}: must not be empty")
        if not self.cons_id.isascii() or not self.cons_id.isdigit():
            raise ValueError("BPJS cons_id: digits only, as issued by BPJS")
        for name in ("pcare_url", "antrean_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise ValueError(f"BPJS {name}: must be an http(s) URL")
        for name in ("connect_timeout", "read_timeout"):
            if not 0 < getattr(self, name) <= 120:
                raise ValueError(f"BPJS {name}: seconds between 0 and 120")
        if self.max_response_bytes < 1024:
            raise ValueError("BPJS max_response_bytes: at least 1024")
        return self

    @property
    def antrean_key(self) -> str:
        """The user key for Antrean FKTP: its own, or the PCare key when none was issued."""
        return self.antrean_user_key or self.pcare_user_key

    @classmethod
    def from_dict(cls, data: dict) -> BpjsConfig:
        """Build and validate from a mapping (e.g. one table of a 0600 TOML file); unknown keys are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"BPJS settings: unknown field {unknown[0]!r}")
        try:
            cfg = cls(**data)
        except TypeError as exc:
            raise ValueError(f"BPJS settings: {exc}") from exc
        return cfg.validate()
