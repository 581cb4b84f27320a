"""Running a WSGI app under waitress with systemd notification and a health watchdog."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import sdnotify
from waitress import create_server

log = logging.getLogger(__name__)


def serve(
    app, host: str, port: int, healthy: Callable[[], bool], on_stop: Callable[[], None], threads: int = 32
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; then call ``on_stop``.

    Under systemd (Type=notify) sends READY=1 once listening, and WATCHDOG=1 every 10 s while
    ``healthy()`` is true, so a hung worker gets the service restarted.
    """
    server = create_server(
        app, host=host, port=port, threads=threads, channel_timeout=60, clear_untrusted_proxy_headers=True
    )
    notifier = sdnotify.SystemdNotifier()
    stop = threading.Event()

    def shutdown(signum, frame):
        log.info("stopping (signal %s)", signum)
        stop.set()
        raise _Stop

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    def watchdog():
        while not stop.wait(10):
            if healthy():
                notifier.notify("WATCHDOG=1")
            else:
                log.error("health check failed; not petting the watchdog")

    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()
    log.info("listening on http://%s:%s", host, server.effective_port)
    notifier.notify("READY=1")
    try:
        server.run()
    except _Stop:
        pass
    finally:
        notifier.notify("STOPPING=1")
        on_stop()  # ends long-lived responses (event streams) and the workers
        # let requests in progress finish before the sockets go away
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        server.close()


class _Stop(SystemExit):
    """Raised from the signal handler to leave waitress's loop in the main thread.

    A SystemExit because waitress's loop re-raises only ExitNow, KeyboardInterrupt and
    SystemExit: an ordinary exception raised while the signal interrupted a channel's read was
    caught there ("uncaptured python exception, closing channel") and the server kept running.
    """
