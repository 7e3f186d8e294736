"""Command line: ``python -m taskqueue worker|topics|workers|inspect|control|dlq|beat -A module``.

Errors are printed in plain words (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .app import TaskQueue, load_app
from .exceptions import ConfigurationError, TaskQueueError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taskqueue", description="Celery-style tasks on Kafka"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_app(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-A", "--app", required=True, help="module[:attribute] defining the TaskQueue app"
        )
        p.add_argument(
            "-l", "--loglevel", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)"
        )

    worker = sub.add_parser("worker", help="consume queues and run tasks")
    with_app(worker)
    worker.add_argument(
        "-Q", "--queues", default=None, help="comma-separated queues (default: default_queue)"
    )
    worker.add_argument(
        "-c", "--concurrency", type=int, default=None, help="pool size (default: CPU count)"
    )
    worker.add_argument("-P", "--pool", choices=("threads", "processes"), default=None)
    worker.add_argument(
        "-n",
        "--name",
        "--hostname",
        default=None,
        help="worker name; %%h = host name, %%n = its first label, %%d = its domain "
        "(default host:pid)",
    )
    worker.add_argument(
        "--max-tasks-per-child",
        type=int,
        default=None,
        help="process pool: replace a child after it ran this many tasks",
    )
    worker.add_argument(
        "--max-memory-per-child",
        type=int,
        default=None,
        help="process pool: replace a child after a task leaves it above this many KiB resident",
    )
    worker.add_argument(
        "--autoscale",
        default=None,
        metavar="MAX,MIN",
        help="thread pool: start MIN threads, grow up to MAX while jobs wait, shrink when idle",
    )
    worker.add_argument(
        "--autoscale-keepalive",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds the pool stays above the demand before autoscale shrinks it (default 30)",
    )

    topics = sub.add_parser("topics", help="manage the Kafka topics of the app's queues")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create the queue and dead-letter topics")
    with_app(create)
    create.add_argument(
        "-Q", "--queues", default=None, help="comma-separated queues (default: all known)"
    )
    from .kafka_topics import add_parser as add_strimzi_parser  # topics strimzi

    add_strimzi_parser(topics_sub, with_app)

    workers = sub.add_parser("workers", help="list live workers (from their Redis heartbeats)")
    with_app(workers)

    results = sub.add_parser("results", help="the result store")
    results_sub = results.add_subparsers(dest="results_command", required=True)
    purge = results_sub.add_parser(
        "purge", help="delete final results older than result_expires (or --older-than)"
    )
    with_app(purge)
    purge.add_argument(
        "--older-than", type=float, default=None, help="seconds (default: result_expires)"
    )
    from .policies.cli import add_parsers as add_policy_parsers  # dlq, beat

    add_policy_parsers(sub, with_app)
    from .control.cli import add_parsers  # inspect, control: the workers' gRPC service

    add_parsers(sub, with_app)
    return parser


def _queues(text: str | None) -> list[str] | None:
    return [q.strip() for q in text.split(",") if q.strip()] if text else None


def _worker(app: TaskQueue, args: argparse.Namespace) -> int:
    from .worker import Worker
    from .worker.sizing import AUTOSCALE_KEEPALIVE

    worker = Worker(
        app,
        queues=_queues(args.queues),
        concurrency=args.concurrency,
        pool=args.pool,
        app_spec=args.app,
        name=args.name,
        max_tasks_per_child=args.max_tasks_per_child,
        max_memory_per_child=args.max_memory_per_child,
        autoscale=args.autoscale,
        autoscale_keepalive=(
            AUTOSCALE_KEEPALIVE if args.autoscale_keepalive is None else args.autoscale_keepalive
        ),
    )
    worker.install_signal_handlers()
    print(
        f"taskqueue worker {worker.name}: queues {', '.join(worker.queues)}, "
        f"{worker.pool_kind} x{worker.concurrency}"
        + (
            f" (autoscale {worker.autoscale.min} to {worker.autoscale.max})"
            if worker.autoscale
            else ""
        )
        + "; Ctrl-C or SIGTERM for a warm shutdown",
        flush=True,
    )
    worker.run(ready=lambda: print("ready", flush=True))
    if worker.stopped_cold and worker.pool_kind == "threads":
        # Task threads cannot be interrupted: exit without waiting for them.
        logging.shutdown()
        os._exit(1)
    # Not a clean stop: a supervisor (Kubernetes, systemd) should restart it.
    return 3 if worker.gave_up else 0


def _topics_create(app: TaskQueue, args: argparse.Namespace) -> int:
    queues = _queues(args.queues) or app.queues()
    s = app.settings
    print(
        f"creating topics for queues {', '.join(queues)} on {s.broker_url} "
        f"({s.partitions} partitions, replication {s.replication_factor or 'automatic'})...",
        flush=True,
    )
    created = app.declare_topics(queues)
    for q in queues:
        for topic in (s.topic(q), s.dead_letter_topic(q)):
            print(f"  {topic}: {'created' if topic in created else 'already exists'}")
    return 0


def _results_purge(app: TaskQueue, args: argparse.Namespace) -> int:
    from .builtins import purge_expired_results

    older_than = args.older_than
    if older_than is not None and older_than <= 0:
        raise ConfigurationError(f"--older-than must be more than 0 seconds, not {older_than:g}")
    s = app.settings
    older_than = older_than or s.result_expires
    if not s.results_enabled or not older_than:
        print("nothing to do: results never expire (result_expires is 0, or results are off)")
        return 0
    print(f"deleting results older than {older_than:.0f} s from {app.result_store.service}...")
    print(f"deleted {purge_expired_results(app, older_than)}")
    return 0


def _workers(app: TaskQueue, args: argparse.Namespace) -> int:
    workers = app.state.live_workers()
    if not workers:
        print("no live workers")
    for name, info in sorted(workers.items()):
        print(
            f"{name}: queues={info.get('queues')} "
            f"pool={info.get('pool')}x{info.get('concurrency')} "
            f"active={info.get('active')} processed={info.get('processed')}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.loglevel.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    app: TaskQueue | None = None
    try:
        app = load_app(args.app)
        if args.command == "worker":
            return _worker(app, args)
        if args.command == "topics":
            if args.topics_command == "strimzi":
                from .kafka_topics import print_strimzi_topics

                return print_strimzi_topics(app, args)
            return _topics_create(app, args)
        if args.command == "results":
            return _results_purge(app, args)
        if args.command in ("dlq", "beat"):
            from .policies.cli import run as run_policy

            return run_policy(app, args)
        if args.command in ("inspect", "control"):
            from .control.cli import run

            return run(app, args)
        return _workers(app, args)
    except (TaskQueueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        service = _service_of(exc, app)
        if service is None:
            raise  # a bug: the traceback is the useful report
        # The worker stops rather than run on half-working storage: jobs it
        # had not stored are uncommitted, so they are redelivered on restart.
        logging.getLogger("taskqueue.cli").debug("fatal %s error", service, exc_info=True)
        print(
            f"error: {service} failed: {exc} (a stopped worker's unfinished jobs are redelivered)",
            file=sys.stderr,
        )
        return 3


def _service_of(exc: Exception, app: TaskQueue | None) -> str | None:
    """Which backing service an exception comes from, if any."""
    from confluent_kafka import KafkaException

    if app is not None and app.state.owns_error(exc):
        return app.state.service
    if app is not None and app.result_store.owns_error(exc):
        return app.result_store.service
    if isinstance(exc, KafkaException):
        return "Kafka"
    return None
