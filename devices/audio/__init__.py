"""Voice announcements: clip library, announcer and audio ports.

Ports: ALSA (aplay), a folder of WAV files, none, and a fake for tests.
"""

from devices.audio.alsa import AlsaAudio
from devices.audio.announcer import Announcer
from devices.audio.base import AudioError, AudioPort
from devices.audio.clips import ClipLibrary
from devices.audio.fake import FakeAudio
from devices.audio.registry import open_audio
from devices.audio.wavdir import NullAudio, WavdirAudio
from devices.audio.wavs import join_wavs, wav_stats

__all__ = [
    "AlsaAudio",
    "Announcer",
    "AudioError",
    "AudioPort",
    "ClipLibrary",
    "FakeAudio",
    "NullAudio",
    "WavdirAudio",
    "join_wavs",
    "open_audio",
    "wav_stats",
]
