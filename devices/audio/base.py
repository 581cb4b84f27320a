"""The audio port: what every speaker adapter provides, and its error."""

from abc import ABC, abstractmethod


class AudioError(Exception):
    """The announcement could not be synthesised, played or stored.

    The message is Indonesian and may be shown to staff as is.
    """

    def __init__(self, message: str = "Perangkat suara tidak tersedia") -> None:
        super().__init__(message)


class AudioPort(ABC):
    """Somewhere an announcement goes: a sound card, a folder of WAVs, or nowhere."""

    @abstractmethod
    def play(self, wav: bytes, name: str) -> str | None:
        """Play or store one complete WAV announcement named name (e.g. "A012").

        Returns the path of the file written by adapters that store, else None.
        Blocks until playback has finished. Raises AudioError if the device is
        missing, busy or fails, or the file cannot be written.
        """

    @abstractmethod
    def status(self) -> tuple[bool, str]:
        """(ok, Indonesian message for staff).

        Never raises; may be stale until the next play.
        """
