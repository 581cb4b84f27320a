"""The signed QR reservation pass: round trip, every rejection path, size, alphabet, privacy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.util import MODE_ALPHA_NUM, QRData

from protocol import base45, qrpass
from protocol.qrpass import PREFIX, Pass, PassError, SigningKey

WIB = ZoneInfo("Asia/Jakarta")
KEY = SigningKey.from_private(bytes(range(32)))
OTHER_KEY = SigningKey.from_private(bytes(range(100, 132)))
KEYS = {KEY.kid: KEY.public}
HERE = "P3201010101"
TODAY = dt.date(2026, 11, 26)
END_OF_DAY = int(dt.datetime(2026, 11, 26, 23, 59, 59, tzinfo=WIB).timestamp())
NOW = dt.datetime(2026, 11, 26, 8, 30, tzinfo=WIB).timestamp()
PASS = Pass(
    rid="3f9c0a7d21b4e865",
    puskesmas=HERE,
    poli="UMUM",
    date=TODAY.isoformat(),
    slot="08:00-09:00",
    payer="BPJS",
    exp=END_OF_DAY,
)
PAYLOAD_FIELDS = {"rid", "puskesmas", "poli", "date", "slot", "payer", "exp"}
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _verify(text, keys=KEYS, puskesmas=HERE, today=TODAY, now_ts=NOW):
    return qrpass.verify(text, keys, puskesmas, today, now_ts)


def _raw(text: str) -> bytes:
    return base45.decode(text[len(PREFIX) :])


def _text(raw: bytes) -> str:
    return PREFIX + base45.encode(raw)


def _forge(payload: bytes, *, version: int = qrpass.VERSION, kid: str = KEY.kid, signer: SigningKey = KEY) -> str:
    """A pass built by hand: lets a test choose the version byte, the kid and the signing key apart."""
    body = bytes([version]) + bytes.fromhex(kid) + payload
    sig = Ed25519PrivateKey.from_private_bytes(signer.private).sign(body)
    return _text(body + sig)


def _payload(p: Pass = PASS) -> bytes:
    return json.dumps(dataclasses.asdict(p), separators=(",", ":"), sort_keys=True).encode()


def _flip(raw: bytes, i: int) -> bytes:
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]


VALID = qrpass.sign(PASS, KEY)


# ---- round trip ------------------------------------------------------------------------------


def test_sign_then_verify_returns_the_pass():
    assert _verify(VALID) == PASS


def test_verify_with_keys_loaded_from_a_bundle():
    keys = qrpass.load_public_keys({KEY.kid: KEY.public_b64()})
    assert keys == {KEY.kid: KEY.public}
    assert _verify(VALID, keys=keys) == PASS


def test_generated_key_round_trip():
    key = SigningKey.generate()
    assert key.kid == qrpass.key_id(key.public)
    assert SigningKey.from_private(key.private) == key
    assert _verify(qrpass.sign(PASS, key), keys={key.kid: key.public}) == PASS


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda t: t + "\r", id="scanner-sends-cr"),
        pytest.param(lambda t: t + "\n", id="scanner-sends-lf"),
        pytest.param(lambda t: "  " + t + " \r\n", id="surrounding-whitespace"),
    ],
)
def test_scanner_line_endings_are_accepted(wrap):
    assert _verify(wrap(VALID)) == PASS


def test_verify_trusts_any_of_several_keys():
    keys = {KEY.kid: KEY.public, OTHER_KEY.kid: OTHER_KEY.public}
    assert _verify(qrpass.sign(PASS, OTHER_KEY), keys=keys) == PASS
    assert _verify(VALID, keys=keys) == PASS


def test_expiry_boundary_is_inclusive():
    assert _verify(VALID, now_ts=PASS.exp) == PASS
    with pytest.raises(PassError) as exc:
        _verify(VALID, now_ts=PASS.exp + 0.001)
    assert exc.value.code == "expired"


def test_a_pass_is_deterministic_for_the_same_key():
    # Ed25519 is deterministic: central can re-render a lost QR and get the same text.
    assert qrpass.sign(PASS, KEY) == VALID


# ---- rejection paths -------------------------------------------------------------------------

REJECTIONS = [
    pytest.param(lambda: "RS2:" + VALID[4:], {}, "format", id="format-wrong-prefix"),
    pytest.param(lambda: VALID[4:], {}, "format", id="format-no-prefix"),
    pytest.param(lambda: VALID.lower(), {}, "format", id="format-lower-case"),
    pytest.param(lambda: "", {}, "format", id="format-empty"),
    pytest.param(lambda: None, {}, "format", id="format-none"),
    pytest.param(lambda: "https://example.com/?p=" + VALID, {}, "format", id="format-url"),
    pytest.param(lambda: PREFIX + "abc", {}, "format", id="format-not-base45-char"),
    pytest.param(lambda: VALID + "0", {}, "format", id="format-base45-length"),
    pytest.param(lambda: PREFIX + "GGW" + VALID[7:], {}, "format", id="format-base45-overflow"),
    pytest.param(lambda: _text(_raw(VALID)[:74]), {}, "format", id="format-too-short"),
    pytest.param(lambda: PREFIX, {}, "format", id="format-prefix-only"),
    pytest.param(lambda: PREFIX + "0" * 597, {}, "format", id="format-text-too-long"),
    pytest.param(
        lambda: qrpass.sign(dataclasses.replace(PASS, rid="x" * 400), KEY),
        {},
        "format",
        id="format-signed-but-too-long",
    ),
    pytest.param(lambda: _forge(_payload(), version=2), {}, "format", id="format-wrong-version"),
    pytest.param(lambda: _forge(_payload(), version=0), {}, "format", id="format-version-zero"),
    pytest.param(lambda: _forge(b"[1,2]"), {}, "format", id="format-signed-payload-not-object"),
    pytest.param(lambda: _forge(b'{"rid":"x"}'), {}, "format", id="format-signed-payload-missing-fields"),
    pytest.param(lambda: _forge(b"\xff\xfe"), {}, "format", id="format-signed-payload-not-utf8"),
    pytest.param(
        lambda: _forge(_payload()[:-1] + b',"nik":"3201011705900001"}'), {}, "format", id="format-signed-extra-field"
    ),
    pytest.param(lambda: qrpass.sign(PASS, OTHER_KEY), {}, "unknown-key", id="unknown-key"),
    pytest.param(lambda: VALID, {"keys": {}}, "unknown-key", id="unknown-key-no-keys-provisioned"),
    pytest.param(
        lambda: _forge(_payload(), signer=OTHER_KEY), {}, "signature", id="signature-resigned-claiming-trusted-kid"
    ),
    pytest.param(
        lambda: VALID, {"keys": {KEY.kid: OTHER_KEY.public}}, "signature", id="signature-kid-maps-to-other-public-key"
    ),
    pytest.param(
        lambda: _text(_raw(VALID)[:-64] + _raw(qrpass.sign(dataclasses.replace(PASS, poli="GIGI"), KEY))[-64:]),
        {},
        "signature",
        id="signature-from-another-pass",
    ),
    pytest.param(
        lambda: _text(_raw(VALID)[:-64].replace(b'"UMUM"', b'"GIGI"') + _raw(VALID)[-64:]),
        {},
        "signature",
        id="signature-payload-edited",
    ),
    pytest.param(
        lambda: qrpass.sign(dataclasses.replace(PASS, puskesmas="P3201010102"), KEY),
        {},
        "other-puskesmas",
        id="qr-other-puskesmas",
    ),
    pytest.param(
        lambda: qrpass.sign(dataclasses.replace(PASS, date="2026-11-27"), KEY), {}, "not-today", id="not-today-tomorrow"
    ),
    pytest.param(
        lambda: qrpass.sign(dataclasses.replace(PASS, date="2027-01-05"), KEY),
        {},
        "not-today",
        id="not-today-next-year",
    ),
    pytest.param(
        lambda: qrpass.sign(dataclasses.replace(PASS, date="2026-11-25"), KEY), {}, "expired", id="expired-yesterday"
    ),
    pytest.param(lambda: VALID, {"now_ts": END_OF_DAY + 1}, "expired", id="expired-same-day-after-exp"),
    pytest.param(
        lambda: VALID, {"today": dt.date(2026, 11, 27), "now_ts": NOW + 86400}, "expired", id="expired-next-day"
    ),
]


@pytest.mark.parametrize(("make", "kwargs", "code"), REJECTIONS)
def test_rejections_have_a_stable_code(make, kwargs, code):
    with pytest.raises(PassError) as exc:
        _verify(make(), **kwargs)
    assert exc.value.code == code


@pytest.mark.parametrize(("make", "kwargs", "code"), REJECTIONS)
def test_rejection_messages_are_indonesian_and_never_echo_the_qr(make, kwargs, code):
    text = make()
    with pytest.raises(PassError) as exc:
        _verify(text, **kwargs)
    message = str(exc.value)
    assert message and message.endswith(".")
    assert PREFIX not in message
    if text and len(text) > len(PREFIX) + 6:
        assert text.strip()[len(PREFIX) : len(PREFIX) + 6] not in message
    # English words a developer might leave in: none of them reach the kiosk
    for english in ("invalid", "signature", "key", "expired", "error", "format"):
        assert english not in message.lower()
    assert any(word in message for word in ("Kode QR", "Reservasi", "Isi kode QR"))


@pytest.mark.parametrize(
    ("date", "code", "message"),
    [
        pytest.param(
            "2026-11-27", "not-today", "Reservasi ini untuk tanggal 27-11-2026, bukan hari ini.", id="not-today"
        ),
        pytest.param("2026-11-20", "expired", "Reservasi ini sudah lewat (tanggal 20-11-2026).", id="past-date"),
    ],
)
def test_date_messages_show_the_reserved_date_as_indonesians_write_it(date, code, message):
    with pytest.raises(PassError) as exc:
        _verify(qrpass.sign(dataclasses.replace(PASS, date=date), KEY))
    assert (exc.value.code, str(exc.value)) == (code, message)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: qrpass.sign(PASS, OTHER_KEY), "Kode QR tidak sah (kunci tidak dikenal).", id="unknown-key"
        ),
        pytest.param(
            lambda: _forge(_payload(), signer=OTHER_KEY),
            "Kode QR tidak sah (tanda tangan tidak cocok).",
            id="signature",
        ),
        pytest.param(
            lambda: qrpass.sign(dataclasses.replace(PASS, puskesmas="P3201010102"), KEY),
            "Reservasi ini untuk puskesmas lain. Silakan ke puskesmas yang dipilih saat reservasi.",
            id="qr-other-puskesmas",
        ),
    ],
)
def test_kiosk_messages(make, message):
    with pytest.raises(PassError) as exc:
        _verify(make())
    assert str(exc.value) == message


def _body_and_sig_positions():
    n = len(_raw(VALID))
    return range(9, n)  # payload (from byte 9) and signature (last 64 bytes)


def test_every_flipped_payload_or_signature_byte_is_a_bad_signature():
    raw = _raw(VALID)
    codes = set()
    for i in _body_and_sig_positions():
        with pytest.raises(PassError) as exc:
            _verify(_text(_flip(raw, i)))
        codes.add(exc.value.code)
    assert codes == {"signature"}


def test_every_flipped_kid_byte_is_an_unknown_key():
    raw = _raw(VALID)
    for i in range(1, 9):
        with pytest.raises(PassError) as exc:
            _verify(_text(_flip(raw, i)))
        assert exc.value.code == "unknown-key"


def test_flipped_version_byte_is_a_format_error():
    with pytest.raises(PassError) as exc:
        _verify(_text(_flip(_raw(VALID), 0)))
    assert exc.value.code == "format"


def test_random_single_character_corruptions_are_never_accepted():
    rng = random.Random(20261126)
    alphabet = base45.ALPHABET + "abcxyz#=\n\r\t_"
    codes = {}
    for _ in range(500):
        pos = rng.randrange(len(VALID))
        ch = rng.choice([c for c in alphabet if c != VALID[pos]])
        corrupted = VALID[:pos] + ch + VALID[pos + 1 :]
        with pytest.raises(PassError) as exc:
            _verify(corrupted)
        codes[exc.value.code] = codes.get(exc.value.code, 0) + 1
    # A corruption must be caught before the puskesmas/date checks, which trust the content.
    assert set(codes) <= {"format", "unknown-key", "signature"}
    assert codes.get("signature", 0) > 250


# ---- what the QR text holds ------------------------------------------------------------------


def test_payload_holds_only_ids_codes_date_slot_payer_and_expiry():
    raw = _raw(VALID)
    assert raw[0] == qrpass.VERSION
    assert raw[1:9].hex() == KEY.kid
    payload = json.loads(raw[9:-64])
    assert set(payload) == PAYLOAD_FIELDS
    assert {f.name for f in dataclasses.fields(Pass)} == PAYLOAD_FIELDS
    assert payload == dataclasses.asdict(PASS)


REALISTIC = [
    pytest.param(PASS, id="kabupaten-code"),
    pytest.param(dataclasses.replace(PASS, puskesmas="cibinong", poli="KIA", payer="UMUM"), id="short-code"),
    pytest.param(
        dataclasses.replace(PASS, puskesmas="pkm-cibinong-kab-bogor", poli="GIGI-MULUT", slot="11:00-12:00"),
        id="long-codes",
    ),
    pytest.param(dataclasses.replace(PASS, rid="f" * 32, exp=4102444799), id="longest-rid-year-2099"),
]


@pytest.mark.parametrize("p", REALISTIC)
def test_realistic_pass_is_short_enough_for_a_small_qr(p):
    text = qrpass.sign(p, KEY)
    assert len(text) < 360
    assert _verify(text, puskesmas=p.puskesmas, now_ts=NOW) == p


@pytest.mark.parametrize("p", REALISTIC)
def test_text_uses_only_qr_alphanumeric_characters(p):
    text = qrpass.sign(p, KEY)
    assert set(text) <= QR_ALPHANUMERIC
    assert text.startswith("RS1:")
    # what the QR library will do with it: one alphanumeric segment, not bytes
    assert QRData(text).mode == MODE_ALPHA_NUM


# ---- keys ------------------------------------------------------------------------------------


def test_key_id_is_sha256_prefix_of_public_key():
    assert len(KEY.kid) == 16
    assert KEY.kid == qrpass.key_id(KEY.public)
    assert KEY.kid != OTHER_KEY.kid


@pytest.mark.parametrize(
    "bundle",
    [
        pytest.param({OTHER_KEY.kid: KEY.public_b64()}, id="kid-of-another-key"),
        pytest.param({"0" * 16: KEY.public_b64()}, id="made-up-kid"),
        pytest.param({KEY.kid.upper(): KEY.public_b64()}, id="kid-upper-case"),
        pytest.param({KEY.kid: KEY.public_b64(), OTHER_KEY.kid: KEY.public_b64()}, id="second-entry-wrong"),
        pytest.param({KEY.kid: "AAAA"}, id="key-too-short"),
    ],
)
def test_load_public_keys_rejects_a_kid_that_does_not_match(bundle):
    with pytest.raises(ValueError):
        qrpass.load_public_keys(bundle)
