"""Announcer: chime plus voice clips, joined and sent to an audio port."""

import logging

from devices.audio.base import AudioPort
from devices.audio.clips import ClipLibrary
from devices.audio.wavs import join_wavs

log = logging.getLogger(__name__)


class Announcer:
    """Turns phrases (see edge.core.speech.call_phrases) into one announcement."""

    def __init__(self, clips: ClipLibrary, audio: AudioPort, gap_ms: int = 120) -> None:
        self.clips = clips
        self.audio = audio
        self.gap_ms = gap_ms

    def render(self, phrases: list[str]) -> bytes:
        """Chime then each phrase's clip, gap_ms apart, as one complete WAV.

        Missing clips are synthesised first (one child process for all of them).
        Raises ValueError for a blank phrase, AudioError if synthesis fails.
        """
        self.clips.prerender(phrases)
        parts = [self.clips.chime(), *(self.clips.clip(p) for p in phrases)]
        return join_wavs(parts, self.gap_ms)

    def announce(self, phrases: list[str], name: str) -> str | None:
        """Render phrases and play them as name; returns the file written or None.

        Blocks while a sound card plays. Raises ValueError for a blank phrase and
        AudioError if synthesis or the device fails.
        """
        wav = self.render(phrases)
        path = self.audio.play(wav, name)
        log.info("announced %s (%s phrases)", name, len(phrases))
        return path
