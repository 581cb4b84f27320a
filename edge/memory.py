"""The edge process's use of glibc malloc, set before its threads start and its big work runs.

Two settings keep the node's memory flat over a day (the Pi has little of it):

- malloc arenas capped at 2 (as ``MALLOC_ARENA_MAX`` does): glibc's default is 8 per core, and
  each of the node's ~40 threads that allocates may otherwise get an arena of its own whose
  freed memory stays in the process;
- a fixed mmap threshold (as ``MALLOC_MMAP_THRESHOLD_`` does): blocks of 128 KiB and more (a
  ticket's QR raster, a joined announcement WAV) get pages of their own that go back to the
  system when freed. glibc's default raises the threshold to the largest block freed so far,
  after which such blocks come from the heap and leave tens of MB of free holes behind; fixing
  the threshold also fixes the trim threshold, so free memory at the heap's top is returned.

``trim()`` hands free heap pages back after a burst of work (start-up, the clip prerender).
Everything here does nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import functools
import sys

MALLOC_ARENAS = 2
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed

# glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


# peewee's optional drivers for the database servers; the edge speaks SQLite only
SERVER_DRIVERS = ("psycopg2", "psycopg2cffi", "psycopg", "pymysql", "MySQLdb")


def skip_server_drivers() -> list[str]:
    """Make the server drivers not yet imported unimportable in this process, so peewee finds
    none (its SQLite support is unchanged). For the edge's own process only: a process that
    also runs central code needs psycopg2. Returns the modules it kept out."""
    skipped = [name for name in SERVER_DRIVERS if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # an import of it raises ImportError, as if not installed
    return skipped


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 -- not glibc without it
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas, before the threads start. False where the C library is not
    glibc (nothing changes there)."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve blocks of ``threshold`` bytes and more with pages of their own, for good (no dynamic
    threshold), and return free memory at the heap's top beyond twice that. False where the C
    library is not glibc."""
    libc = _libc()
    return (
        libc is not None
        and bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
        and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * threshold))
    )


def tune_malloc() -> bool:
    """Both settings; as early in the process as possible (the CLI calls it before importing the
    app). Calling it again does no harm."""
    arenas = limit_malloc_arenas()
    return fix_mmap_threshold() and arenas


def trim() -> bool:
    """Give free heap memory back to the system (``malloc_trim(0)``): after start-up work. True
    when some was given back."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))
