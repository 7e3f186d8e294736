"""deploy/local/stack: the project's real services as local processes.

    deploy/local/stack up [SERVICE ...]      install if needed, start, wait healthy
    deploy/local/stack down [SERVICE ...]    stop what this stack started
    deploy/local/stack status [SERVICE ...]  probe each service (exit 1 if any is down)
    deploy/local/stack logs [SERVICE] [-n N] [-f]

Services: kafka, redis, rabbitmq, postgres, mongo (all when none is named;
mongo brings postgres, its storage, along), and prometheus, which only
starts when named (`up prometheus`; `scripts/run` does) and scrapes the web
server and the workers (its config: STACK_HOME/data/prometheus/prometheus.yml).
Kafka runs one KRaft node, or a cluster with `--kafka-brokers N` or
KAFKA_BROKERS=N (nodes kafka-1..kafka-N, each broker and controller, on
KAFKA_PORT + 2(i-1) and KAFKA_CONTROLLER_PORT + 2(i-1): 9092/9093,
9094/9095, 9096/9097 for three). `down`, `status` and `logs` find a running
cluster by themselves; `kafka` names all of its nodes.
State lives in STACK_HOME (default .stack/ in the repository, git-ignored);
downloads and builds in STACK_CACHE (default STACK_HOME/cache).
Ports: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), REDIS_PORT (6379),
RABBITMQ_PORT (5672), RABBITMQ_DIST_PORT (25672), RABBITMQ_EPMD_PORT (4369),
MONGO_PORT (27017), POSTGRES_PORT (5432), PROMETHEUS_PORT (9090); Prometheus
scrapes HTTP_PORT (8000), TASKQUEUE_METRICS_PORT (9808) and
TASKQUEUE_BEAT_METRICS_PORT (9809).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from config.environment import ConfigurationError, Environment  # noqa: E402

from .kafka import Kafka, kafka_nodes, running_cluster_size  # noqa: E402
from .mongo import Mongo  # noqa: E402
from .postgres import Postgres  # noqa: E402
from .prometheus import Prometheus  # noqa: E402
from .rabbitmq import RabbitMQ  # noqa: E402
from .redis import Redis  # noqa: E402
from .service import Layout, Service, StackError, say  # noqa: E402

ORDER = ("kafka", "redis", "rabbitmq", "postgres", "mongo", "prometheus")

OPTIONAL = ("prometheus",)
"""Started only when named: nothing needs them, and they cost memory."""

RULES = ROOT / "deploy" / "monitoring" / "rules"
"""The project's alert rules, which the local Prometheus loads when present."""

NEEDS = {"mongo": ("postgres",)}
"""Services another one cannot run without (FerretDB stores in PostgreSQL)."""


def stack_cache(env: Environment) -> Path:
    """Downloads and builds, shared by every STACK_HOME that names it."""
    return Path(os.environ.get("STACK_CACHE", str(env.stack_home / "cache")))


def build_services(env: Environment, kafka_brokers: int | None = None) -> dict[str, Service]:
    """Every service by name; a Kafka cluster's nodes are kafka-1..kafka-N.

    The cluster size is ``kafka_brokers`` (the command-line option), else
    KAFKA_BROKERS when set, else the size of the cluster running now, else 1.
    """
    layout = Layout(home=env.stack_home, cache=stack_cache(env))
    ports = env.ports
    epmd_port = int(os.environ.get("RABBITMQ_EPMD_PORT", "4369"))
    if kafka_brokers is None:
        explicit = "KAFKA_BROKERS" in os.environ
        kafka_brokers = env.kafka_brokers if explicit else running_cluster_size(layout) or 1
    nodes = kafka_nodes(layout, ports.kafka, ports.kafka_controller, kafka_brokers)
    return {
        **{node.name: node for node in nodes},
        "redis": Redis(layout, ports.redis),
        "rabbitmq": RabbitMQ(layout, ports.rabbitmq, ports.rabbitmq_dist, epmd_port),
        "postgres": (postgres := Postgres(layout, ports.postgres)),
        "mongo": Mongo(layout, ports.mongo, postgres.url),
        "prometheus": Prometheus(
            layout,
            int(os.environ.get("PROMETHEUS_PORT", "9090")),
            scrape_targets(),
            [RULES / "*.yaml"] if RULES.is_dir() else [],
        ),
    }


