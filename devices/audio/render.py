"""Child-process entry point that synthesises clips with pyttsx3 + espeak-ng.

``python -m devices.audio.render [--voice id] [--rate 140] OUTDIR -- PHRASE...``
writes each phrase as OUTDIR/<clip_filename>, silence-trimmed, atomically.
Exit status 0 when every phrase was written, 1 otherwise (reason on stderr).
Run by ClipLibrary; not meant to be imported by the service.
"""

import argparse
import contextlib
import io
import logging
import os
import sys
from pathlib import Path

from devices.audio.base import AudioError
from devices.audio.clips import clip_filename, normalize_phrase, write_atomic
from devices.audio.wavs import read_wav, trim_silence, wav_bytes

log = logging.getLogger(__name__)

SILENT_TRIES = 3  # attempts at a phrase whose synthesis came out silent


def render(outdir: Path, phrases: list[str], voice: str, rate: int) -> None:
    """Synthesise phrases into outdir; AudioError on the first failure.

    pyttsx3's espeak driver keeps a single pending text, so each phrase gets its
    own save_to_file + runAndWait round.
    """
    errors: list[object] = []
    # The espeak driver print()s "Audio saved to ..." for every file.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            import pyttsx3  # noqa: PLC0415 -- only the child process may load it

            engine = pyttsx3.init("espeak")
        except (RuntimeError, OSError, ImportError) as exc:
            raise AudioError("Mesin suara espeak-ng tidak tersedia") from exc
        # The driver swallows exceptions (e.g. an unknown voice) into "error" events.
        engine.connect("error", lambda **kwargs: errors.append(kwargs.get("exception")))
        engine.setProperty("voice", voice)
        engine.setProperty("rate", rate)
        for index, phrase in enumerate(phrases):
            raw = outdir / f".raw-{os.getpid()}-{index}.wav"
            for attempt in range(1, SILENT_TRIES + 1):
                try:
                    engine.save_to_file(phrase, str(raw))
                    engine.runAndWait()
                    if errors:
                        raise AudioError(f"Sintesis suara gagal: {errors[0]}")
                    clip = trim_silence(read_wav(raw))
                    break
                except AudioError:
                    # the espeak driver writes the file when synthesis ends and drops the samples
                    # that came with that last callback: a short phrase synthesised in one
                    # callback now and then comes out empty; synthesising it again gives it
                    if errors or attempt == SILENT_TRIES:
                        raise
                    log.warning("clip of %r came out silent; synthesising it again", phrase)
                finally:
                    raw.unlink(missing_ok=True)
            write_atomic(outdir / clip_filename(phrase, voice, rate), wav_bytes(clip))
            log.debug("rendered %r (%.2f s)", phrase, clip.duration)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devices.audio.render")
    parser.add_argument("--voice", default="id")
    parser.add_argument("--rate", type=int, default=140)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("phrases", nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        phrases = [normalize_phrase(p) for p in args.phrases]
        args.outdir.mkdir(parents=True, exist_ok=True)
        render(args.outdir, phrases, args.voice, args.rate)
    except (AudioError, OSError, ValueError) as exc:
        log.error("clip rendering failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
