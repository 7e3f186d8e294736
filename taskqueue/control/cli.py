"""``python -m taskqueue inspect ping|stats|active|reserved|scheduled|revoked|registered|
active_queues`` and ``control revoke|rate-limit|shutdown|pool_grow|pool_shrink|autoscale|
add_consumer|cancel_consumer`` (Celery's command names).

Both talk to every live worker over gRPC with a deadline (``--timeout``);
a worker that does not answer is listed as unreachable and the command
exits with status 1, so scripts notice.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import TaskQueue
    from .client import Answer, ControlClient

AddApp = Callable[[argparse.ArgumentParser], None]

INSPECTIONS = (
    "ping",
    "stats",
    "active",
    "reserved",
    "scheduled",
    "revoked",
    "registered",
    "active_queues",
)

COMMANDS = ("shutdown", "pool_grow", "pool_shrink", "autoscale", "add_consumer", "cancel_consumer")
"""``control`` actions that change workers (each one a gRPC call, see worker.proto)."""


def add_parsers(sub: Any, with_app: AddApp) -> None:
    inspect = sub.add_parser(
        "inspect",
        help="ask live workers (gRPC): ping, stats, active, reserved, scheduled, revoked, "
        "registered, active_queues",
    )
    inspect.add_argument("what", choices=INSPECTIONS)
    inspect.add_argument("--lag", action="store_true", help="stats: ask Kafka for consumer lag")
    inspect.add_argument("--timeout", type=float, default=1.0, help="seconds per worker")
    with_app(inspect)

    control = sub.add_parser("control", help="steer live workers (gRPC): revoke, rate-limit")
    actions = control.add_subparsers(dest="action", required=True)
    revoke = actions.add_parser("revoke", help="revoke a job (and stop it with --terminate)")
    revoke.add_argument("job_id")
    revoke.add_argument("--terminate", action="store_true", help="interrupt a running attempt")
    revoke.add_argument("--reason", default="revoked from the command line")
    revoke.add_argument("--timeout", type=float, default=2.0)
    with_app(revoke)
    rate = actions.add_parser(
        "rate-limit",
        help="set a task's rate limit on every worker: 10/s, 100/m, 5/h, '' = back to declared",
    )
    rate.add_argument("task")
    rate.add_argument("rate")
    with_app(rate)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help)
        parser.add_argument(
            "-d", "--destination", default=None, help="comma-separated worker names (default: all)"
        )
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds per worker")
        with_app(parser)
        return parser

    command("shutdown", "warm shutdown of workers, as on SIGTERM")
    command("pool_grow", "add N threads/processes to each pool").add_argument(
        "n", nargs="?", type=int, default=1
    )
    command("pool_shrink", "remove N threads/processes from each pool").add_argument(
        "n", nargs="?", type=int, default=1
    )
    scale = command("autoscale", "set the autoscale range of workers started with --autoscale")
    scale.add_argument("max", type=int)
    scale.add_argument("min", type=int)
    command("add_consumer", "start consuming a queue (join its consumer group)").add_argument(
        "queue"
    )
    command(
        "cancel_consumer", "stop consuming a queue (its fetched jobs finish first)"
    ).add_argument("queue")


def run(app: TaskQueue, args: argparse.Namespace) -> int:
    from .client import ControlClient

    if args.command == "control" and args.action == "rate-limit":
        # Limits are shared by every worker through the state store: no
        # worker needs to be up to set one.
        now, previous = app.control.rate_limit(args.task, args.rate)
        print(f"{args.task}: {now or 'no limit'} (was {previous or 'no limit'}) on every worker")
        return 0

    client = ControlClient(app, timeout=args.timeout)
    try:
        if args.command == "control" and args.action in COMMANDS:
            answers = _command(client, args)
            show = _ok
        elif args.command == "inspect":
            if args.what == "ping":
                answers = client.ping()
                show = _ping
            elif args.what == "stats":
                answers = client.stats(with_lag=args.lag)
                show = _stats
            elif args.what == "registered":
                answers = client.registered()
                show = _registered
            elif args.what == "active_queues":
                answers = client.stats()
                show = _queues
            elif args.what == "revoked":
                answers = client.revoked()
                show = _revoked
            elif args.what == "scheduled":
                answers = client.scheduled()
                show = _scheduled
            else:  # active, reserved: one call, split by whether the body started
                answers = client.active()
                show = _active if args.what == "active" else _reserved
        else:
            answers = client.revoke(args.job_id, args.terminate, args.reason)
            show = _revoke
    finally:
        client.close()
    if not answers:
        print("no live workers")
        return 1
    for answer in answers:
        if answer.ok:
            print(f"{answer.worker} ({answer.address}): {show(answer.reply)}")
        else:
            print(f"{answer.worker} ({answer.address or '-'}): {answer.error}")
    return 0 if all(a.ok for a in answers) else 1


def _command(client: ControlClient, args: argparse.Namespace) -> list[Answer]:
    where = [d.strip() for d in args.destination.split(",")] if args.destination else None
    if args.action == "shutdown":
        return client.shutdown(where, "from the command line")
    if args.action == "pool_grow":
        return client.pool_grow(args.n, where)
    if args.action == "pool_shrink":
        return client.pool_shrink(args.n, where)
    if args.action == "autoscale":
        return client.autoscale(args.max, args.min, where)
    if args.action == "add_consumer":
        return client.add_consumer(args.queue, where)
    return client.cancel_consumer(args.queue, where)


def _ok(r: Any) -> str:
    return str(r.ok)


def _revoked(r: Any) -> str:
    return ", ".join(r.ids) or "no revoked jobs"


def _scheduled(r: Any) -> str:
    if not r.jobs:
        return "no scheduled jobs (delayed jobs wait in Kafka's delay tiers)"
    return "\n".join(
        [f"{len(r.jobs)} scheduled"] + [f"  {j.id} {j.task} eta {j.eta:.3f}" for j in r.jobs]
    )


def _ping(r: Any) -> str:
    about = f"pid {r.pid} on {r.hostname}, up {r.uptime_seconds:.0f} s"
    if r.healthy:
        return f"pong ({about})"
    return f"pong, UNHEALTHY for {r.problem_seconds:.0f} s: {r.problem} ({about})"


def _stats(r: Any) -> str:
    parts = ", ".join(
        f"{p.topic}[{p.partition}]" + (f" lag {p.lag}" if p.lag >= 0 else "") for p in r.partitions
    )
    limits = ", ".join(f"{t}={v}" for t, v in sorted(r.rate_limits.items())) or "none"
    return (
        f"{r.pool} x{r.concurrency}, in flight {r.in_flight}, "
        f"processed {r.processed} (ok {r.succeeded}, failed {r.failed}, retried {r.retried}); "
        f"queues {', '.join(r.queues)}; partitions {parts or 'none'}"
        + (f"; total lag {r.total_lag}" if r.total_lag >= 0 else "")
        + f"; rate limits {limits}"
    )


def _registered(r: Any) -> str:
    return ", ".join(r.tasks) or "no tasks"


def _queues(r: Any) -> str:
    return ", ".join(r.queues)


def _active(r: Any) -> str:
    return _jobs([j for j in r.jobs if j.started_at], "active")


def _reserved(r: Any) -> str:
    return _jobs([j for j in r.jobs if not j.started_at], "reserved")


def _jobs(jobs: list[Any], kind: str) -> str:
    if not jobs:
        return f"no {kind} jobs"
    lines = [f"{len(jobs)} {kind}"]
    for j in jobs:
        progress = (
            f" {j.progress.current:g}/{j.progress.total:g} {j.progress.message}"
            if j.progress.known
            else ""
        )
        lines.append(f"  {j.id} {j.task} attempt {j.attempt + 1} {j.state}{progress}")
    return "\n".join(lines)


def _revoke(r: Any) -> str:
    return f"revoked={r.revoked} held={r.held} terminated={r.terminated}" + (
        f" ({r.detail})" if r.detail else ""
    )
