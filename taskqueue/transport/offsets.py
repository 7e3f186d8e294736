"""Which offsets may be committed when jobs finish out of order.

Kafka stores one position per partition: "everything below this is done".
Jobs of one partition run in parallel and finish in any order, so the
committable position is the lowest offset still unfinished (or one past the
highest seen when nothing is). Committing anything higher could lose a job
if the worker died; committing lower only means some finished jobs are seen
again, which the worker recognises by their stored final state.

The window (offsets received and not yet committable) is bounded per
partition: one stuck job holds back its partition's commit point, and the
bound caps how much a restart may have to re-read behind it.

A position counts as committed only once Kafka has confirmed it: a commit
that fails leaves ``commit_position`` where it was, so the next commit sends
it again.
"""

from __future__ import annotations

from collections import deque


class PartitionOffsets:
    """Tracks received/finished offsets of one partition. Not thread-safe."""

    __slots__ = ("_pending", "_done", "_position", "_committed")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()  # received, ascending
        self._done: set[int] = set()  # finished, still in _pending
        self._position: int | None = None  # next offset to commit
        self._committed: int | None = None

    def received(self, offset: int) -> None:
        # Offsets arrive ascending per partition (Kafka guarantees order); a
        # lower one means the consumer was rewound, and stale state must go.
        if self._pending and offset <= self._pending[-1]:
            self._pending.clear()
            self._done.clear()
        self._pending.append(offset)
        if self._position is None:
            # The group's stored position is at most this offset already.
            self._position = self._committed = offset

    def finished(self, offset: int) -> None:
        if not self._pending or offset < self._pending[0]:
            return  # already behind the commit point (e.g. after a rewind)
        self._done.add(offset)
        pending, done = self._pending, self._done
        while pending and pending[0] in done:
            head = pending.popleft()
            done.discard(head)
            self._position = head + 1

    @property
    def window(self) -> int:
        """Offsets received and not yet committable (unfinished or behind one)."""
        return len(self._pending)

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._done)

    def commit_position(self) -> int | None:
        """The offset to commit now, or None if nothing new since the last commit."""
        if self._position is None or self._position == self._committed:
            return None
        return self._position

    def mark_committed(self, position: int) -> None:
        """Kafka confirmed ``position`` (possibly older than the current one:
        then the current one is still to commit)."""
        self._committed = position


class OffsetTracker:
    """One :class:`PartitionOffsets` per assigned (topic, partition)."""

    def __init__(self, max_window: int) -> None:
        self.max_window = max_window
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}
        # A partition's generation changes when it is forgotten (revoked or
        # lost): an ack or a commit confirmation from before cannot touch the
        # tracking of a later assignment. Generations are drawn from one
        # counter of forgets, so "forgotten since then" is a comparison with
        # the ``epoch`` read then, without copying every generation.
        self._generations: dict[tuple[str, int], int] = {}
        self._forgets = 0

    def generation(self, tp: tuple[str, int]) -> int:
        return self._generations.get(tp, 0)

    @property
    def epoch(self) -> int:
        """Forgets so far: a partition whose generation is above the epoch
        read at some moment has been forgotten since that moment."""
        return self._forgets

    def received(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        tracker = self._partitions.get(key)
        if tracker is None:
            tracker = self._partitions[key] = PartitionOffsets()
        tracker.received(offset)

    def finished(
        self, topic: str, partition: int, offset: int, generation: int | None = None
    ) -> None:
        key = (topic, partition)
        if generation is not None and generation != self._generations.get(key, 0):
            return  # received under an earlier assignment of the partition
        tracker = self._partitions.get(key)
        if tracker is not None:  # None: partition revoked meanwhile
            tracker.finished(offset)

    def window(self, tp: tuple[str, int]) -> int:
        tracker = self._partitions.get(tp)
        return 0 if tracker is None else tracker.window

    def in_flight(self, keys: list[tuple[str, int]] | None = None) -> int:
        items = (
            self._partitions
            if keys is None
            else {k: self._partitions[k] for k in keys if k in self._partitions}
        )
        return sum(t.in_flight for t in items.values())

    def committable(self) -> dict[tuple[str, int], int]:
        out = {}
        for key, tracker in self._partitions.items():
            position = tracker.commit_position()
            if position is not None:
                out[key] = position
        return out

    def mark_committed(self, tp: tuple[str, int], position: int, generation: int) -> None:
        """Kafka confirmed ``position`` of ``tp``, requested under ``generation``.

        A confirmation from an earlier assignment of the partition is ignored:
        the later assignment started from whatever the group had stored.
        """
        if generation != self._generations.get(tp, 0):
            return
        tracker = self._partitions.get(tp)
        if tracker is not None:
            tracker.mark_committed(position)

    def forget(self, keys: list[tuple[str, int]]) -> None:
        self._forgets += 1
        for key in keys:
            self._partitions.pop(key, None)
            self._generations[key] = self._forgets
