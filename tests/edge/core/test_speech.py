"""Table tests for Indonesian number words and call phrases."""

import ast
import string
import sys
from pathlib import Path

import pytest

from edge.core import speech
from edge.core.speech import call_phrases, number_clips, number_to_words

NUMBER_WORDS = [
    (0, "nol"),
    (1, "satu"),
    (9, "sembilan"),
    (10, "sepuluh"),
    (11, "sebelas"),
    (12, "dua belas"),
    (15, "lima belas"),
    (19, "sembilan belas"),
    (20, "dua puluh"),
    (21, "dua puluh satu"),
    (40, "empat puluh"),
    (99, "sembilan puluh sembilan"),
    (100, "seratus"),
    (101, "seratus satu"),
    (110, "seratus sepuluh"),
    (111, "seratus sebelas"),
    (115, "seratus lima belas"),
    (200, "dua ratus"),
    (250, "dua ratus lima puluh"),
    (999, "sembilan ratus sembilan puluh sembilan"),
    (1000, "seribu"),
    (1001, "seribu satu"),
    (1100, "seribu seratus"),
    (2345, "dua ribu tiga ratus empat puluh lima"),
    (10000, "sepuluh ribu"),
    (11000, "sebelas ribu"),
    (12345, "dua belas ribu tiga ratus empat puluh lima"),
    (100000, "seratus ribu"),
    (101001, "seratus satu ribu satu"),
    (
        999999,
        "sembilan ratus sembilan puluh sembilan ribu sembilan ratus sembilan puluh sembilan",
    ),
]


@pytest.mark.parametrize(("n", "words"), [pytest.param(n, w, id=str(n)) for n, w in NUMBER_WORDS])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "clips"),
    [
        pytest.param(7, ["tujuh"], id="unit"),
        pytest.param(17, ["tujuh belas"], id="teen-one-clip"),
        pytest.param(234, ["dua ratus", "tiga puluh", "empat"], id="three-groups"),
        pytest.param(305, ["tiga ratus", "lima"], id="no-tens"),
        pytest.param(2012, ["dua", "ribu", "dua belas"], id="thousands"),
        pytest.param(
            1999,
            ["seribu", "sembilan ratus", "sembilan puluh", "sembilan"],
            id="seribu",
        ),
    ],
)
def test_number_clips(n, clips):
    assert number_clips(n) == clips


def test_number_clips_join_to_words():
    for n in range(0, 1_000_000, 7):
        assert " ".join(number_clips(n)) == number_to_words(n)


@pytest.mark.parametrize(
    ("n", "error"),
    [
        pytest.param(-1, ValueError, id="negative"),
        pytest.param(1_000_000, ValueError, id="million"),
        pytest.param(1.0, TypeError, id="float"),
        pytest.param("12", TypeError, id="string"),
        pytest.param(True, TypeError, id="bool"),
    ],
)
def test_number_to_words_rejects(n, error):
    with pytest.raises(error):
        number_to_words(n)


@pytest.mark.parametrize(
    ("label", "destination", "phrases"),
    [
        pytest.param(
            "A012",
            "Loket 1",
            ["nomor antrean", "A", "dua belas", "silakan menuju", "loket", "satu"],
            id="loket",
        ),
        pytest.param(
            "U003",
            "Poli Umum",
            ["nomor antrean", "U", "tiga", "silakan menuju", "poli", "umum"],
            id="poli",
        ),
        pytest.param(
            "B100",
            "Loket 2",
            ["nomor antrean", "B", "seratus", "silakan menuju", "loket", "dua"],
            id="hundred",
        ),
        pytest.param(
            "C234",
            "Loket 12",
            [
                "nomor antrean",
                "C",
                "dua ratus",
                "tiga puluh",
                "empat",
                "silakan menuju",
                "loket",
                "dua belas",
            ],
            id="split-number-and-two-digit-loket",
        ),
        pytest.param(
            "KIA7",
            "Poli KIA & Gigi",
            [
                "nomor antrean",
                "K",
                "I",
                "A",
                "tujuh",
                "silakan menuju",
                "poli",
                "kia",
                "gigi",
            ],
            id="multi-letter-prefix-punctuation",
        ),
        pytest.param(
            "a1",
            "Ruang 2A",
            ["nomor antrean", "A", "satu", "silakan menuju", "ruang", "dua", "a"],
            id="lowercase-prefix-digit-letter-destination",
        ),
        pytest.param(
            "G0000",
            "Apotek",
            ["nomor antrean", "G", "nol", "silakan menuju", "apotek"],
            id="all-zero",
        ),
    ],
)
def test_call_phrases(label, destination, phrases):
    assert call_phrases(label, destination) == phrases


@pytest.mark.parametrize(
    "label",
    [
        pytest.param("", id="empty"),
        pytest.param("012", id="no-letters"),
        pytest.param("A", id="no-digits"),
        pytest.param("A01B", id="digits-then-letter"),
        pytest.param(" A012", id="leading-space"),
        pytest.param("A-012", id="dash"),
        pytest.param("Á012", id="non-ascii-letter"),
        pytest.param("A٣", id="non-ascii-digit"),
        pytest.param("A1000000", id="number-too-big"),
    ],
)
def test_call_phrases_rejects_label(label):
    with pytest.raises(ValueError):
        call_phrases(label, "Loket 1")


@pytest.mark.parametrize(
    "destination",
    [pytest.param("", id="empty"), pytest.param(" - ", id="punctuation-only")],
)
def test_call_phrases_rejects_destination(destination):
    with pytest.raises(ValueError):
        call_phrases("A001", destination)


def test_clip_vocabulary_is_finite_and_small():
    vocabulary = set()
    for letter in string.ascii_uppercase:
        for number in range(1, 1000):
            for loket in range(1, 10):
                vocabulary.update(call_phrases(f"{letter}{number:03d}", f"Loket {loket}"))
    fixed = {"nomor antrean", "silakan menuju", "loket"}
    number_phrases = vocabulary - fixed - set(string.ascii_uppercase)
    assert vocabulary >= fixed | set(string.ascii_uppercase)
    # 9 hundreds + 8 tens + 10 "sepuluh".."sembilan belas" + 9 units
    assert len(number_phrases) == 36
    assert len(vocabulary) == 3 + 26 + 36


def test_core_imports_only_standard_library():
    tree = ast.parse(Path(speech.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a pure core module"
            imported.add(node.module.split(".")[0])
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names


def test_the_fixed_phrases_cover_every_call_up_to_999():
    destinations = [f"Loket {i}" for i in range(1, 10)] + ["Poli Umum", "Poli Gigi", "KIA"]
    fixed = set(speech.fixed_phrases(destinations))
    for letter in "AZ":
        for n in range(1, 1000):
            for destination in destinations:
                assert set(speech.call_phrases(f"{letter}{n:03d}", destination)) <= fixed
    assert len(speech.fixed_phrases([f"Loket {i}" for i in range(1, 10)])) == 66


def test_the_fixed_phrases_have_no_repeats_and_refuse_a_wordless_destination():
    phrases = speech.fixed_phrases(["Poli Umum", "Poli Gigi"])
    assert len(phrases) == len(set(phrases)) and phrases.count("poli") == 1
    with pytest.raises(ValueError):
        speech.fixed_phrases(["--"])
