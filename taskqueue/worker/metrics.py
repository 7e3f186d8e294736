"""Prometheus metrics of worker and beat processes, and the server for them.

A worker serves ``GET /metrics`` on ``metrics_port`` (beat on
``beat_metrics_port``; 0 = none), on ``control_host``. The names are agreed
with the alert rules and dashboards (``deploy/monitoring``) and listed in
docs/taskqueue.md, "Metrics"; renaming one breaks them.

Labels are bounded: ``task`` (a registered task, else ``unknown``: a name
read off the wire could be anything), ``queue`` and ``worker_group`` (the
consumer group of that queue; for worker-level gauges the worker's queue
list joined by ``+``). Never a job id, a host or a pod name: Prometheus adds
``instance`` itself.

Where the numbers come from, and why there:

- Job counters and the runtime histogram are updated by the poll loop's
  ledger as it records each event (:class:`JobMetrics` is the hook, a no-op
  while metrics are off), in the loop thread, so they cost a dict lookup.
- In flight and the oldest unprocessed job's age are sampled by the loop
  thread at most once per :data:`SAMPLE_INTERVAL` (:meth:`WorkerMetrics.sample`):
  the job table belongs to that thread.
- Consumer lag is read when Prometheus scrapes, in the server's thread,
  through :meth:`Transport.consumer_lag`, which uses clients of its own: a
  broker round trip must never stall the poll loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..states import FAILURE, RETRY, SUCCESS

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from ..app import TaskQueue
    from ..beat import Beat
    from .consumer import PollLoop
    from .execute import Outcome
    from .jobs import Job
    from .main import Worker

logger = logging.getLogger("taskqueue.worker")

SAMPLE_INTERVAL = 1.0
"""Seconds between two samples of the loop's job table (in flight, oldest age)."""

LAG_TIMEOUT = 2.0
"""Seconds a scrape waits for Kafka's offsets before it leaves the lag out."""

RUNTIME_BUCKETS: tuple[float, ...] = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    *(120, 300, 600, 1800, 3600, 7200),
)
"""Seconds; provider calls take tens of ms, the default hard limit is 2 h."""

UNKNOWN_TASK = "unknown"
"""The ``task`` label of a job whose task is not registered here."""

JOB_LABELS = ("task", "queue", "worker_group")
QUEUE_LABELS = ("queue", "worker_group")


class JobMetrics:
    """What the poll loop reports about jobs. This base ignores it all: it
    stands in while a worker serves no metrics (``metrics_port`` 0)."""

    def started(self, job: Job) -> None:
        """A job's body is starting (thread pool: its STARTED event)."""

    def finished(self, job: Job, outcome: Outcome) -> None:
        """An attempt ended, or was refused before it ran, as ``outcome`` says."""

    def dead_lettered(self, topic: str, task: str) -> None:
        """A record of ``topic`` was sent to its queue's dead-letter topic."""

    def sample(self, loop: PollLoop) -> None:
        """Called by the worker after each loop turn (the loop's thread)."""

    def stop(self) -> None:
        """The worker stops: no longer up; stop serving."""


