"""LZ-String's "EncodedURIComponent" form, the compression inside BPJS's encrypted responses.

Written from the algorithm of the JavaScript lz-string 1.x: an LZW variant over UTF-16 code
units whose output bits are packed 6 to a character of a URL-safe alphabet. Strings are handled
as UTF-16 code units, as JavaScript does, so characters outside the BMP compress to the same
text as in a browser or in Node.

``decompress_from_encoded_uri_component`` raises LZStringError for anything that is not a
complete, well-formed stream (the JavaScript version returns null or "" instead, and the PyPI
``lzstring`` package raises KeyError); a caller decides what a broken response means.
"""

from __future__ import annotations

from collections.abc import Callable

URI_SAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"
_URI_SAFE_VALUE = {ch: i for i, ch in enumerate(URI_SAFE_ALPHABET)}


class LZStringError(ValueError):
    """The text is not a valid LZ-String stream (truncated, foreign characters, bad codes)."""


def _code_units(text: str) -> list[str]:
    """``text`` as UTF-16 code units, one (possibly lone-surrogate) character each."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return [chr(raw[i] | raw[i + 1] << 8) for i in range(0, len(raw), 2)]


def _from_code_units(units: str) -> str:
    try:
        return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise LZStringError("the stream decodes to an unpaired UTF-16 surrogate") from exc


class _BitWriter:
    def __init__(self, bits_per_char: int, char_of: Callable[[int], str]) -> None:
        self.bits_per_char = bits_per_char
        self.char_of = char_of
        self.value = 0
        self.position = 0
        self.out: list[str] = []

    def write(self, value: int, bits: int) -> None:
        """Write the ``bits`` low bits of ``value``, least significant first."""
        for _ in range(bits):
            self.value = (self.value << 1) | (value & 1)
            value >>= 1
            if self.position == self.bits_per_char - 1:
                self.out.append(self.char_of(self.value))
                self.value = 0
                self.position = 0
            else:
                self.position += 1

    def finish(self) -> str:
        # pad the last character with zero bits
        while True:
            self.value <<= 1
            if self.position == self.bits_per_char - 1:
                self.out.append(self.char_of(self.value))
                return "".join(self.out)
            self.position += 1


def _compress(units: list[str], bits_per_char: int, char_of: Callable[[int], str]) -> str:
    dictionary: dict[str, int] = {}
    not_yet_written: set[str] = set()  # single characters added to the dictionary but not yet sent
    out = _BitWriter(bits_per_char, char_of)
    dict_size = 3  # codes 0, 1, 2 mean: an 8-bit character, a 16-bit character, end of stream
    num_bits = 2
    enlarge_in = 2
    w = ""

    def shrink() -> None:
        nonlocal enlarge_in, num_bits
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1

    def emit(phrase: str) -> None:
        if phrase in not_yet_written:
            code = ord(phrase[0])
            if code < 256:
                out.write(0, num_bits)
                out.write(code, 8)
            else:
                out.write(1, num_bits)
                out.write(code, 16)
            shrink()
            not_yet_written.discard(phrase)
        else:
            out.write(dictionary[phrase], num_bits)
        shrink()

    for c in units:
        if c not in dictionary:
            dictionary[c] = dict_size
            dict_size += 1
            not_yet_written.add(c)
        wc = w + c
        if wc in dictionary:
            w = wc
            continue
        emit(w)
        dictionary[wc] = dict_size
        dict_size += 1
        w = c
    if w:
        emit(w)
    out.write(2, num_bits)
    return out.finish()


def _decompress(length: int, reset_value: int, value_at: Callable[[int], int]) -> str:
    dictionary: list[str] = ["", "", ""]  # codes 0-2 are control codes
    enlarge_in = 4
    num_bits = 3
    data_value = value_at(0)
    data_position = reset_value
    data_index = 1

    def read(bits: int) -> int:
        nonlocal data_value, data_position, data_index
        result = 0
        for power in range(bits):
            if data_value & data_position:
                result |= 1 << power
            data_position >>= 1
            if data_position == 0:
                data_position = reset_value
                data_value = value_at(data_index)
                data_index += 1
        return result

    first = read(2)
    if first == 0:
        c = chr(read(8))
    elif first == 1:
        c = chr(read(16))
    elif first == 2:
        return ""
    else:
        raise LZStringError("the stream does not start with a character")
    dictionary.append(c)
    w = c
    result = [c]
    while True:
        if data_index > length:
            raise LZStringError("the stream ends before its end marker")
        code = read(num_bits)
        if code in (0, 1):
            dictionary.append(chr(read(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
        elif code == 2:
            return _from_code_units("".join(result))
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
        if code < len(dictionary):
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = w + w[0]
        else:
            raise LZStringError("the stream refers to a phrase it has not defined")
        result.append(entry)
        dictionary.append(w + entry[0])
        enlarge_in -= 1
        w = entry
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1


def compress_to_encoded_uri_component(text: str) -> str:
    """Compress ``text`` into LZ-String's URL-safe alphabet (``""`` gives ``"Q"``, as in JavaScript)."""
    return _compress(_code_units(text), 6, URI_SAFE_ALPHABET.__getitem__)


def decompress_from_encoded_uri_component(encoded: str) -> str:
    """The text that ``compress_to_encoded_uri_component`` made ``encoded`` from.

    Raises LZStringError for an empty string, a character outside the alphabet, or a stream that
    is truncated or refers to codes it never defined.
    """
    if not isinstance(encoded, str) or not encoded:
        raise LZStringError("nothing to decompress")
    encoded = encoded.replace(" ", "+")  # a "+" that went through form decoding
    try:
        values = [_URI_SAFE_VALUE[ch] for ch in encoded]
    except KeyError as exc:
        raise LZStringError("a character outside the LZ-String URI alphabet") from exc

    def value_at(index: int) -> int:
        return values[index] if index < len(values) else 0

    return _decompress(len(values), 32, value_at)
