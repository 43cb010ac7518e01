"""Giving freed memory back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    path = ctypes.util.find_library("c")
    return ctypes.CDLL(path) if path else None


def release_free_heap() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; a no-op elsewhere).

    After a burst of short-lived allocations (start-up's reads of every posting, a batch
    encoded by the model) glibc keeps the freed memory for later allocations; it stays in the
    process's resident set, in every worker. A few milliseconds, so: after such bursts, not
    after every request."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
