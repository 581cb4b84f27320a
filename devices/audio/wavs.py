"""Pure-Python WAV helpers: read, write, measure, trim, join, and the chime.

PCM only (8-bit unsigned, 16-bit or 32-bit signed); samples go through the
stdlib ``array`` module, not the deprecated ``audioop``. Every function raises
AudioError for data that is not such a WAV.
"""

import io
import math
import sys
import wave
from array import array
from pathlib import Path
from typing import NamedTuple

from devices.audio.base import AudioError

# pyttsx3's espeak driver always writes this header, so clips and chime use it.
CLIP_RATE = 22050
CLIP_WIDTH = 2
CLIP_CHANNELS = 1

_TYPECODES = {1: "B", 2: "h", 4: "i"}


class WavFormat(NamedTuple):
    """What two WAVs must share to be joined."""

    channels: int
    width: int
    rate: int


class Wav(NamedTuple):
    """A decoded PCM WAV: its format and raw little-endian frames."""

    format: WavFormat
    frames: bytes

    @property
    def duration(self) -> float:
        """Length in seconds."""
        frame_size = self.format.width * self.format.channels
        return len(self.frames) / frame_size / self.format.rate


def read_wav(source: bytes | Path) -> Wav:
    """Decode a PCM WAV from bytes or a file; AudioError if unreadable or not one."""
    name = str(source) if isinstance(source, Path) else "WAV data"
    try:
        with wave.open(str(source) if isinstance(source, Path) else io.BytesIO(source), "rb") as f:
            fmt = WavFormat(f.getnchannels(), f.getsampwidth(), f.getframerate())
            frames = f.readframes(f.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioError(f"Berkas suara tidak valid: {name}") from exc
    if fmt.width not in _TYPECODES:
        raise AudioError(f"Format suara tidak didukung ({fmt.width * 8} bit): {name}")
    return Wav(fmt, frames)


def wav_bytes(wav: Wav) -> bytes:
    """Encode a Wav as a complete WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(wav.format.channels)
        f.setsampwidth(wav.format.width)
        f.setframerate(wav.format.rate)
        f.writeframes(wav.frames)
    return buffer.getvalue()


def _samples(wav: Wav) -> array:
    samples = array(_TYPECODES[wav.format.width])
    samples.frombytes(wav.frames[: len(wav.frames) - len(wav.frames) % wav.format.width])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _centre_and_scale(width: int) -> tuple[int, int]:
    """Zero level and full scale of a sample width (8-bit WAV is unsigned)."""
    if width == 1:
        return 128, 128
    return 0, 1 << (8 * width - 1)


def wav_stats(wav: bytes) -> tuple[float, float]:
    """(duration in seconds, RMS level 0..1 over all samples) of a WAV given as bytes.

    Raises AudioError if the bytes are not a PCM WAV.
    """
    decoded = read_wav(wav)
    samples = _samples(decoded)
    if not samples:
        return decoded.duration, 0.0
    centre, scale = _centre_and_scale(decoded.format.width)
    power = math.fsum((s - centre) * (s - centre) for s in samples) / len(samples)
    return decoded.duration, math.sqrt(power) / scale


def trim_silence(wav: Wav, threshold: float = 0.005, pad_ms: int = 15) -> Wav:
    """Cut leading and trailing frames quieter than threshold (fraction of full scale).

    Keeps pad_ms of the quiet part at each end so words do not start with a click.
    Raises AudioError if the whole WAV is below the threshold.
    """
    samples = _samples(wav)
    centre, scale = _centre_and_scale(wav.format.width)
    limit = threshold * scale
    first = next((i for i, s in enumerate(samples) if abs(s - centre) > limit), None)
    if first is None:
        raise AudioError("Suara hasil sintesis kosong (hening)")
    last = next(i for i in range(len(samples) - 1, -1, -1) if abs(samples[i] - centre) > limit)
    channels = wav.format.channels
    pad = int(wav.format.rate * pad_ms / 1000)
    start_frame = max(first // channels - pad, 0)
    end_frame = min(last // channels + 1 + pad, len(samples) // channels)
    frame_size = wav.format.width * channels
    return Wav(wav.format, wav.frames[start_frame * frame_size : end_frame * frame_size])


def silence(fmt: WavFormat, ms: int) -> bytes:
    """Raw frames of ms milliseconds of silence in the given format."""
    frames = int(fmt.rate * ms / 1000)
    zero = b"\x80" if fmt.width == 1 else b"\x00" * fmt.width
    return zero * (frames * fmt.channels)


def join_wavs(parts: list[Path], gap_ms: int = 120) -> bytes:
    """Concatenate WAV files into one WAV, with gap_ms of silence between parts.

    Raises AudioError if a part is missing or not a PCM WAV, or if its channels,
    sample width or rate differ from the first part; ValueError if parts is empty
    or gap_ms is negative.
    """
    if not parts:
        raise ValueError("join_wavs needs at least one part")
    if gap_ms < 0:
        raise ValueError(f"gap_ms must be >= 0, got {gap_ms}")
    decoded = [read_wav(Path(p)) for p in parts]
    fmt = decoded[0].format
    for path, part in zip(parts, decoded, strict=True):
        if part.format != fmt:
            raise AudioError(f"Format suara berbeda: {path} ({part.format}, seharusnya {fmt})")
    gap = silence(fmt, gap_ms)
    return wav_bytes(Wav(fmt, gap.join(part.frames for part in decoded)))


def _bell(freq: float, seconds: float, rate: int) -> list[float]:
    """A struck-bell tone: fundamental plus two soft partials, decaying."""
    attack, release = 0.006, 0.08
    out = []
    for i in range(int(seconds * rate)):
        t = i / rate
        # Linear attack and release ramps avoid clicks where the tone starts and is cut.
        envelope = min(t / attack, (seconds - t) / release, 1.0) * math.exp(-t / 0.28)
        tone = (
            math.sin(2 * math.pi * freq * t)
            + 0.35 * math.sin(2 * math.pi * 2 * freq * t)
            + 0.12 * math.sin(2 * math.pi * 3.01 * freq * t)
        )
        out.append(envelope * tone)
    return out


def chime_wav(rate: int = CLIP_RATE, peak: float = 0.45) -> bytes:
    """A two-tone "ding-dong" (E5 then C5, about 1.3 s), 16-bit mono WAV bytes."""
    ding = _bell(659.25, 0.7, rate)
    dong = _bell(523.25, 0.9, rate)
    offset = int(0.42 * rate)
    mix = [0.0] * (offset + len(dong))
    for i, value in enumerate(ding):
        mix[i] += value
    for i, value in enumerate(dong):
        mix[offset + i] += value
    scale = peak * 32767 / max(abs(v) for v in mix)
    samples = array("h", (round(v * scale) for v in mix))
    if sys.byteorder == "big":
        samples.byteswap()
    return wav_bytes(Wav(WavFormat(CLIP_CHANNELS, CLIP_WIDTH, rate), samples.tobytes()))
