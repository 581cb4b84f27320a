"""ClipLibrary: voice clips rendered once by espeak-ng (via pyttsx3) and cached on disk.

Synthesis runs in a short-lived child process (``python -m devices.audio.render``)
so this long-running process never holds pyttsx3 or libespeak-ng state: pyttsx3
prints to stdout, never forgets a save-to-file target, and busy-polls in the
calling thread. Cached clips are trimmed, 22050 Hz mono 16-bit WAVs.
"""

import hashlib
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from devices.audio.base import AudioError
from devices.audio.wavs import CLIP_RATE, chime_wav

log = logging.getLogger(__name__)

# Bump when synthesis or trimming changes, so stale cached clips are not reused.
RENDER_VERSION = 1
CHIME_VERSION = 1
_BATCH = 100
_BASE_TIMEOUT_S = 30.0
_PER_PHRASE_TIMEOUT_S = 2.0
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")
# The directory holding the ``devices`` package (a checkout or site-packages).
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def normalize_phrase(phrase: str) -> str:
    """phrase with runs of whitespace collapsed; ValueError if nothing is left."""
    normalized = " ".join(phrase.split())
    if not normalized:
        raise ValueError("empty phrase")
    return normalized


def clip_filename(phrase: str, voice: str, rate: int) -> str:
    """Cache file name of a normalized phrase.

    A readable slug plus a hash of everything that shapes the sound.
    """
    key = f"{RENDER_VERSION}\0{voice}\0{rate}\0{phrase}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    slug = _SLUG_UNSAFE.sub("-", phrase.lower()).strip("-")[:40] or "x"
    return f"{slug}-{digest}.wav"


def write_atomic(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file and a rename (no half files)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ClipLibrary:
    """Phrase -> cached WAV clip, spoken by espeak-ng through pyttsx3.

    Thread-safe. Several processes may share cache_dir (files appear atomically).
    ``renders`` counts the phrases this instance has synthesised. Needs the
    espeak-ng library and an importable pyttsx3; without them clip() raises
    AudioError.
    """

    def __init__(self, cache_dir: str | Path, voice: str = "id", rate: int = 140) -> None:
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self.rate = int(rate)
        self.renders = 0
        self._lock = threading.Lock()

    def path_for(self, phrase: str) -> Path:
        """Where the clip of phrase is (or will be) cached; ValueError if blank."""
        return self.cache_dir / clip_filename(normalize_phrase(phrase), self.voice, self.rate)

    def clip(self, phrase: str) -> Path:
        """The cached clip of phrase, rendered first if needed.

        Raises ValueError for a blank phrase, AudioError if synthesis fails.
        """
        self.prerender([phrase])
        return self.path_for(phrase)

    def missing(self, phrases: Iterable[str]) -> list[str]:
        """The normalized phrases, without repeats, that have no cached clip yet."""
        wanted = dict.fromkeys(normalize_phrase(p) for p in phrases)
        return [p for p in wanted if not self.path_for(p).exists()]

    def prerender(self, phrases: Iterable[str], batch: int = _BATCH) -> None:
        """Render every phrase not cached yet, ``batch`` phrases per child process.

        The cache is locked one batch at a time: a call that needs a clip while a long list is
        being rendered ahead waits for one batch, not for the whole list.
        Raises ValueError for a blank phrase, AudioError if synthesis fails.
        """
        missing = self.missing(phrases)
        for start in range(0, len(missing), batch):
            with self._lock:
                left = [p for p in missing[start : start + batch] if not self.path_for(p).exists()]
                if left:
                    self._render(left)

    def chime(self) -> Path:
        """The cached "ding-dong" WAV, same format as the clips.

        Raises AudioError if it cannot be written.
        """
        path = self.cache_dir / f"chime-v{CHIME_VERSION}-{CLIP_RATE}.wav"
        with self._lock:
            if not path.exists():
                try:
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    write_atomic(path, chime_wav(CLIP_RATE))
                except OSError as exc:
                    raise AudioError(f"Folder suara tidak dapat ditulis: {self.cache_dir}") from exc
        return path

    def _render(self, phrases: list[str]) -> None:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioError(f"Folder suara tidak dapat ditulis: {self.cache_dir}") from exc
        command = [
            sys.executable, "-m", "devices.audio.render",
            "--voice", self.voice, "--rate", str(self.rate),
            str(self.cache_dir), "--", *phrases,
        ]  # fmt: skip
        env = dict(os.environ)
        if _PACKAGE_ROOT.name not in {"site-packages", "dist-packages"}:
            # Running from a source checkout: let the child import the same code.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")]))
        timeout = _BASE_TIMEOUT_S + _PER_PHRASE_TIMEOUT_S * len(phrases)
        log.info("rendering %s voice clip(s) with voice %s", len(phrases), self.voice)
        try:
            result = subprocess.run(command, capture_output=True, env=env, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("clip renderer did not run: %s", exc)
            raise AudioError("Sintesis suara gagal") from exc
        if result.returncode != 0:
            log.error(
                "clip renderer exit %s: %s",
                result.returncode,
                result.stderr.decode("utf-8", "replace").strip(),
            )
            raise AudioError("Sintesis suara gagal")
        absent = [p for p in phrases if not self.path_for(p).exists()]
        if absent:
            log.error("clip renderer wrote no file for %r", absent)
            raise AudioError("Sintesis suara gagal")
        self.renders += len(phrases)
