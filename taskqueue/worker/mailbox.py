"""Commands from other threads, run by the poll loop between two turns.

The loop's structures (pool, consumer, job table) belong to its thread, so a
control call (gRPC) does not touch them: it posts a command here and waits
for the answer. The loop runs pending commands at the start of each turn;
a command's exception goes back to its caller, never into the loop.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

logger = logging.getLogger("taskqueue.worker")

T = TypeVar("T")

COMMAND_TIMEOUT = 10.0
"""Seconds a caller waits for the loop to take a command (a rebalance can
hold the loop for a while; a loop that has exited never takes it)."""


class CommandRefused(Exception):
    """A command with a bad argument, or one the worker cannot do now; the
    message says which and why."""


class BadArgument(CommandRefused):
    """A command's argument is wrong (a negative count, a malformed queue name)."""


class Mailbox:
    def __init__(self) -> None:
        self._pending: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )

    def call(self, command: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``command`` in the loop thread; its result, or its exception.

        Raises :class:`CommandRefused` when the loop does not take it within
        ``timeout`` (the command is then withdrawn, never run later).
        """
        future: Future[T] = Future()
        self._pending.put((command, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            if future.cancel():
                raise CommandRefused(
                    f"the worker's poll loop did not take the command within {timeout:g} s "
                    "(is it shutting down?)"
                ) from None
            return future.result()  # taken meanwhile: it runs now, briefly
        except CancelledError:  # pragma: no cover - only this method cancels
            raise CommandRefused("the command was withdrawn") from None

    def run_pending(self) -> None:
        """Run the commands posted so far (in the loop thread)."""
        while True:
            try:
                command, future = self._pending.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up
            try:
                result = command()
            except Exception as exc:  # the caller's error, never the loop's
                if not isinstance(exc, CommandRefused | ValueError):
                    logger.exception("control command failed")
                future.set_exception(exc)
            else:
                future.set_result(result)
