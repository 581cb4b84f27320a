"""Phone streams: each puskesmas's live queue pushed to patients' phones (server-sent events).

Waitress gives every open request a thread of its own, so it cannot hold the thousands of phones
that follow a busy morning's queue. The streams are served by one asyncio event loop (aiohttp)
instead: an open stream costs a socket and a few kilobytes, not a thread.

How a change reaches a phone: the edge publishes its queue snapshot (retained) at every change;
central's sync worker stores it on the ``Node`` row and bumps ``snapshot_rev``; the hub here looks
at every live node's ``(snapshot_rev, online)`` with one small query every ``POLL_S`` (any number
of web and sync processes may share the database), rebuilds the public board of a puskesmas that
changed (``central.queue_view.public_board``: ticket numbers and room names only, never who holds
them), encodes it once and hands the same bytes to every phone watching that puskesmas.

Each event is the whole board, so a phone that reconnects (``retry: 1000`` ms) is right again
with the first event it gets: it is sent the current board at once. A slow phone only ever gets
the newest board (a later one replaces one it has not taken yet); a comment every
``HEARTBEAT_S`` keeps proxies and mobile networks from closing an idle stream.

Routes: ``GET /arus/<puskesmas>`` (the stream; CORS open: the data is public) and
``GET /sehat`` (health). Central's web process runs this in a thread of its own
(``stream_embedded``), or ``rosma central stream`` runs it as its own service.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the hub looks for a changed snapshot: the bulk of a call's delay to a phone
HEARTBEAT_S = 15.0
RETRY_MS = 1000
CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

# the board of one puskesmas as the phones see it, and the key that says when it must be rebuilt
Loader = Callable[[str, dt.date], "dict | None"]  # (puskesmas code, today) -> board, None: unknown code
Revisions = Callable[[], dict]  # {puskesmas code: revision key} for every puskesmas with a live node


def _sse(event_id: str, data: dict) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: board\ndata: {body}\n\n".encode()


@dataclass(eq=False)
class Watcher:
    """One open phone stream: the newest board it has not been sent yet."""

    pending: bytes | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, data: bytes) -> None:
        self.pending = data
        self.wake.set()


@dataclass
class Stats:
    opened: int = 0
    refused: int = 0
    boards_built: int = 0
    fanouts: int = 0
    last_fanout_ms: float = 0.0


class StreamHub:
    """The phones watching each puskesmas and the board each was last sent."""

    def __init__(
        self,
        load: Loader,
        revisions: Revisions,
        today: Callable[[], dt.date],
        max_streams: int = 10000,
        per_client: int = 20,
        exempt: Callable[[str], bool] = lambda address: False,
        poll_s: float = POLL_S,
        reset: Callable[[], None] = lambda: None,
    ):
        self.load, self.revisions, self.today = load, revisions, today
        self.max_streams, self.per_client, self.exempt = max_streams, per_client, exempt
        self.poll_s = poll_s
        self.reset = reset  # after a database error: drop the connection, so the next poll opens a new one
        self.watchers: dict[str, set[Watcher]] = {}
        self.per_address: dict[str, int] = {}
        self.boards: dict[str, tuple[object, bytes]] = {}  # code -> (revision key, encoded event)
        self.stats = Stats()
        # the database is read from one thread: peewee keeps one connection per thread
        self.db = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream-db")
        self.problem = ""
        self.closing = False

    def close(self) -> None:
        """End every stream (the server is stopping): each handler returns at once."""
        self.closing = True
        for watchers in self.watchers.values():
            for w in watchers:
                w.wake.set()

    @property
    def open_streams(self) -> int:
        return sum(len(w) for w in self.watchers.values())

    # ---- boards --------------------------------------------------------------------------
    def _build(self, code: str) -> bytes | None:
        board = self.load(code, self.today())
        if board is None:
            return None
        self.stats.boards_built += 1
        return _sse(str(board.get("rev", 0)), board)

    async def board(self, code: str) -> bytes | None:
        """The encoded current board of ``code`` for a phone that connects now (checked against the
        newest revision, one small query, so a reconnecting phone is right at once); None: no such
        puskesmas."""
        loop = asyncio.get_running_loop()
        revisions = await loop.run_in_executor(self.db, self.revisions)
        key = (revisions.get(code), self.today())
        cached = self.boards.get(code)
        if cached is not None and cached[0] == key:
            return cached[1]
        data = await loop.run_in_executor(self.db, self._build, code)
        if data is not None:
            self.boards[code] = (key, data)
            if cached is not None and cached[1] != data:
                self.fan_out(code, data)  # the phones already watching get it too
        return data

    async def poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.poll_once(loop)
                self.problem = ""
            except Exception as exc:  # the database is away: keep the streams, say so, try again
                if not self.problem:
                    log.exception("phone streams: reading the queue snapshots failed")
                self.problem = f"queue snapshots unreadable: {exc.__class__.__name__}"
                with contextlib.suppress(Exception):
                    await loop.run_in_executor(self.db, self.reset)
            await asyncio.sleep(self.poll_s)

    async def poll_once(self, loop=None) -> int:
        """Rebuild and send the board of every watched puskesmas that changed; how many did."""
        loop = loop or asyncio.get_running_loop()
        watched = [code for code, w in self.watchers.items() if w]
        for code in list(self.boards):  # nobody watches it any more: forget its board
            if code not in watched:
                del self.boards[code]
        if not watched:
            return 0
        revisions = await loop.run_in_executor(self.db, self.revisions)
        today = self.today()
        changed = 0
        for code in watched:
            key = (revisions.get(code), today)
            cached = self.boards.get(code)
            if cached is not None and cached[0] == key:
                continue
            data = await loop.run_in_executor(self.db, self._build, code)
            if data is None:
                continue
            self.boards[code] = (key, data)
            if cached is None or cached[1] != data:
                self.fan_out(code, data)
                changed += 1
        return changed

    def fan_out(self, code: str, data: bytes) -> None:
        t0 = time.perf_counter()
        for w in self.watchers.get(code, ()):
            w.offer(data)
        self.stats.fanouts += 1
        self.stats.last_fanout_ms = (time.perf_counter() - t0) * 1e3

    # ---- streams -------------------------------------------------------------------------
    def admit(self, address: str) -> str:
        """ "" when one more stream from ``address`` may open, else why not (Indonesian)."""
        if self.open_streams >= self.max_streams:
            return "Server sedang penuh. Coba lagi sebentar lagi."
        if not self.exempt(address) and self.per_address.get(address, 0) >= self.per_client:
            return "Terlalu banyak halaman antrean terbuka dari alamat ini."
        return ""

    async def stream(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        if not CODE_RE.fullmatch(code):
            return _error(404, "Puskesmas tidak ditemukan.")
        address = request.remote or ""
        why = self.admit(address)
        if why:
            self.stats.refused += 1
            return _error(503, why, retry_after=10)
        try:
            first = await self.board(code)
        except Exception:
            log.exception("phone streams: could not build the board of %s", code)
            return _error(503, "Data antrean belum dapat dibaca. Coba lagi sebentar lagi.", retry_after=5)
        if first is None:
            return _error(404, "Puskesmas tidak ditemukan.")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
                "Access-Control-Allow-Origin": "*",  # public data; the page is on central's own origin
                "X-Content-Type-Options": "nosniff",
            }
        )
        watcher = Watcher()
        self.watchers.setdefault(code, set()).add(watcher)
        self.per_address[address] = self.per_address.get(address, 0) + 1
        self.stats.opened += 1
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode() + first)
            sent = first
            while True:
                try:
                    await asyncio.wait_for(watcher.wake.wait(), HEARTBEAT_S)
                except TimeoutError:
                    await response.write(b": -\n\n")
                    continue
                if self.closing:
                    break
                watcher.wake.clear()
                data, watcher.pending = watcher.pending, None
                if data is not None and data is not sent:
                    await response.write(data)
                    sent = data
        except ConnectionError:  # the phone went away while we wrote
            pass
        finally:  # (a phone that closes its stream cancels this handler: handler_cancellation)
            self.watchers.get(code, set()).discard(watcher)
            left = self.per_address.get(address, 1) - 1
            if left > 0:
                self.per_address[address] = left
            else:
                self.per_address.pop(address, None)
        return response

    async def health(self, request: web.Request) -> web.Response:
        status = 503 if self.problem else 200
        body = {"ok": not self.problem, "problem": self.problem, "streams": self.open_streams}
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024)
        app.router.add_get("/arus/{code}", self.stream)
        app.router.add_get("/sehat", self.health)
        app.on_startup.append(self._start_polling)
        app.on_cleanup.append(self._stop_polling)
        return app

    async def _start_polling(self, app: web.Application) -> None:
        self._poller = asyncio.get_running_loop().create_task(self.poll_forever())

    async def _stop_polling(self, app: web.Application) -> None:
        self._poller.cancel()
        self.db.shutdown(wait=False, cancel_futures=True)


def _error(status: int, message: str, retry_after: int | None = None) -> web.Response:
    headers = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return web.json_response({"error": message}, status=status, headers=headers)


def loopback_or(proxies: Callable[[str], bool]) -> Callable[[str], bool]:
    """Exempt from the per-address cap: the machine itself and the trusted proxies (which cap per client)."""

    def exempt(address: str) -> bool:
        try:
            if ipaddress.ip_address(address).is_loopback:
                return True
        except ValueError:
            return False
        return proxies(address)

    return exempt


class StreamServer:
    """The hub's aiohttp app on ``host:port`` in an event loop of its own thread (or the caller's)."""

    def __init__(self, hub: StreamHub, host: str, port: int):
        self.hub, self.host, self.port = hub, host, port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.thread: threading.Thread | None = None

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(
            self.hub.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, backlog=4096, reuse_address=True)
            await site.start()
            log.info("phone streams on http://%s:%d/arus/<puskesmas>", self.host, self.port)
            self.ready.set()
            await self._stop.wait()
        finally:
            self.hub.close()
            await asyncio.sleep(0)  # let the handlers see it and return
            await runner.cleanup()
            # closed transports close their sockets on the loop's next turns: give it those
            # turns before the loop itself is closed (else the sockets leak, open, to the GC)
            for _ in range(3):
                await asyncio.sleep(0)

    def run(self) -> None:
        """Serve in this thread until ``stop()``."""
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            log.error("phone streams could not run on %s:%d: %s", self.host, self.port, exc)
        finally:
            self.ready.set()
            self.loop.close()

    def start(self) -> StreamServer:
        self.thread = threading.Thread(target=self.run, name="phone-streams", daemon=True)
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        if self.thread is not None:
            self.thread.join(5)

    def healthy(self) -> bool:
        return self.error is None and not self.hub.problem


def hub_for(cfg, today: Callable[[], dt.date]) -> StreamHub:
    """The hub of central's config ``cfg`` over its database (already connected)."""
    from central import db, queue_view
    from central.models import Puskesmas
    from central.web.proxy import trusted

    def load(code: str, day: dt.date) -> dict | None:
        place = Puskesmas.get_or_none(Puskesmas.code == code)
        return None if place is None else queue_view.public_board(place, day)

    def revisions() -> dict:
        return queue_view.revisions()

    return StreamHub(
        load,
        revisions,
        today,
        max_streams=cfg.stream_max,
        per_client=cfg.stream_per_client,
        exempt=loopback_or(trusted(cfg.trusted_proxies)),
        reset=db.database.close,
    )


def server_for(cfg, today: Callable[[], dt.date]) -> StreamServer:
    return StreamServer(hub_for(cfg, today), cfg.stream_host or cfg.http_host, cfg.stream_port)
