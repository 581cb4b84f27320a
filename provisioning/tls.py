"""Certificates for Rosma's Mosquitto TLS listeners: a private CA, server and per-node client certificates.

Keys are EC P-256 (Mosquitto 2.0.11 on Debian 12, OpenSSL 3.0, serves and verifies them;
tested), certificates are X.509 v3 signed with SHA-256. Private keys are unencrypted PKCS#8
PEM (Mosquitto cannot prompt for a passphrase when it starts as a service) written
atomically with mode 0600 whatever the umask (``infra.files.write_private_file``);
certificates and the CA certificate are written atomically with mode 0644 (they are public).

Layout made by these functions (``LocalBroker`` uses ``<broker dir>/tls/``):

- ``ca.crt`` (0644) and ``ca.key`` (0600): the CA. Give ``ca.crt`` to every client (edge
  ``mqtt_ca``, central) and to the broker (``cafile``); keep ``ca.key`` off the broker host
  in production.
- ``server.crt`` (0644) and ``server.key`` (0600, owned by the broker's user): the broker's
  certificate for ``certfile``/``keyfile``, with the host names and addresses clients dial
  in subjectAltName (clients check them) and extended key usage serverAuth.
- ``<node id>.crt`` (0644) and ``<node id>.key`` (0600): a node's client certificate, CN =
  node id, extended key usage clientAuth; with ``use_identity_as_username`` the CN is the
  broker username, so the ACL applies to it.

Validity starts ``NOT_BEFORE_SLACK`` before now, so a device whose clock is a little behind
still accepts a fresh certificate; a device whose clock is far off (a Pi without RTC before
NTP) refuses every certificate until its clock is set.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.files import write_private_file
from provisioning.broker import check_username

log = logging.getLogger(__name__)

CA_CERT_NAME = "ca.crt"
CA_KEY_NAME = "ca.key"
SERVER_NAME = "server"  # server.crt and server.key
LOOPBACK_NAMES = ("127.0.0.1", "localhost")  # in every server certificate unless include_loopback=False
NOT_BEFORE_SLACK = datetime.timedelta(hours=1)
CRL_DAYS = 30  # validity of a revocation list; Mosquitto refuses all client certificates after it
CURVE = ec.SECP256R1()
ORGANIZATION = "Rosma"

# A DNS name in a certificate: ASCII labels (IDNs as A-labels, xn--...), no wildcard.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")


@dataclass(frozen=True)
class CaFiles:
    """Where a CA's certificate (``ca.crt``, 0644) and private key (``ca.key``, 0600) are."""

    cert: Path
    key: Path


