"""``rosma provision``: create an edge node for a puskesmas at central.

Makes the Node row (and its change feed, back-filled with the puskesmas' active
reservations), a broker password in the broker's password file, the ACL, and the config file
the edge starts with (node id, broker credentials, QR public keys, polis, device URIs), written
through the edge's own config schema, so provisioning and the edge can never disagree on it.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from pathlib import Path

from central import feed, keys
from central.models import Node, Poli, Puskesmas, database
from edge import config as edge_config
from edge.config import EdgeConfig
from infra.config import is_loopback, loopback_url, public_url
from infra.files import write_private_file
from provisioning import broker

log = logging.getLogger(__name__)

LOCAL_SETTINGS = frozenset(f.name for f in dataclasses.fields(EdgeConfig)) - {
    "node_id",
    "puskesmas_code",
    "puskesmas_name",
    "puskesmas_address",
    "mqtt_username",
    "mqtt_password",
    "qr_public_keys",
    "polis",
    "lokets",
    "mqtt_host",
    "mqtt_port",
    "central_public_url",
}  # mqtt_ca, mqtt_cert and mqtt_key are local: paths on the node


def new_password() -> str:
    """A random broker password: 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def check_public_url(url: str) -> str | None:
    """Refuse (ValueError) an address that is not http(s); log and return a warning for a loopback
    one (or none at all), else None."""
    problem = public_url(url)
    if problem:
        raise ValueError(f"central public URL {url!r}: {problem}")
    if url and loopback_url(url):
        warning = (
            f"central public URL {url} is a loopback address: patients' phones cannot open the QR on the "
            "tickets (set central's public_url, or --central-public-url, to an address they reach)"
        )
        log.warning("%s", warning)
        return warning
    if not url:
        warning = "no central public URL (central's public_url): the node's tickets print without their QR link"
        log.warning("%s", warning)
        return warning
    return None


def provision_node(
    puskesmas_code: str,
    node_id: str,
    broker_dir: Path,
    out: Path,
    mqtt_host: str,
    mqtt_port: int,
    lokets: int = 2,
    central_user: str = "central",
    credentials_dir: Path | None = None,
    central_public_url: str = "",
    **local,
) -> EdgeConfig:
    """Provision (or re-provision, with a new password) ``node_id`` for a puskesmas.

    ``local`` holds the edge's local settings (device URIs, http_host, http_port, data_dir,
    printer_profile, clock_start). With ``credentials_dir`` the broker password goes to
    ``<credentials_dir>/mqtt_password`` (for systemd's LoadCredential=) instead of the config.
    ``central_public_url`` is central's address as patients' phones reach it (central's
    ``public_url``): the node prints it in every ticket's QR; a loopback one is logged as a
    warning (only a phone on this machine could open it).

    Raises ValueError for an unknown puskesmas, a node id already used by another puskesmas, an
    unknown local setting, a central_public_url that is not an http(s) address, or anything the
    edge's config schema refuses (ConfigError).
    """
    if node_id == central_user:
        raise ValueError(f"node id {node_id!r} is the central broker user's name")
    unknown = set(local) - LOCAL_SETTINGS
    if unknown:
        raise ValueError(f"unknown edge setting(s): {', '.join(sorted(unknown))}")
    if not local.get("mqtt_ca") and not is_loopback(mqtt_host):
        raise ValueError(
            f"the node would reach the broker at {mqtt_host} unencrypted: give the broker's CA (--mqtt-ca) "
            "and its TLS port"
        )
    check_public_url(central_public_url)
    pkm = Puskesmas.get_or_none(Puskesmas.code == puskesmas_code)
    if pkm is None:
        raise ValueError(f"unknown puskesmas code: {puskesmas_code!r}")
    password = new_password()
    cfg = edge_config.from_dict(
        {
            "node_id": node_id,
            "puskesmas_code": pkm.code,
            "puskesmas_name": pkm.name,
            "puskesmas_address": pkm.address,
            "mqtt_host": mqtt_host,
            "mqtt_port": mqtt_port,
            "mqtt_username": node_id,
            "mqtt_password": password,
            "qr_public_keys": keys.public_keys(),
            "polis": [{"code": p.code, "name": p.name, "prefix": p.prefix} for p in pkm.polis.order_by(Poli.id)],
            "lokets": lokets,
            "central_public_url": central_public_url,
            **local,
        }
    )  # checked before anything is written: a bad poli or setting leaves no half-made node
    with database.atomic():
        old = Node.live().where(Node.node_id == node_id).first()
        if old is not None and old.puskesmas_id != pkm.id:
            raise ValueError(f"node id {node_id!r} already belongs to another puskesmas")
        if old is not None:
            # A re-provisioned node starts with an empty database (new SD card, new Pi): it
            # gets a fresh record; the old one keeps its history, retired.
            Node.update(retired=True, online=False).where(Node.id == old.id).execute()
            log.warning("node %s re-provisioned; its previous record (%d) is kept, retired", node_id, old.id)
        node = Node.create(node_id=node_id, puskesmas=pkm)
        feed.backfill_node(node)
    broker_dir.mkdir(parents=True, exist_ok=True)
    broker.set_passwords(broker_dir / broker.PASSWD_NAME, {node_id: password})
    broker.write_acl_file(broker_dir / broker.ACL_NAME, central_user)
    omit: tuple[str, ...] = ()
    if credentials_dir is not None:
        credentials_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(credentials_dir / "mqtt_password", password + "\n")
        omit = ("mqtt_password",)
    edge_config.write(out, cfg, omit=omit)
    log.info("provisioned node %s for puskesmas %s", node_id, pkm.code)
    return cfg