def scrape_targets() -> dict[str, list[str]]:
    """What the local Prometheus scrapes: the ports `scripts/run` uses."""
    web = os.environ.get("HTTP_PORT", "8000")
    worker = os.environ.get("TASKQUEUE_METRICS_PORT", "9808")
    beat = os.environ.get("TASKQUEUE_BEAT_METRICS_PORT", "9809")
    return {
        "taskqueue-web": [f"127.0.0.1:{web}"],
        "taskqueue-workers": [f"127.0.0.1:{worker}"],
        "taskqueue-beat": [f"127.0.0.1:{beat}"],
    }


def group(name: str) -> str:
    """The service a name belongs to: kafka-2 is a node of kafka."""
    return "kafka" if name.startswith("kafka-") else name


def select(services: dict[str, Service], names: list[str]) -> list[Service]:
    unknown = [n for n in names if n not in services and n not in ORDER]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    wanted = set(names or [kind for kind in ORDER if kind not in OPTIONAL])
    if not names:  # down, status and logs of "everything" include an optional one that runs
        wanted.update(kind for kind in OPTIONAL if services[kind].pid() is not None)
    wanted.update(need for name in list(wanted) for need in NEEDS.get(name, ()))
    return [
        service
        for kind in ORDER
        for name, service in services.items()
        if group(name) == kind and (name in wanted or kind in wanted)
    ]


def up(chosen: list[Service]) -> int:
    # Install and launch everything first, then wait: the services start in parallel.
    for service in chosen:
        service.launch()
    for service in chosen:
        service.wait_healthy()
    say("all requested services are up")
    return 0


def down(chosen: list[Service]) -> int:
    for node in chosen:
        if isinstance(node, Kafka) and node.nodes > 1:
            node.begin_stop()
    for service in reversed(chosen):
        if not service.stop():
            say(f"{service.name}: not running")
    return 0


def status(chosen: list[Service]) -> int:
    failures = 0
    print(f"{'service':<10} {'state':<12} {'pid':>7}  {'port':>5}  detail")
    for service in chosen:
        pid = service.pid()
        reason = service.healthy()
        if pid and not reason:
            state, detail = "running", service.describe()
        elif pid:
            state, detail = "unhealthy", f"{reason}; log {service.log_file}"
        elif not reason:
            state, detail = "foreign", "port answers, but not a process this stack started"
        else:
            state, detail = "stopped", f"log {service.log_file}"
        failures += state != "running"
        print(f"{service.name:<10} {state:<12} {pid or '-':>7}  {service.port:>5}  {detail}")
    return 1 if failures else 0


def logs(chosen: list[Service], lines: int, follow: bool) -> int:
    files = [str(s.log_file) for s in chosen if s.log_file.exists()]
    if not files:
        say("no logs yet")
        return 1
    argv = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + files
    return subprocess.call(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local/stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", required=True)
    parsers = {action: sub.add_parser(action) for action in ("up", "down", "status", "logs")}
    for action_parser in parsers.values():
        action_parser.add_argument("services", nargs="*", metavar="SERVICE")
        action_parser.add_argument(
            "--kafka-brokers",
            type=int,
            metavar="N",
            help="Kafka nodes (default: KAFKA_BROKERS, else the running cluster's size, else 1)",
        )
    log_parser = parsers["logs"]
    log_parser.add_argument("-n", type=int, default=50, help="lines per log (default 50)")
    log_parser.add_argument("-f", action="store_true", help="follow the logs")
    args = parser.parse_args(argv)
    try:
        services = build_services(Environment.from_env(), args.kafka_brokers)
        chosen = select(services, args.services)
        if args.action == "up":
            return up(chosen)
        if args.action == "down":
            return down(chosen)
        if args.action == "status":
            return status(chosen)
        return logs(chosen, args.n, args.f)
    except (StackError, ConfigurationError) as exc:
        print(f"[stack] error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
