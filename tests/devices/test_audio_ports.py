"""Audio ports: URI registry, WAV folder, voice off, ALSA without a sound card, fake."""

import re
import threading
from pathlib import Path

import pytest

from devices.audio import (
    AlsaAudio,
    AudioError,
    FakeAudio,
    NullAudio,
    WavdirAudio,
    open_audio,
)
from devices.audio.wavs import chime_wav

WAV = chime_wav()


@pytest.mark.parametrize(
    ("uri", "kind", "attribute", "value"),
    [
        pytest.param("alsa:default", AlsaAudio, "device", "default", id="alsa-default"),
        pytest.param("alsa:hw:0,0", AlsaAudio, "device", "hw:0,0", id="alsa-hw"),
        pytest.param(
            "alsa:plughw:CARD=Device,DEV=0",
            AlsaAudio,
            "device",
            "plughw:CARD=Device,DEV=0",
            id="alsa-card",
        ),
        pytest.param(
            "wavdir:///var/lib/rosma/suara",
            WavdirAudio,
            "directory",
            "/var/lib/rosma/suara",
            id="wavdir",
        ),
        pytest.param(
            "wavdir:///tmp/dengan%20spasi",
            WavdirAudio,
            "directory",
            "/tmp/dengan spasi",
            id="wavdir-quoted",
        ),
        pytest.param("none", NullAudio, None, None, id="none"),
    ],
)
def test_open_audio(uri, kind, attribute, value):
    port = open_audio(uri)
    assert type(port) is kind
    if attribute:
        assert str(getattr(port, attribute)) == value


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("", id="empty"),
        pytest.param("None", id="none-capitalised"),
        pytest.param("alsa", id="alsa-no-colon"),
        pytest.param("alsa:", id="alsa-no-device"),
        pytest.param("alsa:-Dfoo", id="alsa-option-injection"),
        pytest.param("alsa:foo bar", id="alsa-space"),
        pytest.param("wavdir:", id="wavdir-no-path"),
        pytest.param("wavdir:relative/dir", id="wavdir-relative"),
        pytest.param("wavdir://host/dir", id="wavdir-host"),
        pytest.param("wavdir:///dir?x=1", id="wavdir-query"),
        pytest.param("pulse:default", id="unknown-scheme"),
        pytest.param("/tmp/suara", id="bare-path"),
    ],
)
def test_open_audio_rejects_bad_uri(uri):
    with pytest.raises(ValueError, match=re.escape(repr(uri))):
        open_audio(uri)


def test_open_audio_rejects_non_string():
    with pytest.raises(ValueError):
        open_audio(None)


def test_alsa_without_sound_card_raises_audio_error():
    port = open_audio("alsa:nonexistent_device_xyz")
    assert port.status()[0] is True  # nothing probed before the first play
    with pytest.raises(AudioError, match="nonexistent_device_xyz"):
        port.play(WAV, "A012")
    ok, message = port.status()
    assert not ok
    assert "tidak tersedia" in message


def test_alsa_rejects_non_wav_before_calling_aplay():
    with pytest.raises(AudioError):
        open_audio("alsa:default").play(b"not a wav", "A012")


def test_wavdir_creates_directory_and_never_overwrites(tmp_path):
    directory = tmp_path / "nested" / "suara"
    port = open_audio(f"wavdir://{directory}")
    assert not directory.exists()
    paths = [port.play(WAV + bytes([i]), "A012") for i in range(3)]
    assert paths == [str(directory / n) for n in ("A012.wav", "A012-1.wav", "A012-2.wav")]
    for i, path in enumerate(paths):
        assert Path(path).read_bytes() == WAV + bytes([i])
    assert port.status()[0]


def test_wavdir_concurrent_plays_get_distinct_files(tmp_path):
    port = WavdirAudio(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(port.play(WAV, "B001"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 8
    assert len(list(tmp_path.iterdir())) == 8


@pytest.mark.parametrize(
    ("name", "file_name"),
    [
        pytest.param("../../etc/passwd", "etc-passwd.wav", id="traversal"),
        pytest.param(".hidden", "hidden.wav", id="hidden"),
        pytest.param("A012 loket 1", "A012-loket-1.wav", id="spaces"),
        pytest.param("///", "pengumuman.wav", id="nothing-left"),
    ],
)
def test_wavdir_names_stay_inside_the_directory(tmp_path, name, file_name):
    path = WavdirAudio(tmp_path).play(WAV, name)
    assert path == str(tmp_path / file_name)


def test_wavdir_unwritable_raises_audio_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    port = WavdirAudio(blocker / "suara")
    with pytest.raises(AudioError, match="tidak dapat disimpan"):
        port.play(WAV, "A012")
    assert port.status()[0] is False


def test_null_audio_does_nothing():
    port = open_audio("none")
    assert port.play(WAV, "A012") is None
    assert port.status() == (True, "Suara panggilan dimatikan")


def test_fake_audio_records_and_can_die():
    fake = FakeAudio()
    assert fake.play(WAV, "A012") is None
    assert fake.played == [("A012", WAV)]
    assert fake.status()[0]
    fake.trigger_fake_dead()
    with pytest.raises(AudioError, match="tidak tersedia"):
        fake.play(WAV, "A013")
    assert fake.played == [("A012", WAV)]
    assert fake.status() == (False, "Perangkat suara tidak tersedia")
    fake.trigger_fake_alive()
    fake.play(WAV, "A014")
    assert [name for name, _ in fake.played] == ["A012", "A014"]


def test_fake_audio_rejects_non_wav():
    with pytest.raises(AudioError):
        FakeAudio().play(b"nope", "A012")


def test_audio_error_default_message_is_indonesian():
    assert str(AudioError()) == "Perangkat suara tidak tersedia"
