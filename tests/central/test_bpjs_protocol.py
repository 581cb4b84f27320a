"""BPJS wire formats as pure functions: every test vector of the reference, LZ-String, the envelope."""

from __future__ import annotations

import base64
import contextlib
import json
import random

import pytest

from bpjs import crypto, lzstring
from bpjs.config import BpjsConfig
from bpjs.errors import BpjsAuthError, BpjsError, BpjsMalformed, BpjsUnavailable, mask, mask_numbers
from bpjs.pcare import ACTIVE, INACTIVE, OTHER_FKTP, membership_from
from bpjs.transport import parse_envelope

# --- the reference's test vectors ------------------------------------------------------------

VECTOR_PLAINTEXT = '{"noKartu":"0001234567890","nama":"BUDI SANTOSO","aktif":true,"ketAktif":"AKTIF"}'
VECTOR_LZ = (
    "N4Igdg9g0ghgTgFwK4gFwgAxYIwCYDMALAKwBsA7ABwCcGIANODALYxogBCAqgCICSAAgDKAQQByAFQDyQqQxAwA1ggCWAMzQI4SAKaNFOhCOXr2IqBL"
    "4AxEAF8gA"
)
VECTOR_CIPHERTEXT = (
    "AoRypQbBUZVyq0Z92ptkXLPCTayujxLQJ5wMz6iNt9YJYCrkiWdZgpLwRANNk+U5SRkdIweYNcnhY+qvSy+cHaBmF2i1doWTDgCmPuf2c8GakpcSnGSF"
    "Uy6VuoSCPtkhi7QW57YanlGCubrxxvvEXcaBRikCSguoucHcatvqoPk="
)


@pytest.mark.parametrize(
    ("message", "key", "expected"),
    [
        pytest.param("aaa", "bbb", "20BKS3PWnD3XU4JbSSZvVlGi2WWnDa8Sv9uHJ+wsELA=", id="official-bpjs-vector"),
        pytest.param("1234&433223232", "pwd", "eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk=", id="catalogue-inputs"),
        pytest.param("1234&1700000000", "abcd", "9UFN8VnB+TBdmya8WuKmSu4eiYxkHI1kfh8Wgb41EGc=", id="round-trip-inputs"),
    ],
)
def test_signature_vectors(message, key, expected):
    assert crypto.hmac_base64(message, key) == expected


def test_x_signature_is_the_hmac_of_consid_ampersand_timestamp():
    assert crypto.signature("1234", "pwd", "433223232") == "eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk="
    assert crypto.signature("1234", "abcd", "1700000000") == "9UFN8VnB+TBdmya8WuKmSu4eiYxkHI1kfh8Wgb41EGc="


def test_x_authorization_vector():
    assert crypto.authorization("user", "pass", "095") == "Basic dXNlcjpwYXNzOjA5NQ=="
    assert crypto.authorization("user", "pass") == "Basic dXNlcjpwYXNzOjA5NQ=="


def test_key_and_iv_vector():
    key, iv = crypto.key_and_iv("1234", "abcd", "1700000000")
    assert key.hex() == "a0fd579c7b78afa98caaedc32c80013fbe27d74ffa75b219f848458614dac8b2"
    assert iv.hex() == "a0fd579c7b78afa98caaedc32c80013f"


def test_lzstring_vector():
    assert lzstring.compress_to_encoded_uri_component(VECTOR_PLAINTEXT) == VECTOR_LZ
    assert lzstring.decompress_from_encoded_uri_component(VECTOR_LZ) == VECTOR_PLAINTEXT


def test_encryption_vector_both_ways():
    assert crypto.encrypt_text(VECTOR_PLAINTEXT, "1234", "abcd", "1700000000") == VECTOR_CIPHERTEXT
    assert crypto.decrypt_text(VECTOR_CIPHERTEXT, "1234", "abcd", "1700000000") == VECTOR_PLAINTEXT
    assert crypto.decrypt_payload(VECTOR_CIPHERTEXT, "1234", "abcd", "1700000000") == json.loads(VECTOR_PLAINTEXT)


def test_payload_json_is_compact_like_the_vector():
    assert crypto.payload_json(json.loads(VECTOR_PLAINTEXT)) == VECTOR_PLAINTEXT


