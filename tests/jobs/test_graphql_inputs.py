"""Every bad-input rule of the GraphQL API, through Django's test client.

Nothing here needs a worker: refused input never reaches Kafka, and every
refusal names the field and the rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db

SUBMIT = """
mutation($input: SubmitJobInput!) {
  submitJob(input: $input) { job { id state } created errors { field rule message } }
}"""


def _submit(gql: Any, **input_: Any) -> dict[str, Any]:
    body = gql(SUBMIT, {"input": input_})
    assert "errors" not in body, body
    return body["data"]["submitJob"]


def test_anonymous_requests_are_refused_clearly(gql: Any) -> None:
    body = gql("{ jobs { totalCount } }")
    assert body["errors"][0]["message"].startswith("authentication required")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert gql("{ viewer { username } }")["data"]["viewer"] is None
    body = gql(SUBMIT, {"input": {"provider": "quote", "params": {}}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("input_", "field", "rule"),
    [
        ({"provider": "nope", "params": {}}, "provider", "choices"),
        ({"provider": "quote", "params": {"count": 500}}, "params.count", "maximum"),
        ({"provider": "quote", "params": {"count": "3"}}, "params.count", "type"),
        ({"provider": "quote", "params": {"colour": "red"}}, "params.colour", "unknown"),
        ({"provider": "github", "params": {}}, "params.repo", "required"),
        (
            {"provider": "weather", "params": {"places": [{"latitude": 91, "longitude": 0}]}},
            "params.places[0].latitude",
            "maximum",
        ),
        ({"provider": "quote", "params": {"author": "x" * 5000}}, "params", "size"),
        ({"provider": "quote", "params": {}, "countdown": -1}, "countdown", "minimum"),
        ({"provider": "quote", "params": {}, "countdown": 1e9}, "countdown", "maximum"),
        (
            {"provider": "quote", "params": {}, "idempotencyKey": "k" * 300},
            "idempotencyKey",
            "max_length",
        ),
        (
            {"provider": "quote", "params": {}, "idempotencyKey": "order\x00-1"},
            "idempotencyKey",
            "pattern",
        ),
    ],
)
def test_bad_submission_names_field_and_rule_and_creates_nothing(
    gql: Any, client: Any, alice: Any, input_: dict[str, Any], field: str, rule: str
) -> None:
    client.force_login(alice)
    payload = _submit(gql, **input_)
    assert payload["job"] is None
    assert {(e["field"], e["rule"]) for e in payload["errors"]} >= {(field, rule)}, payload
    assert all(e["message"] for e in payload["errors"])
    assert not Job.objects.exists()


def test_wrong_graphql_type_is_a_validation_error(gql: Any, client: Any, alice: Any) -> None:
    client.force_login(alice)
    body = gql(SUBMIT, {"input": {"provider": "quote", "priority": "URGENT"}})
    assert "priority" in body["errors"][0]["message"]
    assert not Job.objects.exists()


def test_unknown_and_malformed_job_ids(gql: Any, client: Any, alice: Any) -> None:
    client.force_login(alice)
    body = gql('{ job(id: "6f1e2d3c-0000-4000-8000-000000000000") { id } }')
    ext = body["errors"][0]["extensions"]
    assert (ext["field"], ext["rule"]) == ("id", "not_found")
    body = gql('{ job(id: "not-a-uuid") { id } }')
    assert body["errors"][0]["extensions"]["rule"] == "format"
    body = gql('mutation { cancelJob(id: "not-a-uuid") { errors { field rule } } }')
    assert body["data"]["cancelJob"]["errors"] == [{"field": "id", "rule": "format"}]


@pytest.mark.parametrize(
    ("args", "field", "rule"),
    [
        ("first: 101", "first", "maximum"),
        ("first: 0", "first", "minimum"),
        ('after: "garbage"', "after", "cursor"),
        ('provider: "nope"', "provider", "choices"),
    ],
)
def test_bad_list_arguments(
    gql: Any, client: Any, alice: Any, args: str, field: str, rule: str
) -> None:
    client.force_login(alice)
    body = gql(f"{{ jobs({args}) {{ totalCount }} }}")
    ext = body["errors"][0]["extensions"]
    assert (ext["field"], ext["rule"]) == (field, rule), body


def test_depth_cost_and_size_limits(gql: Any, client: Any, alice: Any) -> None:
    client.force_login(alice)
    deep = "{ jobs { edges { node { " + "retryOf { " * 12 + "id" + " }" * 15 + " }"
    assert "exceeds maximum operation depth" in gql(deep)["errors"][0]["message"]
    fields = " ".join(f"a{i}: result" for i in range(20))
    costly = f"{{ jobs(first: 100) {{ edges {{ node {{ {fields} }} }} }} }}"
    error = gql(costly)["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    huge = "{ viewer { " + "username " * 5000 + "} }"
    assert gql(huge)["errors"][0]["extensions"]["code"] == "TOO_LARGE"


def test_bulk_refuses_all_when_one_is_bad(gql: Any, client: Any, alice: Any) -> None:
    client.force_login(alice)
    body = gql(
        """mutation($input: SubmitJobsInput!) {
             submitJobs(input: $input) { jobs { id } errors { field rule } } }""",
        {
            "input": {
                "jobs": [
                    {"provider": "quote", "params": {}},
                    {"provider": "quote", "params": {"count": 0}},
                ]
            }
        },
    )
    payload = body["data"]["submitJobs"]
    assert payload["jobs"] == []
    assert payload["errors"] == [{"field": "jobs[1].params.count", "rule": "minimum"}]
    assert not Job.objects.exists()


@pytest.mark.parametrize("query", [5, ["{ viewer { username } }"], {"a": 1}, True])
def test_a_query_that_is_not_text_is_refused_by_name(client: Any, query: Any) -> None:
    response = client.post(
        "/graphql", data=json.dumps({"query": query}), content_type="application/json"
    )
    assert response.status_code == 400, response.content[:300]
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("query must be a string of GraphQL")
