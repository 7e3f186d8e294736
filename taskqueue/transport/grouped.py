"""One consumer for a worker that serves several queues, each in its own group.

Kafka balances a topic's partitions among the members of one consumer
group. If a worker's group were named after its whole queue list, workers
started with ``-Q high`` and with ``-Q high,default`` would sit in two
groups, and each group would get every ``high`` job. So every queue has a
group of its own, joined by every worker that serves the queue, whatever
else it serves; a worker serving several queues holds one member consumer
per queue.

:class:`GroupedConsumer` makes those members look like one
:class:`~.base.Consumer` to the poll loop. They share one offset tracker
and one table of unanswered commits (their topics are disjoint), so acks,
windows, generations and commit answers work as for a single consumer;
fetches, commits and pauses are routed to the member that owns the topic.

Members come and go at runtime (Celery's ``add_consumer``/``cancel_consumer``):
:meth:`GroupedConsumer.add` takes a new member in; :meth:`GroupedConsumer.remove`
commits a member's partitions through the group, then closes it (it leaves its
group, so the partitions move to the other workers at once). The worker
consumes through this class even with one queue, so that it always can.
"""

from __future__ import annotations

import time

from .base import Consumer, Delivery, TopicPartition
from .offsets import OffsetTracker

IDLE_SLICE = 0.01
"""Seconds one member may block in a fetch while the others wait: the most a
record in another queue waits for an idle poll to move on to it."""


class GroupedConsumer(Consumer):
    def __init__(self, members: dict[str, Consumer], max_window: int) -> None:
        """``members`` maps each topic to the consumer (of that topic's group)
        subscribed to it."""
        super().__init__(max_window)
        self._by_topic = dict(members)
        self._members = list(dict.fromkeys(members.values()))  # unique, in order
        for member in self._members:
            member.offsets = self.offsets
            member._unanswered = self._unanswered
        self._next_first = 0

    @property
    def topics(self) -> list[str]:
        return list(self._by_topic)

    def add(self, topics: list[str], member: Consumer) -> None:
        """Take in ``member``, subscribed to ``topics`` (none of them consumed here yet)."""
        taken = [t for t in topics if t in self._by_topic]
        if taken:
            raise ValueError(f"topics {taken} are consumed here already")
        member.offsets = self.offsets
        member._unanswered = self._unanswered
        self._by_topic.update(dict.fromkeys(topics, member))
        self._members.append(member)

    def remove(self, topic: str) -> bool:
        """Commit and close the member consuming ``topic`` (it leaves its group).

        Call it once no record of the member's partitions is in flight. False,
        and the member kept, if Kafka refused the commit (try again later):
        closing then would have the next owner run finished records again.
        """
        member = self._by_topic[topic]
        mine = [t for t, m in self._by_topic.items() if m is member]
        self.commit(asynchronous=False)
        if any(tp[0] in mine for tp in self.offsets.committable()):
            return False
        # The member's close commits what its tracker holds: give it an empty
        # one, or it would commit the other members' topics into its group.
        owned = [tp for tp in member.assignment() if tp[0] in mine]
        member.offsets = OffsetTracker(self.offsets.max_window)
        member._unanswered = {}
        try:
            member.close()
        finally:
            for t in mine:
                del self._by_topic[t]
            self._members.remove(member)
            self.offsets.forget(owned)
            for key in [k for k in self._unanswered if k[0][0] in mine]:
                del self._unanswered[key]
        return True

    def _member(self, tp: TopicPartition) -> Consumer:
        return self._by_topic[tp[0]]

    def _split(self, tps: list[TopicPartition]) -> dict[Consumer, list[TopicPartition]]:
        out: dict[Consumer, list[TopicPartition]] = {}
        for tp in tps:
            out.setdefault(self._member(tp), []).append(tp)
        return out

    def _rotation(self) -> list[Consumer]:
        """Members starting with a different one each fetch, so a busy queue
        cannot keep the others from being read."""
        first = self._next_first % len(self._members)
        self._next_first += 1
        return self._members[first:] + self._members[:first]

    def _fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        # Members' own _fetch, not poll: poll would track the records a
        # second time in the shared tracker.
        if len(self._members) == 1:  # one queue: no rotation, no idle slices
            return self._members[0]._fetch(max_messages, timeout)
        batch: list[Delivery] = []
        for member in self._rotation():
            batch += member._fetch(max_messages - len(batch), 0)
            if len(batch) >= max_messages:
                return batch
        if batch or timeout <= 0:
            return batch
        deadline = time.monotonic() + timeout
        while True:
            for member in self._rotation():
                remaining = deadline - time.monotonic()
                batch = member._fetch(max_messages, max(0.0, min(IDLE_SLICE, remaining)))
                if batch or remaining <= 0:
                    return batch

    def _commit(self, positions: dict[TopicPartition, int], asynchronous: bool) -> None:
        by_member: dict[Consumer, dict[TopicPartition, int]] = {}
        for tp, offset in positions.items():
            by_member.setdefault(self._member(tp), {})[tp] = offset
        for member, part in by_member.items():
            member._commit(part, asynchronous)

    def _set_paused(self, tps: list[TopicPartition], paused: bool) -> None:
        for member, part in self._split(tps).items():
            (member.pause if paused else member.resume)(part)

    def pause(self, tps: list[TopicPartition]) -> None:
        self._set_paused(tps, True)

    def resume(self, tps: list[TopicPartition]) -> None:
        self._set_paused(tps, False)

    @property
    def paused(self) -> frozenset[TopicPartition]:
        # The members' own sets: a member drops a partition from its set
        # when a rebalance takes it, which this object would not see.
        return frozenset().union(*(m.paused for m in self._members))

    def assignment(self) -> list[TopicPartition]:
        return [tp for member in self._members for tp in member.assignment()]

    def forget(self, tps: list[TopicPartition]) -> None:
        for member, part in self._split(tps).items():
            member.forget(part)

    def close(self) -> None:
        self.commit_before_close()
        for member in self._members:
            member.close()  # nothing left to commit; leaves its group
