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

Celery's ``apply_async(priority=N)`` (0 lowest to 9 highest, RabbitMQ's
order) lands here by picking the queue: :func:`queue_for_priority` splits
0..9 into equal bands over ``queue_weights``' queues ordered by weight.
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


PRIORITIES = range(10)
"""Celery's ``priority=`` values, 0 (lowest) to 9 (highest), as on RabbitMQ."""


def queue_for_priority(priority: int | None, weights: dict[str, int]) -> str | None:
    """The queue a job of ``priority`` goes to: ``queue_weights``' queues,
    ordered by weight, each take an equal band of 0..9, the heaviest the top
    band. With the default weights (low 1, default 3, high 6): 0-3 low, 4-6
    default, 7-9 high. None without a priority (the task's own queue)."""
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise ValueError(
            f"priority={priority!r}: expected an integer 0 (lowest) to 9 (highest); "
            "it picks a queue by queue_weights, since Kafka has no message priorities"
        )
    if not weights:
        return None
    ordered = sorted(weights, key=lambda q: (weights[q], q))
    return ordered[priority * len(ordered) // len(PRIORITIES)]