class WorkerMetrics(JobMetrics):
    """The worker's metrics, in a registry of its own (several workers may
    share a process, in tests, and each must count only its own jobs)."""

    def __init__(
        self,
        app: TaskQueue,
        groups: Mapping[str, str],
        queues: Iterable[str],
        pool_size: int,
        pool_kind: str = "threads",
    ) -> None:
        """``groups`` maps each consumed topic to its consumer group."""
        self.app = app
        self.groups = dict(groups)
        settings = app.settings
        self._queue_of_topic = {settings.topic(q): q for q in queues}
        self._labels_of_topic = {
            topic: (queue, self.groups.get(topic, ""))
            for topic, queue in self._queue_of_topic.items()
        }
        self.worker_group = "+".join(self._queue_of_topic.values())
        # A process child writes STARTED itself and tells the loop nothing:
        # its start is counted when the attempt ends.
        self._started_at_finish = pool_kind == "processes"
        self.registry = registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        self.jobs_started = Counter(
            "taskqueue_jobs_started",
            "Job attempts whose body started.",
            JOB_LABELS,
            registry=registry,
        )
        self.jobs_succeeded = Counter(
            "taskqueue_jobs_succeeded",
            "Attempts that ended SUCCESS.",
            JOB_LABELS,
            registry=registry,
        )
        self.jobs_failed = Counter(
            "taskqueue_jobs_failed",
            "Jobs that ended FAILURE (out of retries, refused, unknown task, unrecordable).",
            JOB_LABELS,
            registry=registry,
        )
        self.jobs_retried = Counter(
            "taskqueue_jobs_retried",
            "Attempts that ended RETRY (another attempt follows).",
            JOB_LABELS,
            registry=registry,
        )
        self.jobs_dead_lettered = Counter(
            "taskqueue_jobs_dead_lettered",
            "Records sent to the queue's dead-letter topic (failed, poison, undecodable, ...).",
            JOB_LABELS,
            registry=registry,
        )
        self.job_runtime = Histogram(
            "taskqueue_job_runtime_seconds",
            "Run time of task bodies that ended SUCCESS, FAILURE or RETRY.",
            JOB_LABELS,
            buckets=RUNTIME_BUCKETS,
            registry=registry,
        )
        self.jobs_in_flight = Gauge(
            "taskqueue_jobs_in_flight",
            "Jobs handed to the pool (queued or running) and not finished.",
            QUEUE_LABELS,
            registry=registry,
        )
        self.oldest_age = Gauge(
            "taskqueue_oldest_unprocessed_job_age_seconds",
            "Seconds since the oldest job this worker received and has not "
            "finished was sent (or became due); 0 when none.",
            QUEUE_LABELS,
            registry=registry,
        )
        self.pool_size = Gauge(
            "taskqueue_pool_size",
            "Task bodies the pool runs at once.",
            ["worker_group"],
            registry=registry,
        )
        self.worker_up = Gauge(
            "taskqueue_worker_up",
            "1 while the poll loop runs.",
            ["worker_group"],
            registry=registry,
        )
        self.pool_size.labels(self.worker_group).set(pool_size)
        self.worker_up.labels(self.worker_group).set(0)
        for queue, group in self._labels_of_topic.values():
            self.jobs_in_flight.labels(queue, group).set(0)
            self.oldest_age.labels(queue, group).set(0)
        self.assigned: tuple[tuple[str, int], ...] = ()
        """The consumer's partitions at the last sample; replaced, never mutated."""
        registry.register(_LagCollector(self))
        self._next_sample = 0.0
        self._server: WSGIServer | None = None

    # --- labels --------------------------------------------------------------------
    def _job_labels(self, topic: str, task: str) -> tuple[str, str, str]:
        queue, group = self._labels_of_topic.get(topic, (UNKNOWN_TASK, ""))
        return (task if task in self.app.tasks else UNKNOWN_TASK, queue, group)

    # --- the ledger's hooks (loop thread) -------------------------------------------
    def started(self, job: Job) -> None:
        self.jobs_started.labels(*self._job_labels(job.delivery.topic, job.message.task)).inc()

    def finished(self, job: Job, outcome: Outcome) -> None:
        labels = self._job_labels(job.delivery.topic, job.message.task)
        state = outcome.state
        if state == SUCCESS:
            self.jobs_succeeded.labels(*labels).inc()
        elif state == RETRY:
            self.jobs_retried.labels(*labels).inc()
        elif state == FAILURE:
            self.jobs_failed.labels(*labels).inc()
        ran = outcome.started_at > 0 and outcome.finished_at >= outcome.started_at
        if ran and state in (SUCCESS, RETRY, FAILURE):
            self.job_runtime.labels(*labels).observe(outcome.runtime)
        if ran and self._started_at_finish:
            self.jobs_started.labels(*labels).inc()

    def dead_lettered(self, topic: str, task: str) -> None:
        self.jobs_dead_lettered.labels(*self._job_labels(topic, task)).inc()

    # --- sampled from the loop thread ------------------------------------------------
    def sample(self, loop: PollLoop) -> None:
        now = time.monotonic()
        if now < self._next_sample:
            return
        self._next_sample = now + SAMPLE_INTERVAL
        self.worker_up.labels(self.worker_group).set(1)
        if loop.consumer is not None:
            self.assigned = tuple(loop.consumer.assignment())
        wall = time.time()
        in_flight = dict.fromkeys(self._labels_of_topic, 0)
        oldest = dict.fromkeys(self._labels_of_topic, 0.0)
        waiting: list[Job] = list(loop.jobs)
        if loop.held is not None:  # several queues: fetched, waiting for their turn
            waiting += list(loop.held)
        for job in waiting:
            topic = job.delivery.topic
            if topic not in oldest:
                continue
            oldest[topic] = max(oldest[topic], _age(job, wall))
        for job in loop.jobs:
            if job.delivery.topic in in_flight:
                in_flight[job.delivery.topic] += 1
        for topic, (queue, group) in self._labels_of_topic.items():
            self.jobs_in_flight.labels(queue, group).set(in_flight[topic])
            self.oldest_age.labels(queue, group).set(oldest[topic])

    # --- serving -----------------------------------------------------------------------
    def serve(self, host: str, port: int) -> WorkerMetrics:
        """Serve ``/metrics`` in a daemon thread. A port already taken (a
        second worker on one machine) is logged: a worker never dies of its
        metrics."""
        self._server = _serve(self.registry, host, port, "worker")
        return self

    def stop(self) -> None:
        self.worker_up.labels(self.worker_group).set(0)
        _shutdown(self._server)
        self._server = None


