"""The worker's Prometheus metrics (``taskqueue.worker.metrics``), on the
in-memory twins (fast tier) and on Kafka, Redis and MongoDB: outcomes are
counted by task and queue, consumer lag and the oldest job's age rise while
jobs wait and fall back to 0 once they ran, and ``/metrics`` serves them
under the agreed names. Beat's leader gauge and tick counter, on memory."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskqueue import TaskQueue
from taskqueue.beat import Beat, crontab
from taskqueue.worker.metrics import BeatMetrics, WorkerMetrics

from . import tasks
from .conftest import RunningWorker, state_of, wait_for

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


METRICS_PORT = free_port()
"""The port the served-metrics test's worker listens on."""

AGREED_WORKER_METRICS = {
    "taskqueue_jobs_started",
    "taskqueue_jobs_succeeded",
    "taskqueue_jobs_failed",
    "taskqueue_jobs_retried",
    "taskqueue_jobs_dead_lettered",
    "taskqueue_job_runtime_seconds",
    "taskqueue_jobs_in_flight",
    "taskqueue_consumer_lag_messages",
    "taskqueue_oldest_unprocessed_job_age_seconds",
    "taskqueue_pool_size",
    "taskqueue_worker_up",
}
"""Family names (counters without ``_total``), as alert rules and dashboards use them."""


def metrics_of(w: RunningWorker) -> WorkerMetrics:
    metrics = w.worker.loop.ledger.metrics if w.worker.loop is not None else None
    assert isinstance(metrics, WorkerMetrics), "the worker serves no metrics"
    return metrics


def sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def job_labels(app: TaskQueue, w: RunningWorker, task: str) -> dict[str, str]:
    return {"task": task, **queue_labels(app, w)}


def queue_labels(app: TaskQueue, w: RunningWorker) -> dict[str, str]:
    topic = app.settings.topic("default")
    return {"queue": "default", "worker_group": w.worker.groups[topic]}


def test_outcomes_are_counted_by_task_and_queue(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    added = [rapp.send_task("rules.add", (i, 1)) for i in range(3)]
    flaky = rapp.send_task("rules.flaky", ("metrics",))  # 2 retries, then FAILURE
    with worker() as w:
        wait_for(lambda: all(state_of(rapp, r.id) == "SUCCESS" for r in added), what="adds")
        wait_for(lambda: state_of(rapp, flaky.id) == "FAILURE", what="flaky's failure")
        m = metrics_of(w)
        add, flake = job_labels(rapp, w, "rules.add"), job_labels(rapp, w, "rules.flaky")
        assert sample(m, "taskqueue_jobs_started_total", **add) == 3
        assert sample(m, "taskqueue_jobs_succeeded_total", **add) == 3
        assert sample(m, "taskqueue_job_runtime_seconds_count", **add) == 3
        assert sample(m, "taskqueue_jobs_failed_total", **add) == 0
        assert sample(m, "taskqueue_jobs_started_total", **flake) == 3
        assert sample(m, "taskqueue_jobs_retried_total", **flake) == 2
        assert sample(m, "taskqueue_jobs_failed_total", **flake) == 1
        assert sample(m, "taskqueue_jobs_dead_lettered_total", **flake) == 1
        assert sample(m, "taskqueue_jobs_succeeded_total", **flake) == 0
        group = "+".join(w.worker.queues)
        assert sample(m, "taskqueue_pool_size", worker_group=group) == 2
        wait_for(lambda: sample(m, "taskqueue_worker_up", worker_group=group) == 1)


@pytest.mark.rule_settings(unknown_task_grace=0)
def test_an_unregistered_task_is_labelled_unknown(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    """A task name comes off the wire: as a label it would be unbounded."""
    job = rapp.send_task("not.a.registered.task")
    with worker() as w:
        wait_for(lambda: state_of(rapp, job.id) == "FAILURE", what="NotRegistered")
        m = metrics_of(w)
        unknown = job_labels(rapp, w, "unknown")
        assert sample(m, "taskqueue_jobs_failed_total", **unknown) == 1
        assert sample(m, "taskqueue_jobs_dead_lettered_total", **unknown) == 1
        names = {s.labels.get("task") for f in m.registry.collect() for s in f.samples}
        assert "not.a.registered.task" not in names


def test_lag_and_oldest_age_rise_while_jobs_wait_and_fall_to_zero_once_they_ran(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    gate = f"{rapp.settings.key_prefix}-lag"
    held = [rapp.send_task("rules.hold", (gate,)) for _ in range(5)]
    with worker() as w:  # concurrency 2: two run, three wait in the pool
        m = metrics_of(w)
        labels = queue_labels(rapp, w)
        wait_for(lambda: sample(m, "taskqueue_jobs_in_flight", **labels) == 5, what="in flight")
        # Nothing is committed while the first job runs: all five wait.
        wait_for(lambda: sample(m, "taskqueue_consumer_lag_messages", **labels) == 5, what="lag 5")
        age = "taskqueue_oldest_unprocessed_job_age_seconds"
        wait_for(lambda: sample(m, age, **labels) > 0, what="an age")
        tasks.GATES[gate].set()
        wait_for(lambda: all(state_of(rapp, r.id) == "SUCCESS" for r in held), what="done")
        wait_for(lambda: sample(m, "taskqueue_consumer_lag_messages", **labels) == 0, what="lag 0")
        wait_for(lambda: sample(m, "taskqueue_jobs_in_flight", **labels) == 0, what="drained")
        wait_for(lambda: sample(m, age, **labels) == 0, what="no age")


@pytest.mark.rule_settings(metrics_port=METRICS_PORT, control_host="127.0.0.1")
def test_metrics_are_served_under_the_agreed_names(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    job = rapp.send_task("rules.add", (1, 2))
    with worker() as w:
        wait_for(lambda: state_of(rapp, job.id) == "SUCCESS", what="the job")
        text = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert not AGREED_WORKER_METRICS - families.keys(), "agreed metrics missing"
        succeeded = families["taskqueue_jobs_succeeded"].samples
        labels = job_labels(rapp, w, "rules.add")
        assert any(s.labels == labels and s.value == 1 for s in succeeded)
    with pytest.raises(httpx.TransportError):  # a stopped worker stops serving
        httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=2)


@pytest.mark.fast
def test_beat_exports_leadership_and_published_ticks(unique_name: str) -> None:
    app = TaskQueue(
        "beat-metrics",
        broker_url="memory://",
        redis_url="memory://",
        results_enabled=False,
        control_enabled=False,
        key_prefix=unique_name,
        topic_prefix=f"{unique_name}.",
        partitions=1,
    )
    app.beat_schedule = {"yearly": {"task": "reports.yearly", "schedule": crontab("0 0 1 1 *")}}
    app.declare_topics(["default"])
    leader, follower = Beat(app, name="leader"), Beat(app, name="follower")
    for beat in (leader, follower):
        beat.metrics = BeatMetrics(beat)
    try:
        assert leader._lead() and not follower._lead()
        assert leader.tick(time.time()) and not follower.tick(time.time())
        for beat, expected in ((leader, 1), (follower, 0)):
            assert beat.metrics is not None
            registry = beat.metrics.registry
            assert registry.get_sample_value("taskqueue_beat_leader") == expected
            ticks = registry.get_sample_value(
                "taskqueue_beat_ticks_published_total", {"entry": "yearly"}
            )
            assert (ticks or 0) == expected
    finally:
        app.close()