@pytest.mark.parametrize(
    ("cons_id", "secret", "timestamp"),
    [
        pytest.param("1235", "abcd", "1700000000", id="other-consid"),
        pytest.param("1234", "abce", "1700000000", id="other-secret"),
        pytest.param("1234", "abcd", "1700000001", id="timestamp-one-second-later"),
    ],
)
def test_the_vector_does_not_decrypt_with_another_key(cons_id, secret, timestamp):
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt_payload(VECTOR_CIPHERTEXT, cons_id, secret, timestamp)


# --- LZ-String ------------------------------------------------------------------------------


def test_lzstring_edge_cases_match_javascript():
    assert lzstring.compress_to_encoded_uri_component("") == "Q"
    assert lzstring.decompress_from_encoded_uri_component("Q") == ""
    with pytest.raises(lzstring.LZStringError):
        lzstring.decompress_from_encoded_uri_component("")


def test_lzstring_round_trips_random_text_with_non_ascii_and_astral_characters():
    rng = random.Random(8)
    alphabet = list('ab+/=:"{} é日本\n😀') + [chr(i) for i in range(32, 127)]
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3000)))
        packed = lzstring.compress_to_encoded_uri_component(text)
        assert set(packed) <= set(lzstring.URI_SAFE_ALPHABET)
        assert lzstring.decompress_from_encoded_uri_component(packed) == text


def test_an_astral_character_compresses_as_two_utf16_units_like_javascript():
    # npm lz-string 1.5.0: compressToEncodedURIComponent("😀") === "rwbgA9o"
    assert lzstring.compress_to_encoded_uri_component("😀") == "rwbgA9o"


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("N4Igdg9g0ghgTgFwK4gF", id="truncated"),
        pytest.param("N4Igdg9g0ghg!gFwK4gF", id="foreign-character"),
        pytest.param("/////////", id="undefined-code"),
        pytest.param(VECTOR_LZ[:-8], id="vector-cut-short"),
    ],
)
def test_lzstring_refuses_broken_streams(broken):
    with pytest.raises(lzstring.LZStringError):
        lzstring.decompress_from_encoded_uri_component(broken)


def test_garbage_gives_lzstring_error_or_text_never_another_exception():
    rng = random.Random(3)
    for _ in range(2000):
        garbage = "".join(rng.choice(lzstring.URI_SAFE_ALPHABET) for _ in range(rng.randint(1, 120)))
        with contextlib.suppress(lzstring.LZStringError):
            assert isinstance(lzstring.decompress_from_encoded_uri_component(garbage), str)


def test_random_ciphertext_gives_decrypt_error_never_another_exception():
    rng = random.Random(4)
    for _ in range(300):
        blob = base64.b64encode(rng.randbytes(16 * rng.randint(1, 8))).decode()
        with pytest.raises(crypto.DecryptError):
            crypto.decrypt_payload(blob, "1234", "abcd", "1700000000")


# --- the envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        pytest.param({"metaData": {"message": "OK", "code": 200}, "response": None}, 200, "OK", id="pcare"),
        pytest.param({"metadata": {"message": "Ok", "code": 200}, "response": []}, 200, "Ok", id="antrean-lower"),
        pytest.param({"metaData": {"message": "OK", "code": "200"}}, 200, "OK", id="vclaim-string-code"),
        pytest.param({"metadata": {"message": "Ok", "code": 1}}, 1, "Ok", id="code-one"),
        pytest.param({"metadata": {"message": "No Content", "code": " 201 "}}, 201, "No Content", id="padded"),
        pytest.param({"metaData": {"message": "x"}}, 200, "x", id="no-code-uses-http-status"),
    ],
)
def test_envelopes_in_each_spelling(body, code, message):
    env = parse_envelope(200, json.dumps(body).encode(), "1700000000")
    assert (env.code, env.message, env.timestamp) == (code, message, "1700000000")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        pytest.param(500, b"<html>Internal Server Error</html>", BpjsUnavailable, id="html-500"),
        pytest.param(502, b"", BpjsUnavailable, id="empty-502"),
        pytest.param(401, b"Unauthorized", BpjsAuthError, id="plain-401"),
        pytest.param(200, b"<html>gateway</html>", BpjsMalformed, id="html-200"),
        pytest.param(200, b'{"response": "x"}', BpjsMalformed, id="no-metadata"),
        pytest.param(200, b'["metaData"]', BpjsMalformed, id="json-list"),
        pytest.param(200, b"\xff\xfe", BpjsMalformed, id="not-utf8"),
        pytest.param(404, b"<html>Not Found</html>", BpjsError, id="wrong-url"),
    ],
)
def test_answers_without_an_envelope_are_typed_errors_in_indonesian(status, body, error):
    with pytest.raises(error) as caught:
        parse_envelope(status, body)
    assert "BPJS" in caught.value.message


