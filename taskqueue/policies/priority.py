"""Priorities: queues polled with weights (Kafka has no message priorities).

A worker consuming several queues (``-Q high,default,low``) does not hand
every fetched job to its pool at once, or a flood of low jobs would sit in
the pool's FIFO ahead of every high one. Fetched jobs wait in one holding
deque per queue (they stay uncommitted in Kafka, so nothing is lost if the
worker dies), and the loop feeds the pool, a couple of jobs per thread at a
time, by *smooth weighted round robin* over the queues that have jobs:
with weights high 6, default 3, low 1 (``queue_weights``; 1 for a queue not
named), out of ten starts six go to high while it has work, and a queue
with work is never skipped for more than one round. A queue whose holding
deque is full has its partitions paused, so a flood of one queue fills
memory no further and never stops the others from being fetched.

A worker with a single queue skips all this: jobs go straight to the pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..worker.jobs import Job

DEFAULT_WEIGHT = 1
"""Weight of a queue that ``queue_weights`` does not name."""


class WeightedQueues:
    """Holding deques per queue and the weighted choice of the next job."""

    def __init__(self, queues: list[str], weights: dict[str, int], limit: int) -> None:
        self.weights = {q: int(weights.get(q, DEFAULT_WEIGHT)) for q in queues}
        self.limit = limit
        self._held: dict[str, deque[Job]] = {q: deque() for q in queues}
        self._current = dict.fromkeys(queues, 0)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Job]:
        for held in self._held.values():
            yield from held

    def push(self, queue: str, job: Job) -> None:
        self._held.setdefault(queue, deque()).append(job)
        self.weights.setdefault(queue, DEFAULT_WEIGHT)
        self._current.setdefault(queue, 0)
        self._count += 1

    def pop(self) -> Job | None:
        """The next job by smooth weighted round robin (nginx's algorithm)."""
        ready = [q for q, held in self._held.items() if held]
        if not ready:
            return None
        total = sum(self.weights[q] for q in ready)
        for q in ready:
            self._current[q] += self.weights[q]
        chosen = max(ready, key=lambda q: self._current[q])
        self._current[chosen] -= total
        self._count -= 1
        return self._held[chosen].popleft()

    def full(self, queue: str) -> bool:
        return len(self._held.get(queue, ())) >= self.limit

    def drained(self, queue: str) -> bool:
        return len(self._held.get(queue, ())) < self.limit // 2

    def drop(self, keep: Callable[[Job], bool]) -> None:
        """Forget held jobs for which ``keep`` is false (revoked partitions)."""
        for q, held in self._held.items():
            self._held[q] = deque(j for j in held if keep(j))
        self._count = sum(len(h) for h in self._held.values())
