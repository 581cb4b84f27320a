"""The BPJS credentials file: refused at start-up when others can read it or it is broken; read per puskesmas."""

from __future__ import annotations

import os

import pytest

from central import bpjs_credentials
from central.config import from_dict
from infra.config import ConfigError

SECRET = "test-secret-key-0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def unbound():
    yield
    bpjs_credentials.bind(None)


def _config(path) -> dict:
    return {"secret_key": SECRET, "bpjs_credentials": str(path)}


def test_the_fake_credentials_give_each_demo_puskesmas_its_consumer(tmp_path):
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", "http://127.0.0.1:18090")
    assert os.stat(path).st_mode & 0o777 == 0o600
    cfg = from_dict(_config(path))
    bpjs_credentials.bind(cfg.bpjs_credentials)
    cibinong = bpjs_credentials.for_puskesmas("cibinong")
    assert cibinong.cons_id == "10001" and cibinong.pcare_url == "http://127.0.0.1:18090/pcare-rest"
    assert bpjs_credentials.for_puskesmas("ciawi").ppk_code == "0403P002"
    assert bpjs_credentials.for_puskesmas("bojonggede") is None
    assert "rosma-fake-bpjs" not in repr(cibinong)  # the secret never shows


def test_a_file_others_can_read_is_refused_at_start_up_without_showing_a_secret(tmp_path):
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", "http://127.0.0.1:18090")
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError) as exc:
        from_dict(_config(path))
    assert "bpjs_credentials" in str(exc.value) and "chmod 600" in str(exc.value)
    assert "rosma-fake-bpjs" not in str(exc.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[cibinong]\ncons_id = "10001"\nsecret = "s3cret-value"\n', "pcare_user_key"),
        ('[cibinong]\ncons_id = "abc"\nsecret = "s3cret-value"\npcare_user_key = "k"\n', "digits only"),
        ('[cibinong]\ncons_id = "1"\nsecret = "s3cret-value"\npcare_user_key = "k"\ncolour = "x"\n', "colour"),
        ('cibinong = "s3cret-value"\n', "must be a table"),
        ('[cibinong\nsecret = "s3cret-value"\n', "not valid TOML"),
    ],
)
def test_a_broken_file_is_refused_naming_what_is_wrong(tmp_path, text, expected):
    path = tmp_path / "bpjs.toml"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError) as exc:
        from_dict(_config(path))
    assert expected in str(exc.value) and "s3cret-value" not in str(exc.value)


def test_no_setting_means_bpjs_is_not_configured(tmp_path):
    cfg = from_dict({"secret_key": SECRET})
    bpjs_credentials.bind(cfg.bpjs_credentials)
    assert not bpjs_credentials.configured() and bpjs_credentials.for_puskesmas("cibinong") is None
    with pytest.raises(ConfigError, match="no such file"):
        from_dict(_config(tmp_path / "missing.toml"))


def test_a_changed_file_is_read_again_and_a_broken_one_is_not_used(tmp_path):
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", "http://127.0.0.1:18090")
    bpjs_credentials.bind(path)
    assert bpjs_credentials.for_puskesmas("cibinong").pcare_url.startswith("http://127.0.0.1:18090")
    bpjs_credentials.write_fake(path, "http://127.0.0.1:18091")
    os.utime(path, ns=(1, 1))  # a different stamp even within the same clock tick
    assert bpjs_credentials.for_puskesmas("cibinong").pcare_url.startswith("http://127.0.0.1:18091")
    os.chmod(path, 0o644)
    assert bpjs_credentials.for_puskesmas("cibinong") is None
