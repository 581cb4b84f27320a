"""ClipLibrary and Announcer against the real espeak-ng (via pyttsx3) and sox."""

import re
import subprocess
import sys
import threading
from array import array

import pytest

from devices.audio import (
    Announcer,
    AudioError,
    ClipLibrary,
    FakeAudio,
    open_audio,
    wav_stats,
)
from devices.audio.wavs import read_wav, silence
from edge.core.speech import call_phrases


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """One cache for the module, so each phrase is synthesised once."""
    return ClipLibrary(tmp_path_factory.mktemp("clips"))


def sox_length(path) -> float:
    result = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True)
    match = re.search(r"Length \(seconds\):\s*([0-9.]+)", result.stderr)
    assert match, result.stderr
    return float(match.group(1))


def test_clip_is_a_short_audible_wav(library):
    path = library.clip("nomor antrean")
    assert path.parent == library.cache_dir
    assert path.name.startswith("nomor-antrean-")
    duration, rms = wav_stats(path.read_bytes())
    assert 0.3 < duration < 3.0
    assert rms > 0.02
    assert tuple(read_wav(path).format) == (1, 2, 22050)


@pytest.mark.parametrize("phrase", ["silakan menuju", "A"])
def test_clip_silence_is_trimmed(library, phrase):
    samples = array("h", read_wav(library.clip(phrase)).frames)
    loud = [i for i, s in enumerate(samples) if abs(s) > 0.01 * 32768]
    # espeak-ng adds hundreds of milliseconds of silence; only a short pad may remain.
    assert loud[0] < 0.04 * 22050
    assert len(samples) - loud[-1] < 0.04 * 22050


def test_second_call_uses_the_cache(library):
    first = library.clip("loket")
    stamp = first.stat().st_mtime_ns
    renders = library.renders
    assert library.clip("  loket ") == first
    assert first.stat().st_mtime_ns == stamp
    assert library.renders == renders
    again = ClipLibrary(library.cache_dir)
    assert again.clip("loket") == first
    assert again.renders == 0


def test_cache_key_includes_voice_settings(library):
    slower = ClipLibrary(library.cache_dir, rate=100)
    assert slower.path_for("loket") != library.path_for("loket")
    slow_duration, _ = wav_stats(slower.clip("loket").read_bytes())
    normal_duration, _ = wav_stats(library.clip("loket").read_bytes())
    assert slow_duration > normal_duration


def test_prerender_several_phrases_at_once(tmp_path):
    library = ClipLibrary(tmp_path)
    phrases = ["satu", "silakan menuju", "dua ratus", "B"]
    library.prerender(phrases)
    assert library.renders == len(phrases)
    clips = [library.path_for(p).read_bytes() for p in phrases]
    assert len(set(clips)) == len(phrases), "each phrase needs its own audio"
    durations = {p: wav_stats(c)[0] for p, c in zip(phrases, clips, strict=True)}
    assert durations["silakan menuju"] > durations["satu"]
    assert all(wav_stats(c)[1] > 0.02 for c in clips)
    library.prerender(phrases)
    assert library.renders == len(phrases)


def test_concurrent_clip_requests_render_once(tmp_path):
    library = ClipLibrary(tmp_path)
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(library.clip("poli umum"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 1 and len(paths) == 4
    assert library.renders == 1


def test_synthesis_failure_raises_audio_error(tmp_path):
    with pytest.raises(AudioError, match="Sintesis suara gagal"):
        ClipLibrary(tmp_path, voice="zz-no-such-voice").clip("satu")


@pytest.mark.parametrize("phrase", [pytest.param("", id="empty"), pytest.param("   ", id="blank")])
def test_blank_phrase_is_rejected(library, phrase):
    with pytest.raises(ValueError):
        library.clip(phrase)


def test_chime_has_the_clip_format(library):
    chime = library.chime()
    assert chime == library.chime()
    assert read_wav(chime).format == read_wav(library.clip("nomor antrean")).format


def test_announcement_to_wavdir(library, tmp_path):
    audio = open_audio(f"wavdir://{tmp_path / 'out'}")
    announcer = Announcer(library, audio)
    phrases = call_phrases("A012", "Loket 1")
    path = announcer.announce(phrases, "A012")
    assert path == str(tmp_path / "out" / "A012.wav")
    wav = open_bytes(path)
    duration, rms = wav_stats(wav)
    assert duration > 2.5
    assert rms > 0.02
    assert abs(sox_length(path) - duration) < 0.05
    # Chime first, then a gap, then the first phrase; total = parts + gaps.
    decoded = read_wav(wav)
    chime = read_wav(library.chime())
    first = read_wav(library.clip(phrases[0]))
    gap = silence(chime.format, 120)
    assert decoded.frames.startswith(chime.frames + gap + first.frames)
    parts = [chime.duration] + [read_wav(library.clip(p)).duration for p in phrases]
    assert duration == pytest.approx(sum(parts) + 0.12 * len(phrases), abs=0.001)


def test_announcements_never_overwrite(library, tmp_path):
    announcer = Announcer(library, open_audio(f"wavdir://{tmp_path}"))
    first = announcer.announce(call_phrases("A012", "Loket 1"), "A012")
    second = announcer.announce(call_phrases("A012", "Loket 2"), "A012")
    assert first != second
    assert open_bytes(first) != open_bytes(second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A012-1.wav", "A012.wav"]


def test_announcer_with_fake_audio(library):
    fake = FakeAudio()
    announcer = Announcer(library, fake)
    assert announcer.announce(call_phrases("U003", "Poli Umum"), "U003") is None
    assert [name for name, _ in fake.played] == ["U003"]
    assert wav_stats(fake.played[0][1])[0] > 2.5
    fake.trigger_fake_dead()
    with pytest.raises(AudioError):
        announcer.announce(call_phrases("U004", "Poli Umum"), "U004")


def open_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_service_process_never_loads_pyttsx3_or_prints(tmp_path):
    """pyttsx3 prints "Audio saved to ..." and keeps state: keep it in the child."""
    code = (
        "import sys\n"
        "from devices.audio import ClipLibrary\n"
        f"ClipLibrary({str(tmp_path)!r}).prerender(['satu', 'dua'])\n"
        "assert 'pyttsx3' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(list(tmp_path.glob("*.wav"))) == 2
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"
