"""Typed config files: one schema per file, every rule in one place, one writer, secrets from
systemd credentials. The edge's rules are the ones provisioning must meet too."""

from __future__ import annotations

import tomllib

import pytest

from central import config as central_config
from edge import config as edge_config
from infra.config import ConfigError

EDGE = {
    "node_id": "pkm-cibinong",
    "puskesmas_code": "cibinong",
    "qr_public_keys": {
        "56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    },  # a key: an edge without one checks nobody in
    "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}, {"code": "KB", "name": "Poli KB", "prefix": "KB"}],
}


def poli(**kw) -> dict:
    return {**EDGE, "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U", **kw}]}


@pytest.mark.parametrize(
    "data, error",
    [
        pytest.param({**EDGE, "lokets": 25}, "lokets: must be 1..20", id="lokets-25"),
        pytest.param({**EDGE, "lokets": 0}, "lokets: must be 1..20", id="lokets-0"),
        pytest.param({**EDGE, "lokets": True}, "lokets: expected int", id="lokets-bool"),
        pytest.param(poli(prefix="U-"), "prefix: one or two capital letters", id="prefix-with-dash"),
        pytest.param(poli(prefix="u"), "prefix: one or two capital letters", id="prefix-lower-case"),
        pytest.param(poli(prefix="UMU"), "prefix: one or two capital letters", id="prefix-three-letters"),
        pytest.param(poli(prefix="A"), "A and B are the registration", id="prefix-A"),
        pytest.param(poli(prefix="B"), "A and B are the registration", id="prefix-B"),
        pytest.param(poli(prefix="1"), "prefix: one or two capital letters", id="prefix-digit"),
        pytest.param(poli(code="umum"), "code: 1-16 capital letters", id="code-lower-case"),
        pytest.param(poli(name=""), "name: 1-40 characters with letters", id="name-empty"),
        pytest.param(poli(name="1 2 3"), "name: 1-40 characters with letters", id="name-no-letters"),
        pytest.param(poli(name="P" * 41), "name: 1-40 characters", id="name-too-long"),
        pytest.param(poli(room="2"), "unknown key 'room'", id="poli-unknown-key"),
        pytest.param(
            {**EDGE, "polis": [EDGE["polis"][0], {"code": "GIGI", "name": "Poli Gigi", "prefix": "U"}]},
            "duplicate 'U'",
            id="prefix-duplicate",
        ),
        pytest.param({**EDGE, "polis": []}, "at least one poli", id="no-poli"),
        pytest.param({**EDGE, "node_id": "PKM cibinong"}, "node_id: must match", id="node-id-bad"),
        pytest.param({k: v for k, v in EDGE.items() if k != "node_id"}, "node_id: must match", id="node-id-missing"),
        pytest.param({**EDGE, "puskesmas_code": " "}, "puskesmas_code: required", id="puskesmas-blank"),
        pytest.param({**EDGE, "mqtt_port": 70000}, "mqtt_port: must be a TCP port", id="port-out-of-range"),
        pytest.param({**EDGE, "mqtt_username": "pkm-other"}, "mqtt_username: must be empty or equal", id="user"),
        pytest.param({**EDGE, "qr_public_keys": {"k": "not base64!"}}, "k: not base64", id="key-not-base64"),
        pytest.param({**EDGE, "printer": "usb://1:2"}, "printer: unknown field", id="unknown-field"),
        pytest.param({**EDGE, "qr_public_keys": {}}, "qr_public_keys: at least one key", id="no-qr-key"),
        pytest.param(
            {**EDGE, "qr_public_keys": {"0011223344556677": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}},
            "does not match its key",
            id="qr-key-id-mismatch",
        ),
        pytest.param({**EDGE, "clock_start": "besok pagi"}, "clock_start: an ISO datetime", id="clock-not-iso"),
        pytest.param(
            {**EDGE, "clock_start": "2026-11-26T07:30"}, "clock_start: must carry its zone", id="clock-no-zone"
        ),
        pytest.param({**EDGE, "log_level": "LOUD"}, "log_level: one of DEBUG", id="log-level"),
    ],
)
def test_edge_config_refuses_with_the_field_named(data, error):
    with pytest.raises(ConfigError, match=error):
        edge_config.from_dict(data)


def test_two_letter_prefixes_for_life_cycle_clusters_are_fine():
    assert [p["prefix"] for p in edge_config.from_dict(EDGE).polis] == ["U", "KB"]


def test_the_one_writer_round_trips_with_descriptions_and_0600(tmp_path):
    cfg = edge_config.from_dict({**EDGE, "mqtt_password": "rahasia"})
    path = edge_config.write(tmp_path / "edge.toml", cfg)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "# number of registration counters (loket)" in text and "[[polis]]" in text
    assert edge_config.load(path) == cfg
    assert "mqtt_password" not in tomllib.loads(
        edge_config.write(tmp_path / "e2.toml", cfg, omit=("mqtt_password",)).read_text()
    )


def test_a_secret_comes_from_the_systemd_credential_when_there_is_one(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("dari-kredensial\n")
    (creds / "secret_key").write_text("k" * 40)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert edge_config.from_dict({**EDGE, "mqtt_password": "di-berkas"}).mqtt_password == "dari-kredensial"
    central = central_config.from_dict({"secret_key": ""})  # the file's value is not needed
    assert central.secret_key == "k" * 40


def test_secrets_are_not_in_the_repr():
    cfg = edge_config.from_dict({**EDGE, "mqtt_password": "rahasia"})
    assert "rahasia" not in repr(cfg)


@pytest.mark.parametrize(
    "data, error",
    [
        pytest.param({"secret_key": "short"}, "secret_key: must be at least 32", id="secret-short"),
        pytest.param({"secret_key": "s" * 40, "booking_days": 0}, "booking_days: must be at least 1", id="days"),
        pytest.param({"secret_key": "s" * 40, "http_port": "8080"}, "http_port: expected int", id="port-text"),
        pytest.param({"secret_key": "s" * 40, "databse_url": "x"}, "databse_url: unknown field", id="typo"),
        pytest.param({"secret_key": "s" * 40, "database_url": "mysql://x"}, "database_url: sqlite:///path or", id="db"),
        pytest.param({"secret_key": "s" * 40, "mqtt_ca": "/nonexistent/ca.crt"}, "mqtt_ca: no such file", id="ca"),
        pytest.param({"secret_key": "s" * 40, "mqtt_cert": __file__}, "mqtt_cert: needs mqtt_ca", id="cert-no-ca"),
        pytest.param(
            {"secret_key": "s" * 40, "mqtt_ca": __file__, "mqtt_key": __file__}, "mqtt_key: needs mqtt_cert", id="key"
        ),
    ],
)
def test_central_config_refuses_with_the_field_named(data, error):
    with pytest.raises(ConfigError, match=error):
        central_config.from_dict(data)


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path):
    (tmp_path / "bad.toml").write_text("node_id = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        edge_config.load(tmp_path / "bad.toml")


def test_mqtt_in_clear_text_to_another_host_is_logged_as_a_warning(caplog):
    from edge.app import mqtt_settings

    remote = edge_config.from_dict({**EDGE, "mqtt_host": "central.example"})
    mqtt_settings(remote)
    assert "MQTT to central.example is NOT encrypted" in caplog.text
    caplog.clear()
    mqtt_settings(edge_config.from_dict({**EDGE, "mqtt_host": "127.0.0.1"}))
    assert "NOT encrypted" not in caplog.text
