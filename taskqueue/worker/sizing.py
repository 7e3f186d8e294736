"""How many threads or processes the pool runs: fixed, resized, or autoscaled.

Celery's remote commands ``pool_grow``/``pool_shrink`` resize the pool by
``n``; ``--autoscale=max,min`` (thread pool) starts ``min`` threads, grows at
once to as many as there are jobs waiting (up to ``max``) and shrinks back
towards ``min`` once the pool has had more threads than jobs for
``keepalive`` seconds (Celery's ``AUTOSCALE_KEEPALIVE``, 30 s), so a
short lull does not tear down threads the next burst needs. As in Celery,
``pool_grow``/``pool_shrink`` are refused while autoscale is on: the
``autoscale`` command moves the range instead.

Everything here runs in the poll loop's thread (commands arrive through
:mod:`.mailbox`); a shrink never cuts a running body short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .mailbox import BadArgument, CommandRefused
from .pool import MAX_POOL_SIZE, Pool

logger = logging.getLogger("taskqueue.worker")

AUTOSCALE_KEEPALIVE = 30.0
"""Seconds the pool stays above the demand before autoscale shrinks it (Celery's default)."""


@dataclass(frozen=True, slots=True)
class AutoscaleRange:
    max: int
    min: int

    def __post_init__(self) -> None:
        for name, value in (("max", self.max), ("min", self.min)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"autoscale {name} must be a whole number of at least 1, not {value!r}"
                )
        if self.max < self.min:
            raise ValueError(f"autoscale max ({self.max}) is below min ({self.min})")
        if self.max > MAX_POOL_SIZE:
            raise ValueError(f"autoscale max {self.max} is above MAX_POOL_SIZE ({MAX_POOL_SIZE})")

    @classmethod
    def parse(cls, text: str) -> AutoscaleRange:
        """Celery's ``--autoscale=max,min``; a single number is the max (Celery's
        min would then be 0; a pool here keeps at least one thread)."""
        parts = [p.strip() for p in text.split(",")]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(
                f"--autoscale={text!r}: expected max,min (two whole numbers)"
            ) from None
        if len(numbers) == 1:
            return cls(numbers[0], 1)
        if len(numbers) != 2:
            raise ValueError(f"--autoscale={text!r}: expected max,min (two whole numbers)")
        return cls(numbers[0], numbers[1])


class PoolSizing:
    """Resizes ``pool`` on command, and with autoscale on demand."""

    def __init__(
        self,
        pool: Pool,
        autoscale: AutoscaleRange | None = None,
        keepalive: float = AUTOSCALE_KEEPALIVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if autoscale is not None and pool.kind != "threads":
            raise ValueError(
                "--autoscale needs the thread pool (-P threads); size a process pool "
                "with -c, or with pool_grow/pool_shrink at runtime"
            )
        self.pool = pool
        self.autoscale = autoscale
        self.keepalive = keepalive
        self._clock = clock
        self._above_since: float | None = None  # when the pool last had more than the demand

    # --- commands -------------------------------------------------------------------
    def grow(self, n: int) -> str:
        self._fixed_only("pool_grow")
        _check_n(n, "pool_grow")
        self._resize(self.pool.size + n)
        return "pool will grow"

    def shrink(self, n: int) -> str:
        self._fixed_only("pool_shrink")
        _check_n(n, "pool_shrink")
        if self.pool.size - n < 1:
            raise BadArgument(
                f"pool_shrink(n={n}): the pool has {self.pool.size} {self.pool.unit}(s) "
                "and keeps at least one"
            )
        self._resize(self.pool.size - n)
        return "pool will shrink"

    def set_autoscale(self, max_size: int, min_size: int) -> str:
        if self.autoscale is None:
            raise CommandRefused(
                "autoscale is off on this worker (start it with --autoscale=max,min on the "
                "thread pool); use pool_grow/pool_shrink"
            )
        try:
            self.autoscale = AutoscaleRange(max_size, min_size)
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        bounded = min(max(self.pool.size, min_size), max_size)
        if bounded != self.pool.size:
            self._resize(bounded)
        return f"autoscale now max={max_size} min={min_size}"

    # --- autoscale, each turn of the loop ----------------------------------------------
    def step(self, demand: int) -> None:
        """Follow ``demand`` (jobs running or waiting for a slot) within the range.

        Never raises: a resize that fails is logged and tried again next turn.
        """
        try:
            self._follow(demand)
        except Exception:
            logger.exception("autoscale could not resize the pool")

    def _follow(self, demand: int) -> None:
        scale = self.autoscale
        if scale is None:
            return
        size, now = self.pool.size, self._clock()
        wanted = min(max(demand, scale.min), scale.max)
        if wanted > size:
            self._above_since = None
            self._resize(wanted, f"{demand} job(s) waiting")
            return
        if wanted == size:
            self._above_since = None
            return
        if self._above_since is None:
            self._above_since = now
        elif now - self._above_since >= self.keepalive:
            self._above_since = None
            self._resize(wanted, f"{demand} job(s) for {self.keepalive:g} s")

    def _resize(self, size: int, why: str = "") -> None:
        before = self.pool.size
        try:
            self.pool.resize(size)
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        logger.info(
            "pool resized from %d to %d %s(s)%s",
            before,
            size,
            self.pool.unit,
            f": {why}" if why else "",
        )

    def _fixed_only(self, command: str) -> None:
        if self.autoscale is not None:
            raise CommandRefused(
                f"{command} is not supported with autoscale (max={self.autoscale.max}, "
                f"min={self.autoscale.min}); adjust the range with the autoscale command instead"
            )


def _check_n(n: int, command: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadArgument(f"{command}(n={n!r}): n must be a whole number of at least 1")
