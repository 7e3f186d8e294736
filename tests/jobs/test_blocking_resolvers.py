"""Which GraphQL fields wait on I/O is read from the resolvers' ``@blocking`` marks.

The websocket consumer resolves subscription events on the event loop unless
the selection reaches a blocking resolver; these tests pin which selections
go to a thread, so live progress stays on the loop and a Mongo read never does.
"""

from __future__ import annotations

import pytest
from graphene_django.settings import graphene_settings
from graphql import GraphQLSchema, parse

from jobs.api.blocking import blocking, blocking_fields, needs_thread

pytestmark = pytest.mark.fast


def schema() -> GraphQLSchema:
    return graphene_settings.SCHEMA.graphql_schema


def test_result_store_and_database_fields_are_declared_blocking() -> None:
    marked = blocking_fields(schema())
    assert marked[("Job", "result")] == {"mongo"}
    assert marked[("Job", "attemptHistory")] == {"mongo"}
    assert {"db"} <= marked[("Job", "retryOf")]
    assert {"rabbitmq"} <= marked[("Query", "jobProgress")]
    # Read from the JobView the event already carries: never blocking.
    for field in ("state", "progress", "worker", "provider", "owner", "attempts"):
        assert ("Job", field) not in marked, field


def test_live_progress_selection_stays_on_the_loop() -> None:
    document = parse(
        "subscription { jobUpdated(id: 1) { id state attempts progress { percent message } } }"
    )
    assert not needs_thread(schema(), document)


@pytest.mark.parametrize(
    "selection",
    [
        "jobUpdated(id: 1) { state result }",
        "jobEvents { ...F } } fragment F on Job { traceback",
        "jobUpdated(id: 1) { retryOf { id } }",
    ],
)
def test_a_blocking_field_anywhere_sends_the_operation_to_a_thread(selection: str) -> None:
    assert needs_thread(schema(), parse(f"subscription {{ {selection} }}"))


def test_only_a_field_of_the_marked_type_counts() -> None:
    # Query.jobs reads the database; SubmitJobsPayload.jobs is the mutation's answer.
    assert needs_thread(schema(), parse("{ jobs { totalCount } }"))
    payload = "mutation { submitJobs(input: {jobs: []}) { jobs { id } } }"
    assert not needs_thread(schema(), parse(payload))
    assert not needs_thread(schema(), parse("{ viewer { id } }"))


def test_a_misspelt_service_is_refused() -> None:
    with pytest.raises(ValueError, match="mogno"):
        blocking("mogno")
    with pytest.raises(ValueError, match="nothing"):
        blocking()
