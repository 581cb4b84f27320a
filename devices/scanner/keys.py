"""Turn evdev key events from a keyboard-emulating scanner into scanned text (pure)."""

from __future__ import annotations

from evdev import ecodes as e

from devices.scanner.base import MAX_SCAN_CHARS

PARTIAL_TIMEOUT = 0.3  # seconds without a key before a half-typed scan is thrown away

_LETTERS = {getattr(e, f"KEY_{ch}"): ch.lower() for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
# US layout: code -> (unshifted, shifted)
_SYMBOLS = {
    e.KEY_1: ("1", "!"),
    e.KEY_2: ("2", "@"),
    e.KEY_3: ("3", "#"),
    e.KEY_4: ("4", "$"),
    e.KEY_5: ("5", "%"),
    e.KEY_6: ("6", "^"),
    e.KEY_7: ("7", "&"),
    e.KEY_8: ("8", "*"),
    e.KEY_9: ("9", "("),
    e.KEY_0: ("0", ")"),
    e.KEY_MINUS: ("-", "_"),
    e.KEY_EQUAL: ("=", "+"),
    e.KEY_LEFTBRACE: ("[", "{"),
    e.KEY_RIGHTBRACE: ("]", "}"),
    e.KEY_BACKSLASH: ("\\", "|"),
    e.KEY_SEMICOLON: (";", ":"),
    e.KEY_APOSTROPHE: ("'", '"'),
    e.KEY_GRAVE: ("`", "~"),
    e.KEY_COMMA: (",", "<"),
    e.KEY_DOT: (".", ">"),
    e.KEY_SLASH: ("/", "?"),
    e.KEY_SPACE: (" ", " "),
}
# Keypad keys as sent with NumLock on (some scanners type digits on the keypad).
_KEYPAD = {
    e.KEY_KP0: "0",
    e.KEY_KP1: "1",
    e.KEY_KP2: "2",
    e.KEY_KP3: "3",
    e.KEY_KP4: "4",
    e.KEY_KP5: "5",
    e.KEY_KP6: "6",
    e.KEY_KP7: "7",
    e.KEY_KP8: "8",
    e.KEY_KP9: "9",
    e.KEY_KPMINUS: "-",
    e.KEY_KPPLUS: "+",
    e.KEY_KPASTERISK: "*",
    e.KEY_KPSLASH: "/",
    e.KEY_KPDOT: ".",
}
_SHIFTS = frozenset({e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT})
_ENTERS = frozenset({e.KEY_ENTER, e.KEY_KPENTER})
KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2


class KeyDecoder:
    """Decodes one scanner's key events (US keyboard layout) into scans.

    Keep one decoder per device: it tracks shift and caps lock. Caps lock only
    affects letters. Keys without a character (Ctrl, Alt, Tab, ...) are ignored.
    The buffer is capped just above 2048 characters, so an endless scan comes
    back over-long and is dropped by the caller.
    """

    def __init__(self, partial_timeout: float = PARTIAL_TIMEOUT) -> None:
        self.partial_timeout = partial_timeout
        self._chars: list[str] = []
        self._shift: set[int] = set()
        self._caps = False
        self._last_key: float | None = None

    def feed(self, ev_type: int, code: int, value: int, timestamp: float | None = None) -> str | None:
        """Feed one event; return the scan when ENTER or KPENTER goes down, else None.

        Non-key events (EV_MSC, EV_SYN), key-up and autorepeat (value 2) are
        ignored except for tracking shift. With timestamps (seconds), a partial
        scan older than the timeout is discarded before the new key is used.
        An ENTER with nothing typed returns None.
        """
        if ev_type != e.EV_KEY or value == KEY_HOLD:
            return None
        if code in _SHIFTS:
            if value == KEY_DOWN:
                self._shift.add(code)
            else:
                self._shift.discard(code)
            return None
        if value != KEY_DOWN:
            return None
        if timestamp is not None:
            if self._last_key is not None and timestamp - self._last_key > self.partial_timeout:
                self._chars.clear()
            self._last_key = timestamp
        if code == e.KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in _ENTERS:
            text = "".join(self._chars)
            self._chars.clear()
            return text or None
        char = self._char(code)
        if char is not None and len(self._chars) <= MAX_SCAN_CHARS:
            self._chars.append(char)
        return None

    def _char(self, code: int) -> str | None:
        shifted = bool(self._shift)
        if code in _LETTERS:
            letter = _LETTERS[code]
            return letter.upper() if shifted != self._caps else letter
        if code in _SYMBOLS:
            return _SYMBOLS[code][1 if shifted else 0]
        return _KEYPAD.get(code)

    def reset(self) -> None:
        """Forget the partial scan and modifier state (e.g. after a re-open)."""
        self._chars.clear()
        self._shift.clear()
        self._caps = False
        self._last_key = None
