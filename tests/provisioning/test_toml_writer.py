"""TOML strings, keys and values written by infra.toml_writer, read back by tomllib."""

from __future__ import annotations

import tomllib

import pytest

from infra.toml_writer import toml_key, toml_string, toml_value


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param('say "hi"', id="quotes"),
        pytest.param("C:\\Users\\x\\", id="backslashes"),
        pytest.param("line1\nline2\r\n\ttab", id="newlines-tab"),
        pytest.param("".join(chr(c) for c in range(0x20)) + "\x7f", id="control-chars"),
        pytest.param("Puskesmas Cibinong – ñ é 漢字 🏥", id="non-ascii"),
        pytest.param("\u2028\u2029\ufeff", id="unicode-separators"),
        pytest.param("'''\"\"\"", id="triple-quotes"),
        pytest.param("\\u0041 \\n", id="escape-lookalikes"),
    ],
)
def test_string_round_trip(text):
    assert tomllib.loads(f"v = {toml_string(text)}")["v"] == text


def test_string_rejects_lone_surrogate():
    with pytest.raises(ValueError):
        toml_string("\ud800")


@pytest.mark.parametrize(
    ("key", "written"),
    [("node_id", "node_id"), ("k-1", "k-1"), ("kunci lama", '"kunci lama"'), ("a.b", '"a.b"'), ("ü", '"ü"')],
)
def test_key(key, written):
    assert toml_key(key) == written
    assert tomllib.loads(f"{written} = 1") == {key: 1}


def test_key_rejects_empty():
    with pytest.raises(ValueError):
        toml_key("")


@pytest.mark.parametrize(
    "value",
    [0, -5, 8081, True, False, [], ["a", 1], {}, {"a b": "c", "d": [1, 2]}],
)
def test_value_round_trip(value):
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@pytest.mark.parametrize("value", [1.5, None, b"bytes", object()])
def test_value_rejects_unsupported(value):
    with pytest.raises(TypeError):
        toml_value(value)
