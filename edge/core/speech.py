"""Indonesian words for queue calls: numbers to words and a call to clip phrases.

Pure functions (standard library only, no I/O). A call is returned as a list of
phrases; each phrase is one pre-rendered voice clip, so the set of phrases that
can ever occur must stay finite and small:

- a ticket number is split into groups that are spoken as one breath:
  ``234 -> ["dua ratus", "tiga puluh", "empat"]`` and ``17 -> ["tujuh belas"]``.
  Every number up to 999 uses at most 36 different clips (9 hundreds, 8 tens,
  10 of "sepuluh".."sembilan belas", 9 units); up to 999 999 adds "seribu" and
  "ribu";
- letters of the ticket prefix are spoken one by one, as upper-case letters;
- the destination is split into lower-case words, digits turned into number
  clips (``"Loket 12" -> ["loket", "dua belas"]``).
"""

import re
import string
from collections.abc import Iterable

MAX_NUMBER = 999_999

_UNITS = (
    "nol",
    "satu",
    "dua",
    "tiga",
    "empat",
    "lima",
    "enam",
    "tujuh",
    "delapan",
    "sembilan",
)
_LABEL = re.compile(r"([A-Za-z]+)([0-9]+)")
# A destination token is a run of letters (any script) or a run of ASCII digits.
_DESTINATION_TOKEN = re.compile(r"[^\W\d_]+|[0-9]+")

CALL_INTRO = "nomor antrean"
CALL_DIRECTION = "silakan menuju"


def _below_hundred(n: int) -> list[str]:
    if n < 10:
        return [_UNITS[n]]
    if n == 10:
        return ["sepuluh"]
    if n == 11:
        return ["sebelas"]
    if n < 20:
        return [f"{_UNITS[n - 10]} belas"]
    tens, units = divmod(n, 10)
    return [f"{_UNITS[tens]} puluh"] + ([_UNITS[units]] if units else [])


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds == 1:
        parts.append("seratus")
    elif hundreds > 1:
        parts.append(f"{_UNITS[hundreds]} ratus")
    if rest:
        parts.extend(_below_hundred(rest))
    return parts


def number_clips(n: int) -> list[str]:
    """Split n (0..999 999) into the phrases it is spoken as, one clip each.

    ``" ".join(number_clips(n)) == number_to_words(n)``. Raises TypeError if n is
    not an int (bool included) and ValueError outside 0..999 999.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number must be an int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number {n} outside 0..{MAX_NUMBER}")
    if n == 0:
        return ["nol"]
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands == 1:
        parts.append("seribu")
    elif thousands > 1:
        parts.extend(_below_thousand(thousands))
        parts.append("ribu")
    parts.extend(_below_thousand(rest))
    return parts


def number_to_words(n: int) -> str:
    """Indonesian cardinal words for n.

    2345 -> "dua ribu tiga ratus empat puluh lima".

    Raises TypeError if n is not an int and ValueError outside 0..999 999.
    """
    return " ".join(number_clips(n))


def destination_phrases(destination: str) -> list[str]:
    """Split a destination such as "Poli Umum" or "Loket 12" into clip phrases.

    Punctuation is dropped. Raises ValueError if nothing speakable is left, or if
    a number in it is above 999 999.
    """
    phrases = []
    for token in _DESTINATION_TOKEN.findall(destination):
        if token.isdigit():
            phrases.extend(number_clips(int(token)))
        else:
            phrases.append(token.lower())
    if not phrases:
        raise ValueError(f"destination {destination!r} has no words to speak")
    return phrases


def call_phrases(ticket_label: str, destination: str) -> list[str]:
    """The phrases of one call, each to be played as one pre-rendered clip.

    ``("A012", "Loket 1") -> ["nomor antrean", "A", "dua belas", "silakan menuju",
    "loket", "satu"]``. The label must be ASCII letters followed by ASCII digits
    (lower-case letters are spoken as upper case; leading zeros are dropped, so
    "A000" is "nol"). Raises ValueError for an empty or malformed label, a number
    above 999 999, or a destination with no words.
    """
    match = _LABEL.fullmatch(ticket_label)
    if match is None:
        raise ValueError(f"invalid ticket label {ticket_label!r}: expected letters then digits")
    letters, digits = match.groups()
    return [
        CALL_INTRO,
        *letters.upper(),
        *number_clips(int(digits)),
        CALL_DIRECTION,
        *destination_phrases(destination),
    ]


def fixed_phrases(destinations: Iterable[str], max_ticket: int = 999) -> list[str]:
    """Every phrase a call can use with ticket numbers up to ``max_ticket`` (any letters A-Z) and
    these destinations, in a stable order without repeats: the clip set to render ahead.

    For A001..Z999 and "Loket 1".."Loket 9" that is 66 phrases, plus the words of the poli names.
    Raises ValueError for a destination with no words or a ``max_ticket`` outside 0..999 999.
    """
    if not 0 <= max_ticket <= MAX_NUMBER:
        raise ValueError(f"max_ticket {max_ticket} outside 0..{MAX_NUMBER}")
    numbers = range(max_ticket + 1) if max_ticket < 1000 else (*range(1000), 1000, 2000)
    phrases = [CALL_INTRO, CALL_DIRECTION, *string.ascii_uppercase]
    for n in numbers:  # 1000 and 2000 bring "seribu" and "ribu"; the rest repeat below-thousand clips
        phrases.extend(number_clips(n))
    for destination in destinations:
        phrases.extend(destination_phrases(destination))
    return list(dict.fromkeys(phrases))
