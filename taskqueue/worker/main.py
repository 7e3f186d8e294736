"""Worker: wires app, consumer, pool and poll loop; handles signals and shutdown.

Shutdown: the first SIGTERM/SIGINT starts a warm shutdown (stop fetching,
finish in-flight jobs within ``shutdown_grace``, store, commit, leave the
group); a second signal, or the grace period running out, makes it cold
(commit what is finished and exit: unfinished jobs are redelivered). A
remote ``shutdown`` command (:meth:`Worker.request_shutdown`) counts as the
first signal.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import signals
from ..builtins import set_up_expiry
from ..exceptions import ConfigurationError
from ..stores.state import WorkerHeartbeat
from .consumer import PollLoop
from .events import new_event_queue
from .malloc import limit_malloc_arenas
from .metrics import serve_worker_metrics
from .pool import Pool, ProcessPool, ThreadPool
from .sizing import AUTOSCALE_KEEPALIVE, AutoscaleRange, PoolSizing

if TYPE_CHECKING:
    from ..app import TaskQueue
    from ..config import Settings
    from ..transport import Consumer
    from ..transport.grouped import GroupedConsumer
    from .snapshot import LoopSnapshot

logger = logging.getLogger("taskqueue.worker")


def consumer_groups(settings: Settings, queues: list[str], group_id: str = "") -> dict[str, str]:
    """Topic -> consumer group, for a worker serving ``queues``.

    Each queue has its own group, joined by every worker that serves it
    whatever else it serves: were the group named after the whole queue
    list, workers started with ``-Q high`` and ``-Q high,default`` would sit
    in two groups that each get every ``high`` job, and a new queue list
    would replay the topics' whole retention. ``group_id`` (the setting, or
    the Worker argument) puts every queue in that one group instead.
    """
    return {settings.topic(q): group_id or f"{settings.topic_prefix}workers.{q}" for q in queues}


def node_name(template: str, hostname: str | None = None) -> str:
    """Expand Celery's node-name variables in ``-n``: ``%h`` the host name with
    its domain, ``%n`` the name alone, ``%d`` the domain alone, ``%%`` a ``%``
    (``worker1@%h`` -> ``worker1@box.example.com``)."""
    if hostname is None:
        # getfqdn may ask DNS: only when the template needs it.
        hostname = socket.getfqdn() if re.search(r"%[hnd]", template) else ""
    host = hostname
    short, _, domain = host.partition(".")
    values = {"h": host, "n": short, "d": domain, "%": "%"}
    return re.sub(r"%([hnd%])", lambda m: values[m.group(1)], template)


class Worker:
    def __init__(
        self,
        app: TaskQueue,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        pool: str | None = None,
        app_spec: str | None = None,
        name: str | None = None,
        declare: bool = True,
        group_id: str | None = None,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        autoscale: str | AutoscaleRange | None = None,
        autoscale_keepalive: float = AUTOSCALE_KEEPALIVE,
    ) -> None:
        s = app.settings
        self.app = app
        self.queues = queues or [s.default_queue]
        """The queues consumed now (replaced, never mutated, by add/cancel_consumer)."""
        self.pool_kind = pool or s.pool
        try:
            self.autoscale = (
                AutoscaleRange.parse(autoscale) if isinstance(autoscale, str) else autoscale
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if self.autoscale is not None and self.pool_kind != "threads":
            raise ConfigurationError(
                "--autoscale needs the thread pool (-P threads); size a process pool with "
                "-c, or resize it at runtime with pool_grow/pool_shrink"
            )
        if self.autoscale is not None and autoscale_keepalive <= 0:
            raise ConfigurationError(
                f"autoscale keepalive must be more than 0 seconds, not {autoscale_keepalive:g}"
            )
        self.autoscale_keepalive = autoscale_keepalive
        # Autoscale starts at its minimum, as Celery's does.
        self.concurrency = (
            self.autoscale.min
            if self.autoscale is not None
            else concurrency or s.effective_concurrency()
        )
        if self.pool_kind == "processes" and not app_spec:
            raise ValueError(
                "the process pool needs app_spec (module[:attr]) to import in children"
            )
        if self.pool_kind != "processes" and (max_tasks_per_child or max_memory_per_child):
            # Refused, not ignored: threads share one process, nothing to recycle.
            raise ConfigurationError(
                "max_tasks_per_child and max_memory_per_child need the process pool (-P processes)"
            )
        self.max_tasks_per_child = max_tasks_per_child
        self.max_memory_per_child = max_memory_per_child
        self.app_spec = app_spec
        self.name = node_name(name) if name else f"{socket.gethostname()}:{os.getpid()}"
        self.declare = declare
        self.groups = consumer_groups(s, self.queues, group_id or s.group_id)
        """Topic -> the consumer group this worker consumes it in (replaced on changes)."""
        self.shared_group = bool(group_id or s.group_id)
        """All queues in one group: queues cannot be added or cancelled at runtime."""
        self._signals = 0
        self._signal_name = ""
        self._cold = False
        self._stop = threading.Event()
        self.loop: PollLoop | None = None
        self.stopped_cold = False
        """Set by a cold shutdown: jobs were left unfinished (they are redelivered)."""
        self.gave_up = False
        """Set when a store outage outlasted ``outage_shutdown_after``."""
        self.started_at = time.time()

    def _make_pool(self) -> Pool:
        events = new_event_queue()
        if self.pool_kind == "processes":
            assert self.app_spec is not None
            return ProcessPool(
                self.app,
                self.app_spec,
                self.concurrency,
                events,
                self.max_tasks_per_child,
                self.max_memory_per_child,
            )
        return ThreadPool(self.app, self.concurrency, events)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only flags here: logging from a signal handler can deadlock on the
        # logging lock, and a long handler can swallow a second signal.
        self._signals += 1
        self._signal_name = signal.Signals(signum).name
        if self._signals > 1:
            self._cold = True
            if self.loop is not None:
                self.loop.cold = True
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    def request_shutdown(self, reason: str = "remote shutdown") -> None:
        """A warm shutdown, as the first SIGTERM (safe from any thread); a
        signal after it makes the shutdown cold."""
        self._signals = max(self._signals, 1)
        self._signal_name = self._signal_name or reason
        self._stop.set()

    def _queues_changed(self, queues: list[str], groups: dict[str, str]) -> None:
        """Called in the loop thread when add/cancel_consumer changed the queues."""
        self.queues = queues
        self.groups = groups

    def _consumer(self, loop: PollLoop) -> GroupedConsumer:
        """One member consumer per group, always seen through a GroupedConsumer,
        so that queues can be added and cancelled at runtime."""
        from ..transport.grouped import GroupedConsumer

        window = self.app.settings.max_in_flight_per_partition
        by_group: dict[str, list[str]] = {}
        for topic, group in self.groups.items():
            by_group.setdefault(group, []).append(topic)
        members: dict[str, Consumer] = {}
        for group, topics in by_group.items():
            member = self._member(loop, topics, group)
            members.update(dict.fromkeys(topics, member))
        return GroupedConsumer(members, window)

    def _member(self, loop: PollLoop, topics: list[str], group: str) -> Consumer:
        window = self.app.settings.max_in_flight_per_partition
        return self.app.transport.consumer(topics, group, window, loop.on_assign, loop.on_revoke)

    def run(self, ready: Callable[[], None] | None = None) -> None:
        """Consume until stopped; returns after a clean shutdown."""
        s = self.app.settings
        limit_malloc_arenas(s.malloc_arenas)  # before the worker's threads start
        self.app.set_current()  # shared_task proxies in task bodies use this app
        self.app.finalize()  # on_after_configure receivers, waiting autodiscovery
        signals.worker_init.send(sender=self)
        set_up_expiry(self.app)  # a TTL index where the result store has them
        if self.declare:
            created = self.app.declare_topics(self.queues)
            if created:
                logger.info("created topics %s", created)
        # Under-replicated topics are logged, never fatal: Kafka does not
        # raise a topic's replication by itself when the cluster grows.
        self.app.check_replication(self.queues)
        pool = self._make_pool()
        loop = self.loop = PollLoop(self.app, pool, self.name, self.queues)
        loop.sizing = PoolSizing(pool, self.autoscale, self.autoscale_keepalive)
        # The control plane (gRPC, progress RPC) reads the loop's snapshot and
        # follows rebalances through a listener, so it starts before the consumer.
        from ..control.plane import start_control

        control = start_control(self)
        health = None
        if s.health_port:
            from .health import HealthServer

            health = HealthServer(
                self.name, lambda: loop.snapshot, s.control_host, s.health_port
            ).start()
        metrics = serve_worker_metrics(self, loop)  # on metrics_port; a no-op when 0
        consumer = self._consumer(loop)
        loop.consumer = consumer
        from .subscriptions import Subscriptions

        loop.subscriptions = Subscriptions(
            loop,
            consumer,
            self.groups,
            lambda topics, group: self._member(loop, topics, group),
            self.shared_group,
            self._queues_changed,
        )
        # Delay tiers: countdown/eta/retry records wait in Kafka, forwarded
        # by these consumers when due (taskqueue.delays).
        from ..delays import DelayForwarder

        delays = DelayForwarder(self.app).start()
        revocations = self.app.revocations.start()  # checked before each body starts
        heartbeat = threading.Thread(
            target=self._heartbeat, name="taskqueue-heartbeat", daemon=True
        )
        heartbeat.start()
        logger.info(
            "worker %s consuming %s (%s pool, concurrency %d)",
            self.name,
            ", ".join(f"{topic} in group {group}" for topic, group in self.groups.items()),
            pool.kind,
            self.concurrency,
        )
        if self.autoscale is not None:
            logger.info("autoscale: %d to %d threads", self.autoscale.min, self.autoscale.max)
        signals.worker_ready.send(sender=self)
        if ready:
            ready()
        try:
            while not self._stop.is_set():
                loop.turn()
                metrics.sample(loop)
                if loop.outage.too_long:
                    logger.critical(
                        "%s for more than %.0f s (outage_shutdown_after): shutting down "
                        "so that a healthy worker can take over; unfinished jobs are redelivered",
                        loop.outage.problem,
                        loop.outage.shutdown_after,
                    )
                    self._signal_name = "store outage"
                    self.gave_up = True
                    break
            self._shutdown(loop, pool)
        finally:
            self._stop.set()
            delays.stop()
            revocations.stop()
            if control is not None:
                control.stop()
            if health is not None:
                health.stop()
            metrics.stop()
            try:
                self.app.state.remove_worker(self.name)
            except Exception:  # best effort: the heartbeat key expires anyway
                logger.debug("could not remove heartbeat key", exc_info=True)
            signals.worker_shutdown.send(sender=self)

    def _shutdown(self, loop: PollLoop, pool: Pool) -> None:
        loop.stopping = True
        consumer = loop.consumer
        assert consumer is not None
        grace = self.app.settings.shutdown_grace
        deadline = time.monotonic() + grace
        logger.warning(
            "%s: warm shutdown, %d job(s) in flight (grace %.0f s); "
            "send the signal again to stop at once",
            self._signal_name or "stop requested",
            len(loop.jobs),
            grace,
        )
        while loop.jobs and time.monotonic() < deadline and not self._cold:
            loop.turn()
            time.sleep(0.005)
        if self._cold:
            logger.warning("second signal: cold shutdown")
        cold = bool(loop.jobs)
        loop.cold = cold
        if cold:
            logger.warning(
                "%d job(s) unfinished at shutdown; they will be redelivered", len(loop.jobs)
            )
        loop.settle_safely(force_flush=True)
        loop.wait_acks(time.monotonic() + 10)
        loop.release_unstarted_leases()
        pool.shutdown(wait=not cold, cancel=True)
        consumer.close()  # commits synchronously, then leaves the group
        logger.info("worker %s stopped after %d job(s)", self.name, loop.processed)
        # A process that embeds the worker decides how to exit; the CLI
        # exits at once, since task threads cannot be interrupted.
        self.stopped_cold = cold

    def _heartbeat(self) -> None:
        s = self.app.settings
        interval = 0.0  # the first beat at once, then every heartbeat_interval
        while not self._stop.wait(interval):
            interval = s.heartbeat_interval
            snapshot = self.loop.snapshot if self.loop is not None else None
            try:
                self.app.state.announce_worker(
                    self.name,
                    WorkerHeartbeat(
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        queues=",".join(self.queues),
                        pool=self.pool_kind,
                        concurrency=snapshot.pool_size
                        if snapshot and snapshot.pool_size
                        else self.concurrency,
                        started_at=self.started_at,
                        last_seen=time.time(),
                        active=len(snapshot.active) if snapshot else 0,
                        processed=snapshot.processed if snapshot else 0,
                        # Written empty when healthy: the field is replaced, never left stale.
                        problem=snapshot.problem if snapshot else "",
                    ),
                    ttl=s.heartbeat_interval * 3,
                )
            except Exception as exc:
                logger.warning("heartbeat to the state store failed: %s", exc)
            self._renew_leases(snapshot)

    def _renew_leases(self, snapshot: LoopSnapshot | None) -> None:
        """Keep this worker's owner leases alive while it holds their jobs
        (``owner_lease``; a copy elsewhere waits while they are)."""
        lease = self.app.settings.owner_lease
        if not lease or snapshot is None or not snapshot.owned:
            return
        try:
            self.app.state.renew_leases(list(snapshot.owned), self.name, lease)
        except Exception as exc:
            logger.warning("owner leases not renewed: %s", exc)
