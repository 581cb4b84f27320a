"""``rosma provision``: create an edge node for a puskesmas at central.

Makes the Node row (and its change feed, back-filled with the puskesmas' active
reservations), a broker password in the broker's password file, the ACL, and the config file
the edge starts with (node id, broker credentials, QR public keys, polis, device URIs).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from central import feed, keys
from central.models import Node, Poli, Puskesmas, database
from provisioning import broker
from provisioning.bundle import EdgeBundle, new_password
from provisioning.files import write_private_file
from provisioning.toml_writer import toml_key, toml_value

log = logging.getLogger(__name__)


def provision_node(
    puskesmas_code: str,
    node_id: str,
    broker_dir: Path,
    out: Path,
    mqtt_host: str,
    mqtt_port: int,
    lokets: int = 2,
    central_user: str = "central",
    **local,
) -> EdgeBundle:
    """Provision (or re-provision, with a new password) ``node_id`` for a puskesmas.

    ``local`` holds extra edge settings written to the config as given (device URIs,
    http_port, data_dir, printer_profile, clock_start). Raises ValueError for an unknown
    puskesmas or a node id already used by another puskesmas.
    """
    if node_id == central_user:
        raise ValueError(f"node id {node_id!r} is the central broker user's name")
    pkm = Puskesmas.get_or_none(Puskesmas.code == puskesmas_code)
    if pkm is None:
        raise ValueError(f"unknown puskesmas code: {puskesmas_code!r}")
    with database.atomic():
        old = Node.get_or_none(Node.node_id == node_id)
        if old is not None and old.puskesmas_id != pkm.id:
            raise ValueError(f"node id {node_id!r} already belongs to another puskesmas")
        if old is not None:
            # A re-provisioned node starts with an empty database (new SD card, new Pi): its
            # outbox and change checkpoint restart at 0, so it must not inherit the old row's
            # checkpoints. The old row keeps its history under a retired name.
            retired = f"{node_id}~{old.id}"
            Node.update(node_id=retired, online=False).where(Node.id == old.id).execute()
            log.warning("node %s re-provisioned; its previous record is kept as %s", node_id, retired)
        node = Node.create(node_id=node_id, puskesmas=pkm)
        feed.backfill_node(node)
    password = new_password()
    broker_dir.mkdir(parents=True, exist_ok=True)
    broker.set_passwords(broker_dir / broker.PASSWD_NAME, {node_id: password})
    broker.write_acl_file(broker_dir / broker.ACL_NAME, central_user)
    bundle_fields = {f.name for f in dataclasses.fields(EdgeBundle)}
    bundle = EdgeBundle(
        node_id=node_id,
        puskesmas_code=pkm.code,
        puskesmas_name=pkm.name,
        puskesmas_address=pkm.address,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        mqtt_username=node_id,
        mqtt_password=password,
        qr_public_keys=keys.public_keys(),
        polis=[{"code": p.code, "name": p.name, "prefix": p.prefix} for p in pkm.polis.order_by(Poli.id)],
        lokets=lokets,
        **{k: v for k, v in local.items() if k in bundle_fields},
    )
    extra = {k: v for k, v in local.items() if k not in bundle_fields}
    write_edge_config(out, bundle, extra)
    log.info("provisioned node %s for puskesmas %s", node_id, pkm.code)
    return bundle


def write_edge_config(path: Path, bundle: EdgeBundle, extra: dict) -> Path:
    """Write the edge config: the bundle's fields plus local settings (mode 0600: it holds a password)."""
    values = {**dataclasses.asdict(bundle), **extra}
    scalars = [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items() if not isinstance(v, (dict, list))]
    lines = [
        f"# Rosma edge config for node {bundle.node_id} (holds the broker password)",
        *scalars,
        "",
        "[qr_public_keys]",
    ]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values["qr_public_keys"].items()]
    for poli in values["polis"]:
        lines += ["", "[[polis]]", *(f"{k} = {toml_value(v)}" for k, v in poli.items())]
    return write_private_file(path, "\n".join(lines) + "\n")
