"""The control plane of one worker: started and stopped by the Worker.

It wires the in-flight registry (fed by lifecycle hooks and the job event
feed), the gRPC service, the RabbitMQ progress responder, and announces the
gRPC address in the worker's heartbeat hash. A part that cannot start (no
generated gRPC code, a port taken, RabbitMQ away) is logged and left out:
the control plane never keeps a worker from working.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..stores.state import WorkerHeartbeat
from ..worker.mailbox import CommandRefused
from ..worker.snapshot import ActiveJob, LoopSnapshot
from ..worker.subscriptions import check_queue_name
from .inflight import InFlight, InFlightMiddleware

if TYPE_CHECKING:
    from ..worker.consumer import PollLoop
    from ..worker.main import Worker
    from ..worker.subscriptions import Subscriptions

logger = logging.getLogger("taskqueue.control")

HEARTBEAT_FIELD = "grpc"
"""Field of the worker's heartbeat holding its gRPC ``host:port`` (``WorkerHeartbeat.grpc``)."""


class WorkerAdapter:
    """The Worker as the gRPC service sees it.

    It reads the poll loop's published snapshot (never the loop's own
    structures) and follows the partition assignment as a rebalance
    listener: asking the Kafka consumer from another thread
    (``assignment()``) can block for seconds while the poll loop owns it.
    Commands that change the worker (pool size, queues) go to the loop's
    mailbox and run in its thread; their errors come back here as
    :class:`~taskqueue.worker.mailbox.CommandRefused` or ``ValueError``.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.name = worker.name
        self.pool = worker.pool_kind
        self.started_at = worker.started_at
        self._assigned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def _snapshot(self) -> LoopSnapshot:
        loop = self.worker.loop
        return loop.snapshot if loop is not None else LoopSnapshot()

    @property
    def concurrency(self) -> int:
        return self._snapshot().pool_size or self.worker.concurrency

    @property
    def queues(self) -> list[str]:
        return list(self._snapshot().queues or self.worker.queues)

    def scheduled(self) -> list[ActiveJob]:
        """Held jobs whose eta is still ahead (see ``Scheduled`` in the proto)."""
        now = time.time()
        return [j for j in self._snapshot().active if j.eta is not None and j.eta > now]

    # --- commands (from gRPC threads) ---------------------------------------------
    def _command(self, command: Callable[[PollLoop], str]) -> str:
        loop = self.worker.loop
        if loop is None or loop.stopping:
            raise CommandRefused("the worker is shutting down")
        return loop.mailbox.call(lambda: command(loop))

    def shutdown(self, reason: str) -> str:
        logger.warning("shutdown requested over the control plane: %s", reason or "no reason given")
        self.worker.request_shutdown(f"remote shutdown ({reason})" if reason else "remote shutdown")
        return "shutting down"

    def pool_grow(self, n: int) -> str:
        return self._command(lambda loop: loop.sizing.grow(n))

    def pool_shrink(self, n: int) -> str:
        return self._command(lambda loop: loop.sizing.shrink(n))

    def autoscale(self, max_size: int, min_size: int) -> str:
        return self._command(lambda loop: loop.sizing.set_autoscale(max_size, min_size))

    def add_consumer(self, queue: str) -> str:
        queue = check_queue_name(queue)
        if self.worker.declare and queue not in self.queues:
            # Here, not in the loop: creating a topic is a round trip to Kafka.
            created = self.worker.app.declare_topics([queue])
            if created:
                logger.info("created topics %s", created)
        return self._command(lambda loop: _subscriptions(loop).add(queue))

    def cancel_consumer(self, queue: str) -> str:
        return self._command(lambda loop: _subscriptions(loop).cancel(queue))

    def held_ids(self) -> set[str]:
        return self._snapshot().active_ids()

    def in_flight(self) -> int:
        return len(self._snapshot().active)

    def processed(self) -> int:
        return self._snapshot().processed

    def problem(self) -> tuple[str, float | None]:
        snapshot = self._snapshot()
        return snapshot.problem, snapshot.problem_since

    def partitions(self) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(self._assigned)

    # --- RebalanceListener (called in the loop thread) ------------------------
    def on_assigned(self, tps: list[tuple[str, int]]) -> None:
        with self._lock:
            self._assigned.update(tps)

    def on_revoked(self, tps: list[tuple[str, int]]) -> None:
        with self._lock:
            self._assigned.difference_update(tps)


def _subscriptions(loop: PollLoop) -> Subscriptions:
    if loop.subscriptions is None:
        raise CommandRefused("the worker has not started consuming yet")
    return loop.subscriptions


class ControlPlane:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.app = worker.app
        self.view = WorkerAdapter(worker)
        self.inflight = InFlight(self.view.held_ids)
        self.address: str | None = None
        self._server: Any = None
        self._feed: Any = None
        self._responder: Any = None
        self._lag: Any = None
        self._stop = threading.Event()
        self._announcer: threading.Thread | None = None

    def start(self) -> ControlPlane:
        s = self.app.settings
        loop = self.worker.loop
        assert loop is not None, "the control plane starts after the poll loop exists"
        loop.add_rebalance_listener(self.view)
        self.app.middleware.add(InFlightMiddleware(self.inflight))
        from .feed import EventFeed

        self._feed = EventFeed(self.app.state, self.inflight)
        self._feed.start()
        self._start_grpc()
        if s.rabbitmq_url:
            from .progress_rpc import ProgressResponder

            self._responder = ProgressResponder(
                s.rabbitmq_url,
                s.progress_exchange_name(),
                self.inflight,
                self.worker.name,
                s.control_token,
            )
            self._responder.start()
        if self.address:
            self._announcer = threading.Thread(
                target=self._announce, name="taskqueue-control-announce", daemon=True
            )
            self._announcer.start()
        return self

    def _start_grpc(self) -> None:
        s = self.app.settings
        try:
            from .grpc_server import WorkerService, serve
            from .lag import LagProbe

            self._lag = LagProbe(self.app.transport, lambda: self.worker.groups)
            service = WorkerService(self.app, self.view, self.inflight, self._lag)
            self._server, self.address = serve(
                service, s.control_host, s.control_port, s.control_token
            )
            if s.control_token:
                logger.info("control plane: gRPC on %s (token required)", self.address)
            else:
                logger.warning(
                    "control plane: gRPC on %s WITHOUT authentication (loopback only); "
                    "set TASKQUEUE_CONTROL_TOKEN",
                    self.address,
                )
        except Exception as exc:
            logger.error("control plane: gRPC service not started: %s", exc)

    def _announce(self) -> None:
        """Keep the gRPC address in the heartbeat hash (it expires with the worker's)."""
        s = self.app.settings
        while not self._stop.is_set():
            try:
                self.app.state.announce_worker(
                    self.worker.name,
                    WorkerHeartbeat(grpc=self.address, control_seen=time.time()),
                    ttl=s.heartbeat_interval * 3,
                )
            except Exception as exc:
                logger.warning("announcing the gRPC address failed: %s", exc)
            self._stop.wait(s.heartbeat_interval)

    def stop(self) -> None:
        self._stop.set()
        if self._announcer is not None:
            self._announcer.join(timeout=5)
        if self._server is not None:
            self._server.stop(grace=1.0).wait(2.0)
        for part in (self._responder, self._feed, self._lag):
            if part is not None:
                try:
                    part.stop() if hasattr(part, "stop") else part.close()
                except Exception:
                    logger.debug("stopping %r failed", part, exc_info=True)


def start_control(worker: Worker) -> ControlPlane | None:
    """Start the worker's control plane unless ``control_enabled`` is off."""
    if not worker.app.settings.control_enabled:
        return None
    try:
        return ControlPlane(worker).start()
    except Exception:
        logger.exception("control plane failed to start; the worker runs without it")
        return None
