"""KeyDecoder table tests with synthetic evdev events, as a HID scanner sends them."""

from __future__ import annotations

import pytest
from evdev import InputEvent
from evdev import ecodes as e

from devices.scanner import KeyDecoder

# The test's own US-layout map, independent of the decoder's: char -> (key, shift).
_US = {ch: (getattr(e, f"KEY_{ch.upper()}"), False) for ch in "abcdefghijklmnopqrstuvwxyz0123456789"}
_US.update({ch.upper(): (code, True) for ch, (code, _) in list(_US.items()) if ch.isalpha()})
_US.update(
    {
        " ": (e.KEY_SPACE, False),
        "-": (e.KEY_MINUS, False),
        ".": (e.KEY_DOT, False),
        "/": (e.KEY_SLASH, False),
        ":": (e.KEY_SEMICOLON, True),
        "$": (e.KEY_4, True),
        "%": (e.KEY_5, True),
        "*": (e.KEY_8, True),
        "+": (e.KEY_EQUAL, True),
        "?": (e.KEY_SLASH, True),
        "=": (e.KEY_EQUAL, False),
        "&": (e.KEY_7, True),
        "_": (e.KEY_MINUS, True),
        "#": (e.KEY_3, True),
        "|": (e.KEY_BACKSLASH, True),
        "~": (e.KEY_GRAVE, True),
        '"': (e.KEY_APOSTROPHE, True),
        "'": (e.KEY_APOSTROPHE, False),
        "@": (e.KEY_2, True),
        "!": (e.KEY_1, True),
    }
)

Event = tuple[int, int, int]


def tap(code: int) -> list[Event]:
    """A key press as a scanner sends it: MSC_SCAN, down, SYN, up, SYN."""
    return [
        (e.EV_MSC, e.MSC_SCAN, 0x70000 + code),
        (e.EV_KEY, code, 1),
        (e.EV_SYN, e.SYN_REPORT, 0),
        (e.EV_MSC, e.MSC_SCAN, 0x70000 + code),
        (e.EV_KEY, code, 0),
        (e.EV_SYN, e.SYN_REPORT, 0),
    ]


def typed(text: str, shift_key: int = e.KEY_LEFTSHIFT, enter: int = e.KEY_ENTER) -> list[Event]:
    events: list[Event] = []
    for ch in text:
        code, shifted = _US[ch]
        if shifted:
            events.append((e.EV_KEY, shift_key, 1))
        events += tap(code)
        if shifted:
            events.append((e.EV_KEY, shift_key, 0))
    return events + tap(enter)


