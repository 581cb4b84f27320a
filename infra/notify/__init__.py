"""Notifications to patients' phones (one-time codes, reminders): the port and its adapters by URI.

``from infra.notify import Notification, NotifyError, Notifier, open_notifier``. Adapters:
WhatsApp Business Cloud API (``whatsapp``), an HTTP SMS gateway (``sms``), a JSON-lines file,
the logging module and none (``log``), and ``FakeNotifier`` for tests. ``infra.notify.standin``
plays the WhatsApp Cloud API and an SMS gateway over real HTTP, for tests and the demo; import
it where needed. See docs/notifications.md.
"""

from infra.notify.base import (
    KIND_INFO,
    KIND_OTP,
    REASON_FAILED,
    REASON_RECIPIENT,
    REASON_UNAVAILABLE,
    Notification,
    Notifier,
    NotifyError,
    e164,
    international,
    local_phone,
    mask_phone,
)
from infra.notify.fake import FakeNotifier
from infra.notify.registry import open_notifier

__all__ = [
    "KIND_INFO",
    "KIND_OTP",
    "REASON_FAILED",
    "REASON_RECIPIENT",
    "REASON_UNAVAILABLE",
    "FakeNotifier",
    "Notification",
    "Notifier",
    "NotifyError",
    "e164",
    "international",
    "local_phone",
    "mask_phone",
    "open_notifier",
]
