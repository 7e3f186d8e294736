"""The queues a worker consumes, changed at runtime (Celery's
``add_consumer``/``cancel_consumer``).

Each queue is consumed in its own group (``<prefix>workers.<queue>``, see
:func:`taskqueue.worker.main.consumer_groups`), by one member consumer of the
loop's :class:`~taskqueue.transport.grouped.GroupedConsumer`:

- **add** subscribes a new member in the queue's group: the group rebalances
  and hands this worker its share of the queue's partitions;
- **cancel** stops fetching at once (the queue's partitions stay paused and
  the queue leaves ``active_queues``), lets the jobs already fetched from it
  run, store their outcome and be acked as usual, then commits and closes the
  member: it leaves the group, and the other workers take its partitions. The
  member stays in the group until then so that nobody else starts those
  records while they run here.

A worker started with one shared ``group_id`` consumes all its queues in one
group and one member: it refuses both commands (a member cannot leave a group
for one of its topics only).

Runs in the poll loop's thread (commands through :mod:`.mailbox`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..policies.priority import WeightedQueues
from .mailbox import BadArgument, CommandRefused

if TYPE_CHECKING:
    from ..transport import Consumer
    from ..transport.grouped import GroupedConsumer
    from .consumer import PollLoop

logger = logging.getLogger("taskqueue.worker")

QUEUE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
"""A queue name a Kafka topic name can carry (Kafka's legal characters)."""

MakeMember = Callable[[list[str], str], "Consumer"]
"""Builds a member consumer of ``topics`` in group ``group_id``."""


def check_queue_name(queue: str) -> str:
    """``queue`` stripped, or CommandRefused naming what is wrong with it."""
    name = queue.strip() if isinstance(queue, str) else queue
    if not isinstance(name, str) or not QUEUE_NAME.match(name):
        raise BadArgument(
            f"queue name {queue!r} is not valid: 1 to 200 letters, digits, '.', '_' or '-'"
        )
    return name


class Subscriptions:
    def __init__(
        self,
        loop: PollLoop,
        consumer: GroupedConsumer,
        groups: dict[str, str],
        make_member: MakeMember,
        shared_group: bool,
        on_change: Callable[[list[str], dict[str, str]], None],
    ) -> None:
        self.loop = loop
        self.consumer = consumer
        self.groups = dict(groups)
        """Topic -> group of every member still in the consumer (draining ones too)."""
        self._make_member = make_member
        self._shared_group = shared_group
        self._on_change = on_change
        self.draining: dict[str, str] = {}
        """Topic -> queue: cancelled, its fetched jobs still finishing."""

    # --- commands -------------------------------------------------------------------
    def add(self, queue: str) -> str:
        loop, s = self.loop, self.loop.app.settings
        queue = check_queue_name(queue)
        if queue in loop.queues:
            return f"already consuming from {queue}"
        self._refuse_if_fixed("add_consumer", queue)
        topic = s.topic(queue)
        if topic in self.draining:  # cancelled, not closed yet: fetch it again
            del self.draining[topic]
            loop.draining.discard(topic)
        else:
            from .main import consumer_groups

            group = consumer_groups(s, [queue])[topic]
            member = self._make_member([topic], group)
            try:
                self.consumer.add([topic], member)
            except Exception:
                member.close()  # an unclosed Kafka consumer would linger in the group
                raise
            self.groups[topic] = group
        self._set_queues([*loop.queues, queue])
        logger.warning("now consuming from queue %s (%s)", queue, topic)
        return f"add consumer {queue}"

    def cancel(self, queue: str) -> str:
        loop = self.loop
        queue = check_queue_name(queue)
        if queue not in loop.queues:
            raise CommandRefused(
                f"not consuming from queue {queue!r} (consuming: {', '.join(loop.queues)})"
            )
        if len(loop.queues) == 1:
            raise CommandRefused(
                f"{queue!r} is the only queue this worker consumes; use shutdown to stop it"
            )
        self._refuse_if_fixed("cancel_consumer", queue)
        topic = loop.app.settings.topic(queue)
        self.draining[topic] = queue
        loop.draining.add(topic)
        self.consumer.pause([tp for tp in self.consumer.assignment() if tp[0] == topic])
        self._set_queues([q for q in loop.queues if q != queue])
        logger.warning(
            "no longer consuming from queue %s; its fetched jobs finish, then its group is left",
            queue,
        )
        return f"no longer consuming from {queue}"

    # --- each turn ---------------------------------------------------------------------
    def step(self) -> None:
        """Close the members of cancelled queues whose jobs have all been acked.

        Never raises: a close that fails is logged and tried again next turn.
        """
        if not self.draining or self.loop.stopping:
            return
        offsets = self.consumer.offsets
        for topic, queue in list(self.draining.items()):
            tps = [tp for tp in self.consumer.assignment() if tp[0] == topic]
            if offsets.in_flight(tps):
                continue
            try:
                closed = self.consumer.remove(topic)
            except Exception:
                logger.exception("leaving the group of queue %s failed; trying again", queue)
                continue
            if closed:
                del self.draining[topic]
                self.loop.draining.discard(topic)
                del self.groups[topic]
                self._on_change(list(self.loop.queues), dict(self.groups))
                logger.info("left the consumer group of queue %s", queue)

    def _refuse_if_fixed(self, command: str, queue: str) -> None:
        if self._shared_group:
            raise CommandRefused(
                f"{command}({queue!r}): this worker consumes all its queues in one group "
                "(group_id is set), which cannot be joined or left one queue at a time"
            )

    def _set_queues(self, queues: list[str]) -> None:
        loop, s = self.loop, self.loop.app.settings
        for q in queues:
            loop._queue_of_topic[s.topic(q)] = q
        loop.queues = queues  # replaced, never mutated: other threads read it
        if loop.held is None and len(queues) > 1:
            limit = max(loop.pool.size * 4, s.consume_batch_size)
            loop.held = WeightedQueues(queues, s.queue_weights, limit)
        loop.note_change()
        self._on_change(list(queues), dict(self.groups))
