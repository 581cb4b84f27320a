"""The edge config bundle: TOML round trip, strict reading, secrets."""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import string
import tomllib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from provisioning.bundle import EdgeBundle, new_password, read_bundle, write_bundle


def raw_public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def make_bundle(**changes) -> EdgeBundle:
    values = dict(
        node_id="pkm-ciomas",
        puskesmas_code="P3201010101",
        puskesmas_name="Puskesmas Ciomas",
        puskesmas_address="Jl. Raya Ciomas No. 1, Kabupaten Bogor",
        mqtt_host="broker.rosma.example",
        mqtt_port=8883,
        mqtt_username="pkm-ciomas",
        mqtt_password=new_password(),
        qr_public_keys={"k2025": raw_public_key()},
        polis=[
            {"code": "UMUM", "name": "Poli Umum", "prefix": "C"},
            {"code": "GIGI", "name": "Poli Gigi", "prefix": "D"},
        ],
        lokets=2,
    )
    values.update(changes)
    return EdgeBundle(**values)


def test_round_trip_with_awkward_text(tmp_path):
    bundle = make_bundle(
        puskesmas_name='Puskesmas "Cibinong" \\ Kab. Bogor – Pelayanan Ramah ñ é 🏥',
        puskesmas_address="Jl. Mayor Oking\nRT 01/RW 02\tC:\\path 'kutip' \x01\x7f \u2028",
        mqtt_password='p"a\\s$s#w=o[r]d',
        qr_public_keys={"k1": raw_public_key(), "kunci lama/ü": raw_public_key()},
        polis=[{"code": "KIA", "name": 'Poli KIA "Ibu & Anak"', "prefix": "E"}],
        printer_uri="serial:///dev/ttyUSB0?baudrate=19200",
        scanner_uri="evdev:///dev/input/by-id/usb-Scanner-event-kbd",
        audio_uri="wavdir:///var/lib/rosma/wav",
        http_host="0.0.0.0",
        http_port=8080,
        data_dir="/var/lib/rosma/edge",
    )
    path = tmp_path / "edge.toml"

    write_bundle(path, bundle)

    assert read_bundle(path) == bundle
    assert path.stat().st_mode & 0o777 == 0o600
    assert "🏥" in path.read_text(encoding="utf-8")  # non-ASCII kept as UTF-8, not escaped


def test_defaults_round_trip(tmp_path):
    bundle = make_bundle(qr_public_keys={}, polis=[])

    write_bundle(tmp_path / "edge.toml", bundle)
    loaded = read_bundle(tmp_path / "edge.toml")

    assert loaded == bundle
    assert (loaded.printer_uri, loaded.scanner_uri, loaded.audio_uri) == ("none", "none", "none")
    assert (loaded.http_host, loaded.http_port, loaded.data_dir) == ("127.0.0.1", 8081, "var/edge")


def test_written_file_is_plain_toml(tmp_path):
    bundle = make_bundle()
    write_bundle(tmp_path / "edge.toml", bundle)

    data = tomllib.loads((tmp_path / "edge.toml").read_text(encoding="utf-8"))

    assert data == dataclasses.asdict(bundle)


def test_rewrite_tightens_mode(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text("old")
    path.chmod(0o644)

    write_bundle(path, make_bundle())

    assert path.stat().st_mode & 0o777 == 0o600


def test_password_not_in_repr():
    bundle = make_bundle(mqtt_password="sangat-rahasia")

    assert "sangat-rahasia" not in repr(bundle)


def test_loose_mode_is_logged(tmp_path, caplog):
    path = tmp_path / "edge.toml"
    write_bundle(path, make_bundle())
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="provisioning.bundle"):
        read_bundle(path)

    assert "0600" in caplog.text


def _toml_with(tmp_path, edit):
    path = tmp_path / "edge.toml"
    write_bundle(path, make_bundle())
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        pytest.param(lambda t: "colour = 'blue'\n" + t, "colour", id="unknown-key"),
        pytest.param(lambda t: re.sub(r"(?m)^lokets = .*\n", "", t), "lokets", id="missing-lokets"),
        pytest.param(lambda t: re.sub(r"(?m)^mqtt_password = .*\n", "", t), "mqtt_password", id="missing-password"),
        pytest.param(lambda t: t.replace("\n[qr_public_keys]\n", "\n[other]\n"), "other", id="unknown-table"),
        pytest.param(lambda t: t.replace("mqtt_port = 8883", 'mqtt_port = "8883"'), "mqtt_port", id="port-as-string"),
        pytest.param(lambda t: t.replace("lokets = 2", "lokets = true"), "lokets", id="lokets-bool"),
        pytest.param(lambda t: t.replace("lokets = 2", "lokets = 0"), "lokets", id="no-lokets"),
        pytest.param(lambda t: t.replace("mqtt_port = 8883", "mqtt_port = 70000"), "mqtt_port", id="port-range"),
        pytest.param(lambda t: t.replace('node_id = "pkm-ciomas"', 'node_id = "PKM_X"'), "node_id", id="bad-node-id"),
        pytest.param(
            lambda t: t.replace('mqtt_username = "pkm-ciomas"', 'mqtt_username = "pkm-other"'),
            "mqtt_username",
            id="username-not-node-id",
        ),
        pytest.param(lambda t: t.replace('prefix = "D"', 'prefix = "D"\nroom = "2"'), "room", id="poli-unknown"),
        pytest.param(lambda t: t.replace('prefix = "D"\n', ""), "prefix", id="poli-missing"),
        pytest.param(lambda t: t.replace('prefix = "D"', 'prefix = "C"'), "prefix", id="poli-duplicate-prefix"),
        pytest.param(lambda t: re.sub(r'(?m)^k2025 = ".*"', 'k2025 = "bm90LWEta2V5"', t), "k2025", id="key-length"),
        pytest.param(lambda t: re.sub(r'(?m)^k2025 = ".*"', 'k2025 = "***"', t), "k2025", id="key-not-base64"),
    ],
)
def test_read_rejects(tmp_path, edit, key):
    path = _toml_with(tmp_path, edit)

    with pytest.raises(ValueError, match=re.escape(key)):
        read_bundle(path)


def test_read_rejects_invalid_toml(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text('node_id = "unterminated\n')

    with pytest.raises(ValueError, match="TOML"):
        read_bundle(path)


def test_write_rejects_invalid_bundle(tmp_path):
    bundle = make_bundle()
    bundle.http_port = 0

    with pytest.raises(ValueError, match="http_port"):
        write_bundle(tmp_path / "edge.toml", bundle)
    assert not (tmp_path / "edge.toml").exists()


def test_new_password():
    passwords = {new_password() for _ in range(50)}

    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 32
        assert set(password) <= set(string.ascii_letters + string.digits + "-_")
