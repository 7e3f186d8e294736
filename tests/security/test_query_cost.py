"""What one GraphQL operation may cost (issue 17, item 4): I/O is priced
(``workers``, ``jobProgress``, ``totalCount``, search), aliases are capped,
and the ``workers`` answer is shared between callers for a few seconds.

The pricing is checked on the validation rules alone (fast), then the same
refusals on the real ``/graphql`` endpoint and on the websocket, and the
shared answer against heartbeats in the real Redis.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from graphql import parse, validate

from config.schema import schema
from jobs.api import limits
from jobs.api.operation_rules import validation_rules
from jobs.api.shared_cache import SharedAnswer
from jobs.models import ApiToken
from taskqueue import TaskQueue
from taskqueue.stores.state import WorkerHeartbeat
from tests.progress.conftest import receive, run, send
from tests.security.test_websocket_handshake import communicator, init


def codes(query: str) -> list[str]:
    errors = validate(schema.graphql_schema, parse(query), validation_rules())
    return [e.extensions.get("code", "") if e.extensions else "" for e in errors]


def cost(query: str) -> int:
    operation = parse(query).definitions[0]
    return limits._cost(operation.selection_set, {}, 1, frozenset())  # type: ignore[attr-defined]


def aliased(field: str, n: int) -> str:
    return "{ " + " ".join(f"a{i}: {field}" for i in range(n)) + " }"


# --- the price list (validation only) -----------------------------------------


@pytest.mark.fast
def test_remote_calls_are_priced_so_few_fit_in_one_operation() -> None:
    fit = limits.MAX_COST // limits.REMOTE_CALL
    assert fit <= 10, "each costs a call to every worker, or a wait on RabbitMQ"
    for field in ("workers { name }", 'jobProgress(id: "x") { state }'):
        assert codes(aliased(field, fit - 1)) == []
        assert "QUERY_TOO_COSTLY" in codes(aliased(field, fit + 1))


@pytest.mark.fast
def test_total_count_is_priced_once_per_page_and_search_adds_a_scan() -> None:
    page = "{ jobs(first: 100) { totalCount pageInfo { hasNextPage } } }"
    searched = '{ jobs(first: 100, search: "x") { totalCount pageInfo { hasNextPage } } }'
    plain = "{ jobs(first: 100) { pageInfo { hasNextPage } } }"
    assert cost(page) - cost(plain) == limits.COUNT, "not multiplied by the page size"
    assert cost(searched) - cost(page) == limits.SCAN
    assert cost("query($s: String) { jobs(search: $s) { totalCount } }") == cost(
        '{ jobs(search: "x") { totalCount } }'
    ), "a variable may hold a search"
    assert cost("{ jobs(search: null) { totalCount } }") == cost("{ jobs { totalCount } }")


@pytest.mark.fast
def test_fields_under_edges_are_multiplied_by_the_page_size() -> None:
    one = "{ jobs(first: 1) { edges { node { result } } } }"
    hundred = "{ jobs(first: 100) { edges { node { result } } } }"
    assert cost(hundred) - cost(one) == 99 * (1 + limits.READ)  # node and result, per item


@pytest.mark.fast
def test_aliases_are_capped_per_operation_fragments_included() -> None:
    assert codes(aliased("viewer { id }", limits.MAX_ALIASES)) == []
    assert codes(aliased("viewer { id }", limits.MAX_ALIASES + 1)) == ["TOO_MANY_ALIASES"]
    half = limits.MAX_ALIASES // 2 + 1
    hidden = (
        "{ ...A ...B } "
        f"fragment A on Query {{ {' '.join(f'a{i}: viewer {{ id }}' for i in range(half))} }} "
        f"fragment B on Query {{ {' '.join(f'b{i}: viewer {{ id }}' for i in range(half))} }}"
    )
    assert codes(hidden) == ["TOO_MANY_ALIASES"]


@pytest.mark.fast
def test_the_shared_answer_is_computed_once_for_concurrent_callers() -> None:
    answer: SharedAnswer[int] = SharedAnswer(lambda: 60.0)
    computed: list[int] = []
    release = threading.Event()

    def compute() -> int:
        computed.append(1)
        release.wait(10)
        return len(computed)

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(answer.get("k", compute))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    assert results == [1] * 8 and computed == [1]


@pytest.mark.fast
def test_a_failed_computation_is_not_kept() -> None:
    answer: SharedAnswer[str] = SharedAnswer(lambda: 60.0)

    def broken() -> str:
        raise ConnectionError("worker unreachable")

    with pytest.raises(ConnectionError):
        answer.get("k", broken)
    assert answer.get("k", lambda: "fresh") == "fresh"


# --- on the real endpoint ------------------------------------------------------


@pytest.mark.django_db
def test_costly_and_aliased_operations_are_refused_on_http(
    gql: Any, client: Any, alice: Any
) -> None:
    client.force_login(alice)
    body = gql(aliased('jobProgress(id: "x") { state }', 11))
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY", body
    assert "data" not in body or body["data"] is None, "nothing ran"
    body = gql(aliased("viewer { id }", limits.MAX_ALIASES + 1))
    ext = body["errors"][0]["extensions"]
    assert (ext["code"], ext["limit"]) == ("TOO_MANY_ALIASES", limits.MAX_ALIASES)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_url")
def test_the_same_limits_apply_on_the_websocket(alice: Any) -> None:
    _, token = ApiToken.issue(alice)

    async def body() -> dict[str, Any]:
        ws = communicator(origin=None)
        await init(ws, token)
        assert await receive(ws) == {"type": "connection_ack"}
        await send(ws, "subscribe", id="w", payload={"query": aliased("workers { name }", 11)})
        message = await receive(ws)
        await ws.disconnect()
        return message

    message = run(body())
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


@pytest.mark.django_db
def test_workers_answer_is_shared_for_its_ttl(
    gql: Any, client: Any, alice: Any, bob: Any, jobs_app: TaskQueue, settings: Any
) -> None:
    """A worker that appears within the ttl is not seen until the answer ages
    out: everyone, whoever asks, got the one answer (set to a minute here,
    so the test does not race the clock; 0 turns sharing off)."""
    settings.WORKERS_CACHE_SECONDS = 60
    state = jobs_app.state_backend
    query = "{ workers { name } }"
    names = lambda body: sorted(w["name"] for w in body["data"]["workers"])  # noqa: E731
    state.announce_worker("first", WorkerHeartbeat(queues="default"), ttl=60)
    try:
        client.force_login(alice)
        assert names(gql(query)) == ["first"]
        state.announce_worker("second", WorkerHeartbeat(queues="default"), ttl=60)
        client.force_login(bob)
        assert names(gql(query)) == ["first"], "bob got alice's answer, no new calls"
        settings.WORKERS_CACHE_SECONDS = 0
        assert names(gql(query)) == ["first", "second"]
    finally:
        state.remove_worker("first")
        state.remove_worker("second")
