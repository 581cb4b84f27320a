"""open_audio: pick the audio adapter from a config URI."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from devices.audio.alsa import AlsaAudio
from devices.audio.base import AudioPort
from devices.audio.wavdir import NullAudio, WavdirAudio


def open_audio(uri: str) -> AudioPort:
    """Build the adapter for uri; touches no device and writes no file.

    - ``alsa:<device>`` (``alsa:default``, ``alsa:hw:0,0``): play with aplay;
    - ``wavdir:///absolute/path``: store each announcement as a WAV file there;
    - ``none``: voice off.

    Raises ValueError naming the URI if it is not one of these.
    """
    if not isinstance(uri, str):
        raise ValueError(f"audio URI must be a string, got {uri!r}")
    if uri == "none":
        return NullAudio()
    scheme, _, rest = uri.partition(":")
    if scheme == "alsa" and rest:
        try:
            return AlsaAudio(rest)
        except ValueError as exc:
            raise ValueError(f"invalid audio URI {uri!r}: {exc}") from None
    if scheme == "wavdir":
        parts = urlsplit(uri)
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or parts.query or parts.fragment:
            raise ValueError(f"invalid audio URI {uri!r}: expected wavdir:///absolute/path")
        return WavdirAudio(Path(path))
    raise ValueError(f"invalid audio URI {uri!r}: expected alsa:<device>, wavdir:///path or none")
