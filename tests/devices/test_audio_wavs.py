"""Pure-Python WAV helpers: stats, trimming, joining and the chime."""

import io
import math
import wave
from array import array

import pytest

from devices.audio import AudioError, join_wavs, wav_stats
from devices.audio.wavs import WavFormat, chime_wav, read_wav, trim_silence, wav_bytes


def make_wav(samples, rate=22050, width=2, channels=1) -> bytes:
    """WAV bytes from float samples in -1..1."""
    if width == 1:
        data = bytes(round(128 + 127 * s) for s in samples)
    else:
        scale = (1 << (8 * width - 1)) - 1
        data = array({2: "h", 4: "i"}[width], (round(s * scale) for s in samples)).tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(data)
    return buffer.getvalue()


def sine(freq, seconds, amplitude=0.5, rate=22050):
    return [amplitude * math.sin(2 * math.pi * freq * i / rate) for i in range(int(seconds * rate))]


def tone_power(samples, freq, rate=22050):
    """Goertzel power of one frequency."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


@pytest.mark.parametrize(
    "width",
    [
        pytest.param(1, id="8bit"),
        pytest.param(2, id="16bit"),
        pytest.param(4, id="32bit"),
    ],
)
def test_wav_stats_of_a_sine(width):
    duration, rms = wav_stats(make_wav(sine(440, 0.5, rate=8000), rate=8000, width=width))
    assert duration == pytest.approx(0.5)
    assert rms == pytest.approx(0.5 / math.sqrt(2), abs=0.01)


def test_wav_stats_of_silence_and_empty():
    assert wav_stats(make_wav([0.0] * 2205)) == (pytest.approx(0.1), 0.0)
    assert wav_stats(make_wav([])) == (0.0, 0.0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"RIFF\x00\x00", id="truncated"),
        pytest.param(b"x" * 100, id="noise"),
    ],
)
def test_wav_stats_rejects_non_wav(data):
    with pytest.raises(AudioError):
        wav_stats(data)


def test_trim_silence_keeps_the_sound_and_a_small_pad():
    wav = read_wav(make_wav([0.0] * 11025 + sine(300, 0.4) + [0.0] * 22050))
    trimmed = trim_silence(wav, pad_ms=15)
    assert trimmed.duration == pytest.approx(0.4 + 0.03, abs=0.003)
    _, rms = wav_stats(make_wav(sine(300, 0.4)))
    assert wav_stats(wav_bytes(trimmed))[1] > rms * 0.9


def test_trim_silence_rejects_all_silent():
    with pytest.raises(AudioError, match="hening"):
        trim_silence(read_wav(make_wav([0.001] * 1000)))


def test_join_wavs_concatenates_with_gaps(tmp_path):
    paths = []
    for i, seconds in enumerate([0.2, 0.3, 0.5]):
        paths.append(tmp_path / f"{i}.wav")
        paths[-1].write_bytes(make_wav(sine(440, seconds)))
    joined = join_wavs(paths, gap_ms=100)
    duration, _ = wav_stats(joined)
    assert duration == pytest.approx(0.2 + 0.3 + 0.5 + 2 * 0.1, abs=0.001)
    decoded = read_wav(joined)
    gap_start = int(0.2 * 22050) * 2
    assert decoded.frames[gap_start : gap_start + 2205 * 2] == b"\x00" * 4410
    assert decoded.format == WavFormat(1, 2, 22050)


def test_join_wavs_single_part_has_no_gap(tmp_path):
    path = tmp_path / "one.wav"
    path.write_bytes(make_wav(sine(440, 0.25)))
    assert read_wav(join_wavs([path])).frames == read_wav(path).frames


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"rate": 16000}, id="rate"),
        pytest.param({"width": 1}, id="width"),
        pytest.param({"channels": 2}, id="channels"),
    ],
)
def test_join_wavs_rejects_mismatched_format(tmp_path, other):
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    first.write_bytes(make_wav(sine(440, 0.1)))
    second.write_bytes(make_wav(sine(440, 0.1, rate=other.get("rate", 22050)), **other))
    with pytest.raises(AudioError, match=r"b\.wav"):
        join_wavs([first, second])


def test_join_wavs_rejects_missing_or_bad_parts(tmp_path):
    with pytest.raises(ValueError):
        join_wavs([])
    with pytest.raises(AudioError):
        join_wavs([tmp_path / "missing.wav"])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(AudioError):
        join_wavs([bad])


def test_chime_is_a_ding_then_a_dong():
    chime = chime_wav()
    decoded = read_wav(chime)
    assert decoded.format == WavFormat(1, 2, 22050)
    duration, rms = wav_stats(chime)
    assert 1.0 <= duration <= 2.0
    assert rms > 0.05
    samples = array("h", decoded.frames)
    assert max(abs(s) for s in samples) < 0.5 * 32768, "chime must leave headroom"
    assert abs(samples[0]) < 50 and abs(samples[-1]) < 50, "chime must start and end without a click"
    ding = samples[: int(0.35 * 22050)]
    dong = samples[int(0.8 * 22050) :]
    assert tone_power(ding, 659.25) > 10 * tone_power(ding, 523.25)
    assert tone_power(dong, 523.25) > 10 * tone_power(dong, 659.25)
