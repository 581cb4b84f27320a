"""WavdirAudio and NullAudio: announcements stored as files, or dropped."""

import logging
import os
import re
from pathlib import Path

from devices.audio.base import AudioError, AudioPort

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_SUFFIX = 10_000


def safe_stem(name: str) -> str:
    """name reduced to letters, digits, '_', '.' and '-'; never empty or hidden."""
    stem = _UNSAFE.sub("-", name).strip(".-")[:80]
    return stem or "pengumuman"


class WavdirAudio(AudioPort):
    """Writes each announcement to ``<directory>/<name>.wav``; never overwrites.

    An existing name gets a suffix: ``A012.wav``, ``A012-1.wav``, ``A012-2.wav``...
    The directory is created on first use. Safe to call from several threads.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def play(self, wav: bytes, name: str) -> str | None:
        """Store wav and return the path written; AudioError if it cannot be written."""
        stem = safe_stem(name)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for n in range(_MAX_SUFFIX):
                path = self.directory / (f"{stem}.wav" if n == 0 else f"{stem}-{n}.wav")
                try:
                    # "x" is an atomic create-if-absent: racing threads never share one.
                    with open(path, "xb") as f:
                        f.write(wav)
                except FileExistsError:
                    continue
                log.info("announcement %s written to %s", name, path)
                return str(path)
        except OSError as exc:
            log.error("cannot write announcement %s to %s: %s", name, self.directory, exc)
            raise AudioError(f"Rekaman suara tidak dapat disimpan di {self.directory}") from exc
        raise AudioError(f"Terlalu banyak rekaman bernama {stem} di {self.directory}")

    def status(self) -> tuple[bool, str]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False, f"Folder rekaman suara tidak dapat dibuat: {self.directory}"
        if not os.access(self.directory, os.W_OK):
            return False, f"Folder rekaman suara tidak dapat ditulis: {self.directory}"
        return True, f"Pengumuman disimpan ke {self.directory}"


class NullAudio(AudioPort):
    """Drops every announcement (voice switched off)."""

    def play(self, wav: bytes, name: str) -> str | None:
        log.debug("voice off: announcement %s dropped", name)
        return None

    def status(self) -> tuple[bool, str]:
        return True, "Suara panggilan dimatikan"