def make_ca(
    directory: str | os.PathLike[str], name: str = "Rosma MQTT CA", days: int = 3650, *, owner: str | None = None
) -> CaFiles:
    """Create a CA in ``directory`` (``ca.crt`` 0644, ``ca.key`` 0600), or reuse the one there.

    Idempotent: when both files exist and belong together the CA is reused as it is (``name``
    and ``days`` are then ignored), so certificates issued before stay valid. A key without a
    certificate (an interrupted first run: the key is written first) is replaced. ``owner``
    (a user name) owns ``ca.key``; None keeps the owner of an existing file, else the current
    user. The directory is created (mode 0755 less the umask) if missing.

    Raises ValueError for a bad ``name``/``days``, for a ``ca.crt`` without ``ca.key`` (a CA
    whose key is kept elsewhere: this will not replace it), for a certificate and key that do
    not match, for a certificate that is not a CA or has expired; OSError, PermissionError or
    KeyError as ``infra.files.write_private_file``.
    """
    _check_days(days)
    if not isinstance(name, str) or not name.strip() or any(ch in name for ch in "\r\n\0"):
        raise ValueError(f"invalid CA name: {name!r}")
    base = _ensure_dir(directory)
    files = CaFiles(base / CA_CERT_NAME, base / CA_KEY_NAME)
    if files.cert.exists():
        if not files.key.exists():
            raise ValueError(f"{files.cert} exists without {files.key}: not replacing a CA whose key is elsewhere")
        cert, _key = _load_ca(files)
        log.info("reusing CA %s (%s, valid until %s)", files.cert, _cn(cert), cert.not_valid_after_utc.date())
        return files
    key = ec.generate_private_key(CURVE)
    subject = _name(name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - NOT_BEFORE_SLACK)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private_file(files.key, _key_pem(key), owner=owner)  # first: a crash leaves no cert without its key
    write_public_file(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    log.info("created CA %s (%s, valid until %s)", files.cert, name, cert.not_valid_after_utc.date())
    return files


def make_server_cert(
    ca: CaFiles,
    directory: str | os.PathLike[str],
    hostnames: Iterable[str],
    days: int = 825,
    *,
    include_loopback: bool = True,
    owner: str | None = None,
    name: str = SERVER_NAME,
) -> tuple[Path, Path]:
    """Issue a broker certificate; return ``(<directory>/<name>.crt, <directory>/<name>.key)``.

    ``hostnames`` are the DNS names and IP addresses clients dial (each goes into
    subjectAltName as a DNS name or an IP address); with ``include_loopback`` (the default)
    ``127.0.0.1`` and ``localhost`` are added, for private brokers and a central on the
    broker host. The key is new each time (0600, owned by ``owner``: in production the user
    Mosquitto runs as, since it drops privileges before reading it); an existing pair is
    replaced. The validity is ``days``, cut at the CA's own end (with a warning).

    Raises ValueError for no names, a bad name or address, bad ``days``, or a CA whose files
    do not belong together; OSError, PermissionError or KeyError as ``write_private_file``.
    """
    names = _alt_names([*hostnames, *(LOOPBACK_NAMES if include_loopback else ())])
    if not names:
        raise ValueError("a server certificate needs at least one host name or address")
    common_name = str(names[0].value)
    return _issue(
        ca,
        directory,
        name,
        common_name,
        days,
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName(names),
        owner,
    )


def make_client_cert(
    ca: CaFiles,
    directory: str | os.PathLike[str],
    common_name: str,
    days: int = 825,
    *,
    owner: str | None = None,
) -> tuple[Path, Path]:
    """Issue a node's client certificate (CN = ``common_name``, clientAuth); return ``(crt, key)``.

    Files are ``<directory>/<common_name>.crt`` (0644) and ``.key`` (0600, owned by ``owner``,
    e.g. the edge service's user). With ``use_identity_as_username`` the CN is the node's
    broker username, so it must be one (``provisioning.broker.check_username``). Raises
    ValueError for a bad name or ``days``; OSError, PermissionError or KeyError as
    ``write_private_file``.
    """
    check_username(common_name)
    return _issue(ca, directory, common_name, common_name, days, ExtendedKeyUsageOID.CLIENT_AUTH, None, owner)


def make_crl(
    ca: CaFiles,
    path: str | os.PathLike[str],
    revoke: Iterable[int | str | os.PathLike[str]] = (),
    days: int = CRL_DAYS,
) -> Path:
    """(Re)issue the CA's revocation list at ``path`` (PEM, 0644) and return the path.

    ``revoke`` holds certificates to add: serial numbers, or paths of PEM certificates. The
    serials already in a CRL at ``path`` signed by this CA are kept, so ``make_crl(ca, path)``
    re-issues the same list with a new validity. Mosquitto (``crlfile``, re-read on SIGHUP)
    refuses every client certificate once the CRL is past its next update: re-issue it well
    within ``days``. Raises ValueError for bad ``days``, a certificate not issued by this CA,
    or a CA whose files do not belong together; OSError if a file cannot be read or written.
    """
    _check_days(days)
    ca_cert, ca_key = _load_ca(ca)
    target = Path(path)
    now = _now()
    revoked: dict[int, datetime.datetime] = {}
    with contextlib.suppress(FileNotFoundError):
        old = x509.load_pem_x509_crl(target.read_bytes())
        if old.issuer == ca_cert.subject and old.is_signature_valid(ca_key.public_key()):
            revoked.update({entry.serial_number: entry.revocation_date_utc for entry in old})
        else:
            log.warning("CRL %s is not from CA %s: replacing it", target, ca.cert)
    for item in revoke:
        if isinstance(item, int) and not isinstance(item, bool):
            serial = item
        else:
            cert = x509.load_pem_x509_certificate(Path(item).read_bytes())
            try:
                cert.verify_directly_issued_by(ca_cert)
            except (ValueError, TypeError, InvalidSignature):
                raise ValueError(f"{item} was not issued by CA {ca.cert}") from None
            serial = cert.serial_number
        revoked.setdefault(serial, now)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - NOT_BEFORE_SLACK)
        .next_update(now + datetime.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    _ensure_dir(target.parent)
    write_public_file(target, crl.public_bytes(serialization.Encoding.PEM))
    log.info("issued CRL %s (%d revoked, next update %s)", target, len(revoked), crl.next_update_utc)
    return target


def server_cert_usable(
    ca: CaFiles,
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    hostnames: Iterable[str],
    min_days: float = 1.0,
) -> bool:
    """True if the pair is a serverAuth certificate from ``ca`` naming every host, valid ``min_days`` on.

    Never raises for a missing, unreadable or malformed file (that is False), only ValueError
    for a bad host name.
    """
    wanted = set(_alt_names(hostnames))
    try:
        ca_cert, _ = _load_ca(ca)
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    now = _now()
    return (
        _same_key(cert, key)
        and ExtendedKeyUsageOID.SERVER_AUTH in eku
        and wanted <= sans
        and cert.not_valid_before_utc <= now
        and cert.not_valid_after_utc > now + datetime.timedelta(days=min_days)
    )


def write_public_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0644 whatever the umask (a certificate)."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o644)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


# ---- internals ---------------------------------------------------------------------------------


def _issue(
    ca: CaFiles,
    directory: str | os.PathLike[str],
    file_stem: str,
    common_name: str,
    days: int,
    usage: x509.ObjectIdentifier,
    alt_names: x509.SubjectAlternativeName | None,
    owner: str | None,
) -> tuple[Path, Path]:
    _check_days(days)
    ca_cert, ca_key = _load_ca(ca)
    base = _ensure_dir(directory)
    cert_path, key_path = base / f"{file_stem}.crt", base / f"{file_stem}.key"
    key = ec.generate_private_key(CURVE)
    now = _now()
    not_after = now + datetime.timedelta(days=days)
    if not_after > ca_cert.not_valid_after_utc:
        log.warning("certificate %s would outlive its CA: valid until %s only", cert_path, ca_cert.not_valid_after_utc)
        not_after = ca_cert.not_valid_after_utc
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - NOT_BEFORE_SLACK, ca_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if alt_names is not None:
        builder = builder.add_extension(alt_names, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_private_file(key_path, _key_pem(key), owner=owner)
    write_public_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    log.info(
        "issued %s certificate %s for %s (valid until %s)",
        "server" if usage == ExtendedKeyUsageOID.SERVER_AUTH else "client",
        cert_path,
        ", ".join(str(n.value) for n in alt_names) if alt_names is not None else common_name,
        not_after.date(),
    )
    return cert_path, key_path


def _load_ca(ca: CaFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(Path(ca.cert).read_bytes())
    key = serialization.load_pem_private_key(Path(ca.key).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(cert, key):
        raise ValueError(f"{ca.key} is not the private key of {ca.cert}")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError(f"{ca.cert} is not a CA certificate")
    if cert.not_valid_after_utc <= _now():
        raise ValueError(f"CA {ca.cert} expired on {cert.not_valid_after_utc}; move it away to make a new one")
    return cert, key


def _same_key(cert: x509.Certificate, key: object) -> bool:
    public = getattr(key, "public_key", None)
    return public is not None and cert.public_key() == public()


def _alt_names(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    if isinstance(hostnames, str):
        raise ValueError(f"hostnames must be a list of names, not the string {hostnames!r}")
    names: list[x509.GeneralName] = []
    for raw in hostnames:
        if not isinstance(raw, str) or not raw:
            raise ValueError(f"invalid host name: {raw!r}")
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(raw))
        except ValueError:
            if not _DNS_RE.fullmatch(raw) or len(raw) > 253 or raw.rstrip(".").rsplit(".", 1)[-1].isdigit():
                raise ValueError(f"invalid host name: {raw!r}") from None  # all-digit last label: a bad address
            entry = x509.DNSName(raw.rstrip(".").lower())
        if entry not in names:
            names.append(entry)
    return names


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        raise ValueError(f"days must be 1..36500, got {days!r}")


def _ensure_dir(directory: str | os.PathLike[str]) -> Path:
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True, mode=0o755)
    return base


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