def feed_all(events: list[Event], decoder: KeyDecoder | None = None) -> list[str]:
    decoder = decoder or KeyDecoder()
    return [text for ev in events if (text := decoder.feed(*ev)) is not None]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(typed("abc"), ["abc"], id="lowercase"),
        pytest.param(typed("ABC"), ["ABC"], id="uppercase-left-shift"),
        pytest.param(
            typed("Rosma", shift_key=e.KEY_RIGHTSHIFT),
            ["Rosma"],
            id="uppercase-right-shift",
        ),
        pytest.param(typed("0123456789"), ["0123456789"], id="digits"),
        pytest.param(typed("RS1:AB-12 $%*+./:"), ["RS1:AB-12 $%*+./:"], id="base45-punctuation"),
        pytest.param(
            typed("https://q.example/t/A7?k=9f3C&x=_#"),
            ["https://q.example/t/A7?k=9f3C&x=_#"],
            id="url",
        ),
        pytest.param(typed("a|~\"'@!"), ["a|~\"'@!"], id="more-us-punctuation"),
        pytest.param(typed("RS1:A", enter=e.KEY_KPENTER), ["RS1:A"], id="kpenter-terminator"),
        pytest.param(typed("one") + typed("two"), ["one", "two"], id="two-scans"),
        pytest.param(
            typed("same") + typed("same"),
            ["same", "same"],
            id="repeat-not-deduplicated",
        ),
        pytest.param(tap(e.KEY_CAPSLOCK) + typed("ab1"), ["AB1"], id="capslock-letters-only"),
        pytest.param(tap(e.KEY_CAPSLOCK) + typed("aB"), ["Ab"], id="capslock-with-shift-lowers"),
        pytest.param(
            tap(e.KEY_CAPSLOCK) + tap(e.KEY_CAPSLOCK) + typed("ab"),
            ["ab"],
            id="capslock-toggles-off",
        ),
        pytest.param(tap(e.KEY_CAPSLOCK) + typed("2$"), ["2$"], id="capslock-leaves-symbols"),
        pytest.param(tap(e.KEY_ENTER), [], id="empty-enter-is-no-scan"),
        pytest.param(
            tap(e.KEY_KP1) + tap(e.KEY_KP2) + tap(e.KEY_KPMINUS) + tap(e.KEY_KPENTER),
            ["12-"],
            id="keypad",
        ),
        pytest.param(
            tap(e.KEY_LEFTCTRL) + tap(e.KEY_TAB) + typed("ok"),
            ["ok"],
            id="non-character-keys-ignored",
        ),
        pytest.param(
            [
                (e.EV_KEY, e.KEY_A, 1),
                (e.EV_KEY, e.KEY_A, 2),
                (e.EV_KEY, e.KEY_A, 2),
                (e.EV_KEY, e.KEY_A, 0),
            ]
            + tap(e.KEY_ENTER),
            ["a"],
            id="autorepeat-ignored",
        ),
        pytest.param(
            [
                (e.EV_MSC, e.MSC_SCAN, 0x70004),
                (e.EV_SYN, e.SYN_REPORT, 0),
                (e.EV_LED, e.LED_CAPSL, 1),
            ]
            + typed("x"),
            ["x"],
            id="msc-syn-led-noise",
        ),
        pytest.param(
            [(e.EV_KEY, e.KEY_LEFTSHIFT, 1), (e.EV_KEY, e.KEY_LEFTSHIFT, 2)]
            + tap(e.KEY_A)
            + [(e.EV_KEY, e.KEY_LEFTSHIFT, 0)]
            + tap(e.KEY_A)
            + tap(e.KEY_ENTER),
            ["Aa"],
            id="shift-release",
        ),
        pytest.param(
            [
                (e.EV_KEY, e.KEY_LEFTSHIFT, 1),
                (e.EV_KEY, e.KEY_RIGHTSHIFT, 1),
                (e.EV_KEY, e.KEY_LEFTSHIFT, 0),
            ]
            + tap(e.KEY_A)
            + tap(e.KEY_ENTER),
            ["A"],
            id="other-shift-still-held",
        ),
    ],
)
def test_key_events_to_text(events, expected):
    assert feed_all(events) == expected


def test_enter_goes_down_returns_text_only_then():
    decoder = KeyDecoder()
    results = [decoder.feed(*ev) for ev in typed("ok")]

    assert results[:-6] == [None] * (len(results) - 6)
    assert [r for r in results[-6:] if r is not None] == ["ok"]
    assert results[-5] == "ok"  # the ENTER key-down event, not the key-up


def _timed(events: list[Event], start: float, step: float) -> list[tuple[int, int, int, float]]:
    return [(*ev, start + i * step) for i, ev in enumerate(events)]


@pytest.mark.parametrize(
    ("pause", "expected"),
    [
        pytest.param(0.5, ["abc"], id="stale-partial-dropped-after-pause"),
        pytest.param(0.2, ["xyabc"], id="short-pause-keeps-buffer"),
    ],
)
def test_partial_buffer_timeout(pause, expected):
    decoder = KeyDecoder()
    partial = _timed(typed("xy")[:-6], 100.0, 0.01)  # "xy" without ENTER
    last = partial[-1][3]
    rest = _timed(typed("abc"), last + pause, 0.01)

    assert feed_all(partial + rest, decoder) == expected


def test_without_timestamps_there_is_no_timeout():
    assert feed_all(typed("xy")[:-6] + typed("abc")) == ["xyabc"]


def test_real_evdev_input_events():
    decoder = KeyDecoder()
    events = [InputEvent(1_700_000_000, i * 1000, *ev) for i, ev in enumerate(typed("RS1:Q"))]

    texts = [t for ev in events if (t := decoder.feed(ev.type, ev.code, ev.value, ev.timestamp())) is not None]

    assert texts == ["RS1:Q"]


def test_endless_scan_is_capped_to_just_over_the_limit():
    decoder = KeyDecoder()
    text = feed_all(tap(e.KEY_A) * 3000 + tap(e.KEY_ENTER), decoder)[0]

    assert len(text) == 2049  # over the 2048 limit, so the scanner loop drops it
