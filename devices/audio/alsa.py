"""AlsaAudio: play announcements on an ALSA device with ``aplay``.

Needs the ``aplay`` program (Debian package alsa-utils). Nothing is checked at
construction, so the service starts with the speaker unplugged; play() raises
AudioError instead.
"""

import logging
import re
import shutil
import subprocess
from typing import NoReturn

from devices.audio.base import AudioError, AudioPort
from devices.audio.wavs import read_wav

log = logging.getLogger(__name__)

# ALSA PCM names such as "default", "hw:0,0", "plughw:CARD=Device,DEV=0".
_DEVICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:,.=]*")
_SLACK_S = 10.0


class AlsaAudio(AudioPort):
    """Plays through ``aplay -q -D <device>``; each play blocks until the sound ends."""

    def __init__(self, device: str) -> None:
        if not _DEVICE.fullmatch(device):
            raise ValueError(f"invalid ALSA device name {device!r}")
        self.device = device
        self._last_error: str | None = None

    def play(self, wav: bytes, name: str) -> str | None:
        """Play wav; raises AudioError if aplay is missing, fails or hangs.

        The timeout is the WAV's length plus a few seconds.
        """
        timeout = read_wav(wav).duration + _SLACK_S
        command = ["aplay", "-q", "-D", self.device, "-"]
        try:
            result = subprocess.run(command, input=wav, capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            self._fail("aplay not found", "Program aplay tidak terpasang", exc)
        except subprocess.TimeoutExpired as exc:
            self._fail(
                f"aplay timed out after {timeout:.1f} s",
                "Perangkat suara tidak merespons",
                exc,
            )
        except OSError as exc:
            self._fail(f"aplay could not start: {exc}", "Perangkat suara tidak tersedia", exc)
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip()
            self._fail(
                f"aplay exit {result.returncode}: {stderr}",
                "Perangkat suara tidak tersedia",
            )
        self._last_error = None
        log.debug("played %s on ALSA device %s", name, self.device)
        return None

    def _fail(self, detail: str, message: str, cause: Exception | None = None) -> NoReturn:
        log.error("announcement failed on ALSA device %s: %s", self.device, detail)
        self._last_error = message
        raise AudioError(f"{message} ({self.device})") from cause

    def status(self) -> tuple[bool, str]:
        if shutil.which("aplay") is None:
            return False, "Program aplay tidak terpasang"
        if self._last_error is not None:
            return False, f"{self._last_error} ({self.device})"
        return True, f"Pengeras suara siap ({self.device})"