class _LagCollector(Collector):
    """``taskqueue_consumer_lag_messages``, read from the broker when scraped."""

    NAME = "taskqueue_consumer_lag_messages"
    HELP = (
        "Records waiting in this worker's assigned partitions of the queue: "
        "high watermark minus the group's committed position."
    )

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        # Declared without reading the broker: registering must not connect.
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=QUEUE_LABELS)]

    def collect(self) -> list[Metric]:
        m = self.metrics
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=QUEUE_LABELS)
        assigned = m.assigned
        lags = m.app.transport.consumer_lag(m.groups, list(assigned), LAG_TIMEOUT)
        for topic, (queue, group) in m._labels_of_topic.items():
            mine = [tp for tp in assigned if tp[0] == topic]
            # A partition whose offsets could not be read leaves the queue out:
            # a partial sum would look like lag going down.
            if all(tp in lags for tp in mine):
                family.add_metric([queue, group], sum(lags[tp] for tp in mine))
        return [family]


class BeatMetrics:
    """Beat's metrics: whether this replica leads, and the ticks it published."""

    def __init__(self, beat: Beat) -> None:
        self.registry = registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        leader = Gauge(
            "taskqueue_beat_leader",
            "1 on the beat replica holding the leader lock, else 0.",
            registry=registry,
        )
        leader.set_function(lambda: 1.0 if beat.is_leader() else 0.0)
        self.ticks = Counter(
            "taskqueue_beat_ticks_published",
            "Schedule ticks published to Kafka, by schedule entry.",
            ["entry"],
            registry=registry,
        )
        self._server: WSGIServer | None = None

    def published(self, entry: str) -> None:
        self.ticks.labels(entry).inc()

    def serve(self, host: str, port: int) -> BeatMetrics:
        self._server = _serve(self.registry, host, port, "beat")
        return self

    def stop(self) -> None:
        _shutdown(self._server)
        self._server = None


def serve_worker_metrics(worker: Worker, loop: PollLoop) -> JobMetrics:
    """The worker's metrics, served on ``metrics_port`` and hooked into the
    loop's ledger; a no-op stand-in when the port is 0."""
    s = worker.app.settings
    if not s.metrics_port:
        return JobMetrics()
    metrics = WorkerMetrics(
        worker.app, worker.groups, worker.queues, loop.pool.size, loop.pool.kind
    )
    loop.ledger.metrics = metrics
    return metrics.serve(s.control_host, s.metrics_port)


def _age(job: Job, now: float) -> float:
    """Seconds since the job was sent or, if later, became due (its eta)."""
    m = job.message
    since = max(m.sent_at or job.received_at, m.eta or 0.0)
    return max(0.0, now - since)


def _serve(registry: CollectorRegistry, host: str, port: int, what: str) -> WSGIServer | None:
    try:
        server, _thread = start_http_server(port, host, registry)
    except OSError as exc:
        logger.warning("%s metrics not served on %s:%d: %s", what, host, port, exc)
        return None
    logger.info("%s metrics on http://%s:%d/metrics", what, host, server.server_port)
    return server


def _shutdown(server: WSGIServer | None) -> None:
    if server is None:
        return
    server.shutdown()  # waits for serve_forever to return (at most its 0.5 s poll)
    server.server_close()
