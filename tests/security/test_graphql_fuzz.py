"""Random values for every argument of every GraphQL query and mutation.

Whatever arrives (wrong types, NaN and infinities, NUL and other control
characters, huge numbers, deep JSON, ids of other people's jobs), the API
answers with data or errors, never HTTP 500, and leaves no half-created
job: every row is either acknowledged by Kafka (``queued_at`` set, its
message in its queue's topic) or visibly not queued (FAILURE). Real Kafka,
Redis and Mongo; the examples are few per operation, to keep CI short, and
derandomized, so a failure reproduces.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.models import Job
from jobs.taskapp import QUEUES
from providers.registry import PROVIDERS
from taskqueue import TaskQueue

pytestmark = [pytest.mark.timeout(600), pytest.mark.django_db(transaction=True)]

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.text(max_size=40) | st.sampled_from(["", "\x00", "a\x00b", "\u202e", "' OR 1=1 --"])
numbers = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 1, 2**31, -(2**31) - 1, math.nan, math.inf, -math.inf])
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value, NaN and the infinities included (Python writes them)."""


def anything_or(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the argument's own type (so resolvers run), sometimes anything."""
    return typed | typed | json_values


KNOWN_IDS: list[str] = []
"""Ids of the jobs the running test made (Alice's and Bob's), drawn at run time."""

providers = st.sampled_from(sorted(PROVIDERS)) | texts
known_ids = st.integers(0, 100).map(lambda i: KNOWN_IDS[i % len(KNOWN_IDS)])
ids = known_ids | known_ids | st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | texts
job_input = st.fixed_dictionaries(
    {"provider": anything_or(providers)},
    optional={
        "params": st.just({})  # valid for "quote": some submissions reach Kafka
        | st.fixed_dictionaries({}, optional={"count": numbers, "symbol": texts})
        | json_values,
        "priority": anything_or(st.sampled_from(["HIGH", "DEFAULT", "LOW"])),
        "countdown": anything_or(numbers),
        "idempotencyKey": anything_or(texts),
    },
)

OPERATIONS: dict[str, tuple[str, st.SearchStrategy[dict[str, Any]]]] = {
    "job": (
        "query($id: ID!) { job(id: $id) { id state provider } }",
        st.fixed_dictionaries({"id": anything_or(ids)}),
    ),
    "jobs": (
        "query($state: JobState, $provider: String, $search: String, $first: Int,"
        " $after: String) { jobs(state: $state, provider: $provider, search: $search,"
        " first: $first, after: $after) { totalCount edges { node { id } } } }",
        st.fixed_dictionaries(
            {},
            optional={
                "state": anything_or(st.sampled_from(["PENDING", "SUCCESS", "FAILURE"])),
                "provider": anything_or(providers),
                "search": anything_or(texts),
                "first": anything_or(numbers),
                "after": anything_or(texts),
            },
        ),
    ),
    "stats": (
        "query($minutes: Int) { stats(minutes: $minutes) { total finishedPerMinute } }",
        st.fixed_dictionaries({}, optional={"minutes": anything_or(numbers)}),
    ),
    "jobProgress": (
        "query($id: ID!) { jobProgress(id: $id) { source state current } }",
        st.fixed_dictionaries({"id": anything_or(ids)}),
    ),
    "submitJob": (
        "mutation($input: SubmitJobInput!) { submitJob(input: $input)"
        " { job { id state } errors { field rule } } }",
        st.fixed_dictionaries({"input": anything_or(job_input)}),
    ),
    "submitJobs": (
        "mutation($input: SubmitJobsInput!) { submitJobs(input: $input)"
        " { jobs { id } errors { field rule } } }",
        st.fixed_dictionaries(
            {"input": anything_or(st.fixed_dictionaries({"jobs": st.lists(job_input, max_size=3)}))}
        ),
    ),
    "cancelJob": (
        "mutation($id: ID!) { cancelJob(id: $id) { cancelled errors { field rule } } }",
        st.fixed_dictionaries({"id": anything_or(ids)}),
    ),
    "retryJob": (
        "mutation($id: ID!) { retryJob(id: $id) { created errors { field rule } } }",
        st.fixed_dictionaries({"id": anything_or(ids)}),
    ),
    "login": (
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
        " { viewer { username } errors { field rule } } }",
        st.fixed_dictionaries({"u": anything_or(texts), "p": anything_or(texts)}),
    ),
}
"""Every query and mutation that takes arguments, with a strategy for them
(``providers``, ``workers``, ``viewer`` and ``logout`` take none)."""


def test_every_operation_with_arguments_is_fuzzed() -> None:
    """A new query or mutation argument must join the fuzzing."""
    from config.schema import schema

    graphql = schema.graphql_schema
    fields = {
        **graphql.query_type.fields,  # type: ignore[union-attr]
        **graphql.mutation_type.fields,  # type: ignore[union-attr]
    }
    with_arguments = {name for name, f in fields.items() if f.args}
    assert with_arguments == set(OPERATIONS)


@pytest.fixture
def signed_in(client: Any, alice: Any, bob: Any, jobs_app: TaskQueue) -> Iterator[Any]:
    """Alice's session, her failed job (retryable) and Bob's (out of her reach)."""
    made = [
        Job.objects.create(owner=who, provider="quote", params={}, state="FAILURE")
        for who in (alice, bob)
    ]
    KNOWN_IDS[:] = [str(job.pk) for job in made]
    client.force_login(alice)
    yield client
    KNOWN_IDS.clear()


def post(client: Any, query: str, variables: dict[str, Any]) -> Any:
    # json.dumps writes NaN and Infinity as bare words, as a careless client would.
    body = json.dumps({"query": query, "variables": variables})
    return client.post("/graphql", data=body, content_type="application/json")


def assert_no_half_created_jobs(app: TaskQueue, before: set[Any]) -> None:
    """Every row made since ``before`` is acknowledged by Kafka or visibly not queued."""
    made = Job.objects.exclude(pk__in=before)
    stranded = made.filter(queued_at__isnull=True).exclude(state="FAILURE")
    assert not stranded.exists(), list(stranded.values("id", "state", "error"))
    queued = {str(pk) for pk in made.filter(queued_at__isnull=False).values_list("pk", flat=True)}
    if not queued:
        return
    topics = [app.settings.topic(q) for q in QUEUES]
    consumer = app.transport.consumer(topics, f"fuzz-{uuid.uuid4().hex}", 10_000)
    seen: set[str] = set()
    try:
        for _ in range(300):  # bounded: at most a minute of polling
            seen |= {r.key.decode() for r in consumer.poll(500, 0.2) if r.key}
            if queued <= seen:
                break
    finally:
        consumer.close()
    assert queued <= seen, f"rows marked queued with no message: {sorted(queued - seen)}"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_random_arguments_never_cause_a_500_nor_a_half_created_job(
    signed_in: Any, jobs_app: TaskQueue, alice: Any, operation: str
) -> None:
    query, arguments = OPERATIONS[operation]
    statuses: list[int] = []
    before = set(Job.objects.values_list("pk", flat=True))

    @EXAMPLES
    @given(variables=arguments)
    def check(variables: dict[str, Any]) -> None:
        signed_in.force_login(alice)  # a fuzzed login may have changed the session
        response = post(signed_in, query, variables)
        statuses.append(response.status_code)
        assert response.status_code < 500, (variables, response.content[:500])
        body = response.json()
        assert "data" in body or "errors" in body, body
        for error in body.get("errors") or []:
            assert "Traceback" not in error.get("message", ""), error

    check()
    assert statuses, "no example ran"
    assert_no_half_created_jobs(jobs_app, before)
