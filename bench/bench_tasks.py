"""Tasks of the throughput benchmark, for both systems.

``app`` (taskqueue) reads ``TASKQUEUE_*`` from the environment the
benchmark gives its worker; ``celery_app`` reads ``BENCH_CELERY_REDIS``
(and ``BENCH_CELERY_BROKER`` / ``BENCH_CELERY_QUEUE`` for Celery on Kafka).
"""

from __future__ import annotations

import os
import time

from taskqueue import TaskQueue

app = TaskQueue("bench")


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.stamp")
def stamp() -> float:
    return time.time()


def make_celery():  # type: ignore[no-untyped-def]
    from celery import Celery

    url = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/15")
    # BENCH_CELERY_BROKER: another broker (kombu's confluentkafka), results stay in Redis.
    broker = os.environ.get("BENCH_CELERY_BROKER", url)
    capp = Celery("bench_celery", broker=broker, backend=url)
    if broker.startswith("confluentkafka://"):
        capp.conf.broker_transport_options = {"allow_create_topics": True}
    if os.environ.get("BENCH_CELERY_QUEUE"):
        capp.conf.task_default_queue = os.environ["BENCH_CELERY_QUEUE"]
    capp.conf.update(
        worker_prefetch_multiplier=64,  # Celery's fair best for tiny tasks
        task_ignore_result=False,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @capp.task(name="bench.celery.noop")
    def cnoop() -> None:
        return None

    @capp.task(name="bench.celery.stamp")
    def cstamp() -> float:
        return time.time()

    return capp


celery_app = make_celery() if os.environ.get("BENCH_CELERY") == "1" else None