def test_ciphertext_is_recognised_and_plain_values_pass_through():
    assert crypto.ciphertext_bytes(VECTOR_CIPHERTEXT) is not None
    for plain in (None, "", "   ", [], {"list": []}, "Data tidak ditemukan", "QUJD"):  # QUJD = 3 bytes
        assert crypto.ciphertext_bytes(plain) is None


# --- membership rules, config, masking --------------------------------------------------------


def _payload(**changes):
    base = {
        "noKartu": "0001234567890",
        "nama": "BUDI SANTOSO",
        "aktif": True,
        "ketAktif": "AKTIF",
        "kdProviderPst": {"kdProvider": "0403P001", "nmProvider": "PUSKESMAS CIBINONG"},
        "tglAkhirBerlaku": "31-12-2050",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("payload", "ppk", "status"),
    [
        pytest.param(_payload(), "0403P001", ACTIVE, id="active-here"),
        pytest.param(_payload(), "", ACTIVE, id="active-no-own-code-configured"),
        pytest.param(_payload(), "0403p001", ACTIVE, id="code-case-insensitive"),
        pytest.param(_payload(), "0403P002", OTHER_FKTP, id="registered-elsewhere"),
        pytest.param(_payload(aktif=False, ketAktif="TIDAK AKTIF"), "0403P001", INACTIVE, id="inactive"),
        pytest.param(_payload(aktif="false", ketAktif="AKTIF"), "", INACTIVE, id="aktif-as-string"),
        pytest.param({k: v for k, v in _payload().items() if k != "aktif"}, "", ACTIVE, id="only-ketaktif"),
        pytest.param(_payload(aktif=False), "0403P002", INACTIVE, id="inactive-wins-over-elsewhere"),
    ],
)
def test_membership_status(payload, ppk, status):
    assert membership_from(payload, ppk).status == status


def test_membership_repr_hides_personal_data():
    text = repr(membership_from(_payload(noKTP="3201011705900001"), ""))
    assert "BUDI" not in text and "0001234567890" not in text and "3201011705900001" not in text


def test_config_repr_hides_secrets_and_validate_names_the_field():
    cfg = BpjsConfig(cons_id="1234", secret="s3cret", pcare_user_key="uk", pcare_password="pw")
    assert "s3cret" not in repr(cfg) and "uk'" not in repr(cfg) and "pw" not in repr(cfg)
    assert cfg.antrean_key == "uk"
    with pytest.raises(ValueError, match="secret"):
        BpjsConfig(cons_id="1234", secret="", pcare_user_key="uk").validate()
    with pytest.raises(ValueError, match="cons_id"):
        BpjsConfig(cons_id="12a4", secret="s", pcare_user_key="uk").validate()
    with pytest.raises(ValueError, match="read_timeout"):
        BpjsConfig(cons_id="1234", secret="s", pcare_user_key="uk", read_timeout=0).validate()
    with pytest.raises(ValueError, match="unknown field 'sekret'"):
        BpjsConfig.from_dict({"cons_id": "1234", "sekret": "s", "pcare_user_key": "uk"})


def test_masking():
    assert mask("0001234500001") == "*********0001"
    assert mask("3201015708900002") == "************0002"
    assert mask("") == "****"
    assert mask_numbers("kartu 0001234500001 dan NIK 3201015708900002, poli 001") == (
        "kartu *********0001 dan NIK ************0002, poli 001"
    )
