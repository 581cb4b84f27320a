"""Base45 (RFC 9285) against the RFC's published examples, round trips and bad input."""

from __future__ import annotations

import random

import pytest

from protocol import base45

# RFC 9285 sections 4.3 and 4.4.
RFC_EXAMPLES = [
    pytest.param(b"AB", "BB8", id="rfc-AB"),
    pytest.param(b"Hello!!", "%69 VD92EX0", id="rfc-hello"),
    pytest.param(b"base-45", "UJCLQE7W581", id="rfc-base-45"),
    pytest.param(b"ietf!", "QED8WEX0", id="rfc-ietf"),
]

# The QR code alphanumeric mode character set (ISO/IEC 18004, table 5), in value order.
QR_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_encode_matches_rfc_examples(data, text):
    assert base45.encode(data) == text


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_decode_matches_rfc_examples(data, text):
    assert base45.decode(text) == data


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"\x00", "00", id="one-zero-byte"),
        pytest.param(b"\xff", "U5", id="one-max-byte"),
        pytest.param(b"\x00\x00", "000", id="two-zero-bytes"),
        pytest.param(b"\xff\xff", "FGW", id="two-max-bytes"),
    ],
)
def test_edge_values(data, text):
    assert base45.encode(data) == text
    assert base45.decode(text) == data


def test_alphabet_is_the_qr_alphanumeric_set():
    assert base45.ALPHABET == QR_ALPHANUMERIC


@pytest.mark.parametrize("length", range(51))
def test_random_bytes_round_trip(length):
    rng = random.Random(9285 + length)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(length))
        text = base45.encode(data)
        # 2 bytes -> 3 characters, a trailing odd byte -> 2 characters
        assert len(text) == 3 * (length // 2) + 2 * (length % 2)
        assert set(text) <= set(QR_ALPHANUMERIC)
        assert base45.decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("bb8", id="lower-case"),
        pytest.param("BB#", id="hash-not-in-alphabet"),
        pytest.param("BB8\n", id="trailing-newline"),
        pytest.param("BB=", id="padding-sign"),
        pytest.param("BBé", id="non-ascii"),
        pytest.param("A", id="length-1"),
        pytest.param("BB8A", id="length-4"),
        pytest.param("BB8BB8A", id="length-7"),
        pytest.param("GGW", id="triple-over-ffff"),
        pytest.param(":::", id="triple-max-value"),
        pytest.param("ZZ", id="pair-over-ff"),
        pytest.param("V5", id="pair-256"),
        pytest.param("BB8GGW", id="overflow-in-second-chunk"),
    ],
)
def test_decode_rejects_invalid_text(text):
    with pytest.raises(ValueError):
        base45.decode(text)


@pytest.mark.parametrize(
    ("text", "data"),
    [
        pytest.param("FGW", b"\xff\xff", id="triple-ffff-is-max"),
        pytest.param("U5", b"\xff", id="pair-ff-is-max"),
    ],
)
def test_decode_accepts_largest_values(text, data):
    assert base45.decode(text) == data
