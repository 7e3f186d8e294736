"""Prometheus metrics of the GraphQL API, next to django-prometheus's.

django-prometheus counts requests by view and status, and every GraphQL
call is the one ``/graphql`` view: these say which operation was asked and
how long it took (``graphql_operations_total`` and
``graphql_operation_duration_seconds``, by ``operation`` and ``type``), and
how many subscriptions are open over websockets (``graphql_subscriptions_open``).
They live in prometheus_client's default registry, which django-prometheus
serves at ``/metrics``. The names are agreed with the alert rules and
dashboards (docs/taskqueue.md, "Metrics").

``operation`` is the operation's name, or ``anonymous``. Clients choose
names, so a label value is only ever a name of an operation present in the
document, and past :data:`MAX_OPERATION_NAMES` distinct names new ones count
as ``other``: a client inventing names cannot grow the series without bound.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from graphql import GraphQLError, OperationDefinitionNode, get_operation_ast, parse
from prometheus_client import Counter, Gauge, Histogram

from jobs.api.limits import MAX_BODY_BYTES, MAX_QUERY_CHARS

GRAPHQL_URL_NAME = "graphql"
"""The URL name of the GraphQL view (the project's urls.py)."""

MAX_OPERATION_NAMES = 200
"""Distinct ``operation`` label values; later names count as ``other``."""

ANONYMOUS = "anonymous"
OTHER = "other"

OPERATIONS = Counter(
    "graphql_operations",
    "GraphQL operations received (HTTP and websocket subscriptions).",
    ["operation", "type"],
)
DURATION = Histogram(
    "graphql_operation_duration_seconds",
    "Seconds from request to response of GraphQL operations over HTTP.",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SUBSCRIPTIONS_OPEN = Gauge(
    "graphql_subscriptions_open", "GraphQL subscriptions streaming over websockets now."
)

_names: set[str] = set()
_names_lock = threading.Lock()


def _bounded(name: str) -> str:
    with _names_lock:
        if name in _names:
            return name
        if len(_names) < MAX_OPERATION_NAMES:
            _names.add(name)
            return name
    return OTHER


def labels_of(operation: OperationDefinitionNode) -> tuple[str, str]:
    """The (operation, type) label values of a parsed operation."""
    name = operation.name.value if operation.name else ANONYMOUS
    return _bounded(name), operation.operation.value


@lru_cache(maxsize=512)
def _operation(query: str, name: str | None) -> tuple[str, str] | None:
    """Labels of the operation ``name`` selects in ``query``; None if none does.

    Cached: clients send the same few documents, and the view parses each
    request again anyway."""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, name)
    return None if operation is None else labels_of(operation)


def _params(request: HttpRequest) -> tuple[str | None, str | None]:
    """(query, operationName) of a GraphQL request, as graphene-django reads them."""
    if request.method == "GET":
        return request.GET.get("query"), request.GET.get("operationName")
    if int(request.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
        return None, None
    content_type = request.content_type
    try:
        if content_type == "application/json":
            data = json.loads(request.body or b"{}")
        elif content_type == "application/graphql":
            return request.body.decode(errors="replace"), None
        else:
            data = request.POST
    except Exception:  # unreadable body: the view answered it already
        return None, None
    if not hasattr(data, "get"):
        return None, None  # a batch or junk: not one operation
    query, name = data.get("query"), data.get("operationName")
    return (query if isinstance(query, str) else None), (name if isinstance(name, str) else None)


def operation_of(request: HttpRequest) -> tuple[str, str] | None:
    """The (operation, type) labels of a GraphQL request, or None if it
    carries no operation that parses (the view answered it with an error)."""
    query, name = _params(request)
    if not query or len(query) > MAX_QUERY_CHARS:
        return None
    return _operation(query, name or None)


class GraphQLMetricsMiddleware:
    """Django middleware: counts and times each GraphQL request by operation."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._observe(request, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        call: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await call(request)
        self._observe(request, started)
        return response

    @staticmethod
    def _observe(request: HttpRequest, started: float) -> None:
        match = getattr(request, "resolver_match", None)  # set once the URL resolved
        if match is None or match.url_name != GRAPHQL_URL_NAME:
            return
        labels = operation_of(request)
        if labels is not None:
            OPERATIONS.labels(*labels).inc()
            DURATION.labels(*labels).observe(time.perf_counter() - started)


def subscription_opened(operation: OperationDefinitionNode) -> Callable[[], None]:
    """Count a websocket subscription and hold it in the open gauge; the
    returned function, called once when the stream ends, lets go of it."""
    OPERATIONS.labels(*labels_of(operation)).inc()
    SUBSCRIPTIONS_OPEN.inc()
    return SUBSCRIPTIONS_OPEN.dec
