"""Module-level functions the process-pool tests run in forkserver children
(children import them by name, so they cannot live inside a test)."""

from __future__ import annotations

import os
import signal
import time


def init(flag: str) -> None:
    """Initializer: like the worker's, leave SIGTERM to its default action."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if flag == "fail":
        raise RuntimeError("this child cannot start")


def add(x: int, y: int) -> int:
    return x + y


def pid() -> int:
    return os.getpid()


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def boom(message: str) -> None:
    raise ValueError(message)


def stubborn_sleep(seconds: float) -> float:
    """Sleep deaf to SIGTERM and SIGALRM, like a body stuck in C code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGALRM})
    time.sleep(seconds)
    return seconds
