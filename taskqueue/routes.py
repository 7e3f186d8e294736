"""``task_routes``: which queue a task's jobs go to, by name (Celery's setting).

    task_routes = {
        "feed.tasks.import_feed": {"queue": "feeds"},
        "video.*": "media",                      # a glob, or a re.Pattern
        re.compile(r"(image|audio)\\.tasks\\..*"): {"queue": "media"},
    }

A list of such dicts is read in order, the first match winning. An exact
name wins over patterns, as in Celery. The queue of a job is, first match
first: ``apply_async(queue=)``, the task's own ``queue`` (decorator or
class), the route, then ``default_queue`` (Celery's ``task_default_queue``).

Kafka has no exchanges or AMQP routing keys, so a route names a queue and
nothing else; function routers are refused too: the queue of a task is
fixed when it is registered, so workers know which topics to consume
(``app.queues()``) without running user code per message.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import config_rules as r

if TYPE_CHECKING:
    from .app import TaskQueue

Pattern = str | re.Pattern[str]

_queue_name = r.kafka_name(empty_ok=False)


def task_routes(value: Any) -> dict[Pattern, str]:
    """The rule of the ``task_routes`` setting: a dict (or a list of dicts,
    first wins) of task name or pattern -> queue name or ``{"queue": name}``."""
    if isinstance(value, str):
        value = r.to_object(value) if value.strip() else {}
    maps = [value] if isinstance(value, Mapping) else value
    if not isinstance(maps, Sequence):
        raise ValueError("expected a dict of task name -> queue, or a list of such dicts")
    routes: dict[Pattern, str] = {}
    for one in maps:
        if not isinstance(one, Mapping):
            raise ValueError(
                f"router {one!r} is not a dict: function routers are not supported "
                "(a task's queue is fixed when it is registered)"
            )
        for pattern, route in one.items():
            if not isinstance(pattern, str | re.Pattern):
                raise ValueError(f"route key {pattern!r} is not a task name, glob or re.Pattern")
            routes.setdefault(pattern, _route_queue(pattern, route))
    return routes


def _route_queue(pattern: Pattern, route: Any) -> str:
    if isinstance(route, Mapping):
        extra = set(route) - {"queue"}
        if extra:
            raise ValueError(
                f"route of {pattern!r} has {', '.join(sorted(extra))}: Kafka has no "
                "exchanges or AMQP routing keys; a route names a queue only "
                "(per-key ordering is apply_async(routing_key=))"
            )
        route = route.get("queue")
    try:
        return str(_queue_name(route))
    except ValueError as exc:
        raise ValueError(f"route of {pattern!r}: queue {route!r} {exc}") from None


def routed_queue(routes: Mapping[Pattern, str], name: str) -> str | None:
    """The queue ``routes`` give task ``name``: its exact entry, else the first
    matching pattern; None when no route applies."""
    if name in routes:
        return routes[name]
    for pattern, queue in routes.items():
        if isinstance(pattern, re.Pattern):
            if pattern.match(name):
                return queue
        elif any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return queue
    return None


def task_queue(app: TaskQueue, name: str, declared: str | None) -> str:
    """The queue of task ``name``: its declared queue, its route, or the default."""
    s = app.settings
    return declared or routed_queue(s.task_routes, name) or s.default_queue


def reroute(app: TaskQueue) -> None:
    """Give registered tasks without a declared queue the queue the current
    ``task_routes`` and ``default_queue`` give them (after ``app.conf`` changed)."""
    for task in app.tasks.values():
        if hasattr(task, "declared_queue"):
            task.queue = task_queue(app, task.name, task.declared_queue)
