"""The app under a real HTTP server and a real Chromium to open it: what the browser tests share
(their fixtures ``serve``, ``site`` and ``chromium`` are in conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from waitress.server import create_server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots" / "backoffice"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = (1280, 800)
PHONE = (390, 844)


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` under waitress on a free port of 127.0.0.1; yields its base URL. On the way out the
    server stops (requests still pending are cancelled) and the app's database is closed."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def run():  # the loop thread closes the server itself: closing it from here raced its poll (EBADF)
        while not stop.is_set():
            server.asyncore.loop(timeout=0.2, map=server._map, count=1)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        for channel in list(server._map.values()):  # the server and its open connections
            channel.close()

    thread = threading.Thread(target=run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=10)
        app.extensions["rosma.db"].close()


def every_error(text: str) -> bool:
    return True


def open_tab(
    browser,
    base_url: str,
    size: tuple[int, int] = LAPTOP,
    *,
    phone: bool | None = None,
    scale: int | None = None,
    console: Callable[[str], bool] | None = None,
    dialogs: bool = False,
    **options,
):
    """A tab in a fresh browser context on ``base_url``, set as staff's and patients' screens are
    (id-ID, Asia/Jakarta). ``phone`` (default: narrower than 600 px) is a touch screen drawn at
    scale 2 (``scale`` overrides); ``options`` go to the context (``accept_downloads=True``).

    ``tab.problems`` collects page errors, the console errors ``console`` accepts (none if None)
    and, with ``dialogs``, every dialog (dismissed); the context is ``tab.context``.
    """
    width, height = size
    phone = width < 600 if phone is None else phone
    context = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=scale or (2 if phone else 1),
        locale="id-ID",
        timezone_id="Asia/Jakarta",
        base_url=base_url,
        is_mobile=phone,
        has_touch=phone,
        **options,
    )
    tab = context.new_page()
    tab.problems = []
    tab.on("pageerror", lambda exc: tab.problems.append(str(exc)))
    if console is not None:
        tab.on("console", lambda msg: msg.type == "error" and console(msg.text) and tab.problems.append(msg.text))
    if dialogs:
        tab.on("dialog", lambda d: (tab.problems.append("dialog: " + d.message), d.dismiss()))
    return tab
