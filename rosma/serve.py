"""Running a WSGI app under waitress with systemd notification and a health watchdog."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import sdnotify
from waitress import create_server
from waitress.channel import HTTPChannel

log = logging.getLogger(__name__)


CONNECTIONS = 400  # open connections in all (waitress buffers each request before a thread takes it)
PER_CLIENT = 40  # open connections one address may hold; more are closed at once


def serve(
    app,
    host: str,
    port: int,
    healthy: Callable[[], bool],
    on_stop: Callable[[], None],
    threads: int = 32,
    per_client: int = PER_CLIENT,
    exempt: Callable[[str], bool] = lambda address: False,
    proxy_headers: bool = False,
    max_body: int = 64 * 1024,
    sockets: list | None = None,
    notifier=None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; then call ``on_stop``.

    Under systemd (Type=notify) sends READY=1 once listening, and WATCHDOG=1 every 10 s while
    ``healthy()`` is true, so a hung worker gets the service restarted. One address may hold at
    most ``per_client`` connections (idle ones close after 60 s), so one host cannot take every
    connection; addresses for which ``exempt`` is true (a reverse proxy, which limits per client
    itself, or the node's own screens) share only the overall limit. ``proxy_headers`` passes
    X-Forwarded-* through to the app, which must then check who sent them (central's
    ``TrustedProxies``); otherwise waitress removes them. A request body larger than
    ``max_body`` is refused (413) before it is read: waitress would otherwise spool up to 1 GiB
    of it to disk first.

    ``sockets``: listen on these already bound sockets instead of ``host``/``port`` (a web process
    of ``rosma.prefork``, which shares one socket between processes). ``notifier``: where READY
    and WATCHDOG go instead of systemd (there: the supervising parent).
    """
    where = {"sockets": sockets} if sockets else {"host": host, "port": port}
    server = create_server(
        app,
        **where,
        threads=threads,
        channel_timeout=60,
        connection_limit=CONNECTIONS,
        max_request_body_size=max_body,
        clear_untrusted_proxy_headers=not proxy_headers,
    )
    cap_per_client(server, per_client, exempt)
    notifier = notifier or sdnotify.SystemdNotifier()
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


def cap_per_client(server, limit: int, exempt: Callable[[str], bool]) -> None:
    """Refuse a connection from an address that already holds ``limit`` open connections."""
    held: dict[str, int] = {}  # touched only by waitress's event loop thread

    class Channel(HTTPChannel):
        def __init__(self, srv, sock, addr, adj, map=None):
            self.rosma_client = addr[0] if isinstance(addr, tuple) and addr else ""
            super().__init__(srv, sock, addr, adj, map=map)
            held[self.rosma_client] = held.get(self.rosma_client, 0) + 1

        def del_channel(self, map=None):
            if self._fileno is not None and self.rosma_client in held:
                held[self.rosma_client] -= 1
                if held[self.rosma_client] <= 0:
                    del held[self.rosma_client]
            super().del_channel(map)

    def open_channel(srv, sock, addr, adj, map=None):
        client = addr[0] if isinstance(addr, tuple) and addr else ""
        if limit and held.get(client, 0) >= limit and not exempt(client):
            log.warning("refused a connection: %d already open from one address", held[client])
            sock.close()
            return None
        return Channel(srv, sock, addr, adj, map=map)

    servers = [server] if hasattr(server, "channel_class") else list(getattr(server, "map", {}).values())
    for one in servers:
        if hasattr(one, "channel_class"):
            one.channel_class = open_channel
