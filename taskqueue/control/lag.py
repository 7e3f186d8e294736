"""Consumer lag of a worker's partitions, as the control plane reports it.

Read through the transport (:meth:`Transport.consumer_offsets`), which asks
with clients of its own, one per group, never subscribed: the worker's
consumers belong to the poll loop's thread, and lag is only needed when
someone asks. Each queue has its own group (see
``taskqueue.worker.main.consumer_groups``), so a topic's committed offsets
are read in that topic's group. The metrics endpoint reads the same method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..transport import Transport


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int  # -1: nothing committed yet
    high_watermark: int  # -1: unknown
    lag: int  # -1: unknown


class LagProbe:
    def __init__(
        self,
        transport: Transport,
        groups: Mapping[str, str] | Callable[[], Mapping[str, str]],
        timeout: float = 1.0,
    ):
        """``groups`` maps each topic to the group whose commits count; a
        callable is asked at every measure (a worker's queues change at runtime)."""
        self.transport = transport
        self._groups = groups if callable(groups) else (lambda fixed=dict(groups): fixed)
        self.timeout = timeout

    @property
    def groups(self) -> Mapping[str, str]:
        return self._groups()

    def measure(self, partitions: list[tuple[str, int]]) -> list[PartitionLag]:
        offsets = self.transport.consumer_offsets(self.groups, partitions, self.timeout)
        out = []
        for topic, partition in partitions:
            o = offsets.get((topic, partition))
            if o is None:
                out.append(PartitionLag(topic, partition, -1, -1, -1))
            else:
                out.append(PartitionLag(topic, partition, o.committed, o.high, o.lag))
        return out

    def close(self) -> None:
        """Nothing of its own to release: the transport owns its readers."""
