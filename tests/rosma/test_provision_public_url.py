"""Central's public address reaches the edge through ``rosma provision`` (for the QR on every
ticket): from central's ``public_url`` or ``--central-public-url``; never a non-http(s) value."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from central import config as central_config
from central import db as central_db
from central import keys
from central.models import Node, Poli, Puskesmas
from edge import config as edge_config
from infra.config import ConfigError, write
from rosma import cli
from rosma.demo import lan_address
from rosma.provision import provision_node

PUBLIC = "https://antrean.bogorkab.go.id"
BAD = [
    pytest.param("antrean.bogorkab.go.id", id="no-scheme"),
    pytest.param("ftp://antrean.bogorkab.go.id", id="ftp"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("https://", id="no-host"),
    pytest.param("https://antrean bogor.go.id", id="space"),
    pytest.param("https://antrean.bogorkab.go.id/?x=1", id="query"),
    pytest.param("https://antrean.bogorkab.go.id/#top", id="fragment"),
    pytest.param("https://admin:pw@antrean.bogorkab.go.id", id="credentials"),
    pytest.param("https://antrean.bogorkab.go.id:port", id="bad-port"),
    pytest.param(" https://antrean.bogorkab.go.id", id="leading-space"),
]


@pytest.fixture
def central(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'c.db'}")
    keys.bind(tmp_path / "keys")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U")
    yield pkm
    central_db.database.close()


def provision(tmp_path, **kw):
    return provision_node(
        "cibinong", "pkm-cibinong", tmp_path / "broker", tmp_path / "edge.toml", "127.0.0.1", 18830, **kw
    )


def test_the_public_url_is_handed_to_the_edge(tmp_path, central):
    edge = provision(tmp_path, central_public_url=PUBLIC)

    assert edge.central_public_url == PUBLIC
    assert edge_config.load(tmp_path / "edge.toml").central_public_url == PUBLIC


def test_without_one_the_edge_prints_tickets_without_the_link_and_is_warned_of(tmp_path, central, caplog):
    with caplog.at_level(logging.WARNING):
        edge = provision(tmp_path)

    assert edge.central_public_url == ""
    assert "without their QR link" in caplog.text


@pytest.mark.parametrize("url", BAD)
def test_a_value_that_is_not_an_http_address_is_refused_and_nothing_is_made(tmp_path, central, url):
    with pytest.raises(ValueError, match="http"):
        provision(tmp_path, central_public_url=url)

    assert not (tmp_path / "edge.toml").exists() and Node.select().count() == 0


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.1.2.3"],
)
def test_a_loopback_address_is_provisioned_with_a_warning(tmp_path, central, caplog, url):
    with caplog.at_level(logging.WARNING):
        edge = provision(tmp_path, central_public_url=url)

    assert edge.central_public_url == url
    assert "loopback" in caplog.text and "phones cannot open" in caplog.text


@pytest.mark.parametrize("url", BAD)
def test_both_configs_refuse_a_bad_public_url(url):
    with pytest.raises(ConfigError, match="public_url"):
        central_config.from_dict({"secret_key": "x" * 32, "public_url": url})
    with pytest.raises(ConfigError, match="central_public_url"):
        edge_config.from_dict(
            {
                "node_id": "pkm-a",
                "puskesmas_code": "a",
                "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
                "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
                "central_public_url": url,
            }
        )


@pytest.mark.parametrize(
    "url",
    ["", PUBLIC, PUBLIC + "/", "http://192.168.1.20:8080", "https://pkm.example.id/rosma", "https://[2001:db8::1]"],
)
def test_good_public_urls(url):
    assert central_config.from_dict({"secret_key": "x" * 32, "public_url": url}).public_url == url


def _central_toml(tmp_path, public_url: str):
    path = tmp_path / "central.toml"
    cfg = central_config.from_dict(
        {
            "database_url": f"sqlite:///{tmp_path / 'c.db'}",
            "secret_key": "x" * 32,
            "keys_dir": str(tmp_path / "keys"),
            "public_url": public_url,
        }
    )
    write(path, cfg)
    return path


def _cli(tmp_path, *extra):
    return cli.main(
        [
            "provision",
            "--central-config",
            str(tmp_path / "central.toml"),
            "--puskesmas",
            "cibinong",
            "--broker-dir",
            str(tmp_path / "broker"),
            "--mqtt-port",
            "1883",
            "--out",
            str(tmp_path / "edge.toml"),
            *extra,
        ]
    )


def test_rosma_provision_hands_over_centrals_public_url(tmp_path, central):
    _central_toml(tmp_path, PUBLIC)

    assert _cli(tmp_path) == 0
    assert edge_config.load(tmp_path / "edge.toml").central_public_url == PUBLIC


def test_the_option_overrides_centrals_setting(tmp_path, central):
    _central_toml(tmp_path, PUBLIC)

    assert _cli(tmp_path, "--central-public-url", "https://pkm-cibinong.example.id") == 0
    assert edge_config.load(tmp_path / "edge.toml").central_public_url == "https://pkm-cibinong.example.id"


def test_rosma_provision_refuses_a_bad_option_with_a_clear_error(tmp_path, central, capsys):
    _central_toml(tmp_path, PUBLIC)

    assert _cli(tmp_path, "--central-public-url", "antrean.bogorkab.go.id") == 2
    err = capsys.readouterr().err
    assert "central public URL 'antrean.bogorkab.go.id'" in err and "http(s)" in err
    assert not (tmp_path / "edge.toml").exists()


def test_the_demo_address_is_this_machines_lan_address_or_loopback():
    address = ipaddress.ip_address(lan_address())

    assert address.version == 4 and not address.is_unspecified
