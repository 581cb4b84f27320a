"""Notifiers that reach no phone: a JSON-lines file, the logging module, and none.

For the demo and for tests: the demo user reads the one-time code in the log (``log://``) or in
the file (``log:///path/file.jsonl``). They check the phone number like the real channels do, so
a number WhatsApp would refuse is refused here too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from zoneinfo import ZoneInfo

from infra.notify.base import MSG_FAILED, REASON_FAILED, Notification, Notifier, NotifyError, local_phone, mask_phone

logger = logging.getLogger(__name__)  # "infra.notify.log"

WIB = ZoneInfo("Asia/Jakarta")


def _local_id() -> str:
    return f"log-{uuid.uuid4().hex[:16]}"


class JsonlNotifier(Notifier):
    """Appends one JSON object per message to ``path``, created with mode 0600 (it holds codes).

    Keys: time (ISO 8601, milliseconds, Asia/Jakarta), id, kind, phone (as stored, unmasked: the
    file is the message), template, params, text. Each line is written with one ``write`` on an
    O_APPEND descriptor, so several processes may share the file. Returns a local id "log-...".
    Raises NotifyError (not retryable) when the file cannot be written.
    """

    def __init__(self, path: str, now: Callable[[], dt.datetime] | None = None) -> None:
        self.path = path
        self._now = now or (lambda: dt.datetime.now(WIB))
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"log ({self.path})"

    def send(self, n: Notification) -> str:
        phone = local_phone(n.phone)
        message_id = _local_id()
        record = {
            "time": self._now().isoformat(timespec="milliseconds"),
            "id": message_id,
            "kind": n.kind,
            "phone": phone,
            "template": n.template,
            "params": list(n.params),
            "text": n.text,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with self._lock:
                self._append(line)
        except OSError as exc:
            logger.warning("log notifier cannot write %s: %s", self.path, exc)
            raise NotifyError(
                MSG_FAILED, retryable=False, reason=REASON_FAILED, detail=f"cannot write {self.path}: {exc.strerror}"
            ) from None
        logger.info("notification %s to %s written to %s", message_id, mask_phone(phone), self.path)
        return message_id

    def _append(self, line: bytes) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            os.fchmod(fd, 0o600)  # whatever the umask
        except FileExistsError:
            fd = os.open(self.path, flags)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class LoggingNotifier(Notifier):
    """Logs each message at INFO on the ``infra.notify.log`` logger, text included, phone masked."""

    def describe(self) -> str:
        return f"log (logging {logger.name})"

    def send(self, n: Notification) -> str:
        phone = local_phone(n.phone)
        message_id = _local_id()
        logger.info(
            "notification %s to %s (%s, template %s%s): %s",
            message_id,
            mask_phone(phone),
            n.kind,
            n.template,
            f", params {list(n.params)}" if n.params else "",
            n.text,
        )
        return message_id


class NullNotifier(Notifier):
    """Sends nothing and returns "" (notifications off)."""

    reaches_phones = False

    def describe(self) -> str:
        return "none (notifications off)"

    def send(self, n: Notification) -> str:
        return ""
