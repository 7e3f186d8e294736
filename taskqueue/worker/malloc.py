"""Fewer glibc malloc arenas for the worker process.

glibc gives each thread that allocates concurrently an arena of its own,
up to 8 per core, and keeps each arena's freed memory for reuse. A worker
has dozens of threads (task threads, the loop, librdkafka's, the result
flusher, the control plane), so its resident size creeps up as each
arena reaches its own high-water mark: ``python -m bench.soak`` measured
+12.6% over 200,000 jobs with glibc's default, and +3.7% over 100,000 with
two arenas (and a lower start). Python code holds the GIL while it
allocates, so more arenas buy a worker little concurrency.

The ``malloc_arenas`` setting (default 2; 0 leaves glibc's default) is
applied when the worker starts, before it starts its threads; a
``MALLOC_ARENA_MAX`` in the environment wins. Elsewhere than glibc, nothing
happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger("taskqueue.worker")

M_ARENA_MAX = -8
"""mallopt's parameter number for the arena limit (glibc's malloc.h)."""


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; True if applied."""
    if arenas <= 0 or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    if not applied:
        logger.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return applied
