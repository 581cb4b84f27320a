"""FakeAudio: an in-memory audio port for tests, with fault injection."""

from devices.audio.base import AudioError, AudioPort
from devices.audio.wavs import read_wav


class FakeAudio(AudioPort):
    """Records every announcement in ``played`` as (name, wav bytes).

    play() checks that the bytes are a WAV (AudioError if not), like a real device.
    trigger_fake_dead() makes play raise AudioError until trigger_fake_alive().
    """

    def __init__(self) -> None:
        self.played: list[tuple[str, bytes]] = []
        self._dead = False

    def play(self, wav: bytes, name: str) -> str | None:
        if self._dead:
            raise AudioError("Perangkat suara tidak tersedia")
        read_wav(wav)
        self.played.append((name, wav))
        return None

    def status(self) -> tuple[bool, str]:
        if self._dead:
            return False, "Perangkat suara tidak tersedia"
        return True, "Pengeras suara siap"

    def trigger_fake_dead(self) -> None:
        """Simulate an unplugged speaker: every later play raises AudioError."""
        self._dead = True

    def trigger_fake_alive(self) -> None:
        """Undo trigger_fake_dead."""
        self._dead = False
