"""FakeNotifier: an in-memory notifier for tests of the code that sends, with fault injection."""

from __future__ import annotations

import threading

from infra.notify.base import (
    MSG_NOT_ON_WHATSAPP,
    MSG_TRY_LATER,
    REASON_RECIPIENT,
    REASON_UNAVAILABLE,
    Notification,
    Notifier,
    NotifyError,
    local_phone,
)


class FakeNotifier(Notifier):
    """Records every sent notification in ``sent`` and returns ids "fake-1", "fake-2", ...

    Checks the phone number like the real adapters. ``trigger_fake_error(error, count)`` makes the
    next ``count`` sends raise ``error`` (default: a retryable "try later"); ``trigger_fake_unreachable``
    makes them fail as a number that is not on WhatsApp. Failed sends are not recorded.
    """

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._faults: list[NotifyError] = []
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "fake (in memory)"

    def send(self, n: Notification) -> str:
        local_phone(n.phone)
        with self._lock:
            if self._faults:
                raise self._faults.pop(0)
            self.sent.append(n)
            return f"fake-{len(self.sent)}"

    def trigger_fake_error(self, error: NotifyError | None = None, count: int = 1) -> None:
        """The next ``count`` sends raise ``error`` (default: retryable, provider unavailable)."""
        error = error or NotifyError(MSG_TRY_LATER, retryable=True, reason=REASON_UNAVAILABLE, detail="fake fault")
        with self._lock:
            self._faults.extend([error] * count)

    def trigger_fake_unreachable(self, count: int = 1) -> None:
        """The next ``count`` sends fail like a number WhatsApp cannot reach (not retryable)."""
        self.trigger_fake_error(
            NotifyError(MSG_NOT_ON_WHATSAPP, retryable=False, reason=REASON_RECIPIENT, detail="fake unreachable"),
            count,
        )
