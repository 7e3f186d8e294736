"""Concurrent submissions through /graphql on a real daphne (real Kafka,
Redis and database): every answered submission is stored and acknowledged
by Kafka, and the answer shows it accepted, without reading the row back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.models import ApiToken, Job
from tests.support.servers import daphne

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SUBMIT = (
    "mutation($input: SubmitJobInput!) { submitJob(input: $input) "
    "{ job { id state queuedAt } created errors { field message } } }"
)
SUBMIT_MANY = (
    "mutation($input: SubmitJobsInput!) { submitJobs(input: $input) "
    "{ jobs { id queuedAt } errors { field message } } }"
)
JOB = {"provider": "weather", "params": {"places": [{"name": "Oslo"}]}}


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with daphne(subprocess_env, tmp_path / "daphne.log") as port:
        yield f"http://127.0.0.1:{port}"


async def _post_all(base: str, token: str, bodies: list[dict[str, Any]], clients: int) -> list[Any]:
    """Send ``bodies`` from ``clients`` concurrent connections; the JSON answers."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    answers: list[Any] = []

    async def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            while not queue.empty():
                body = queue.get_nowait()
                answer = await http.post("/graphql", json=body)
                assert answer.status_code == 200, answer.text[:500]
                answers.append(answer.json())

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


def test_sixteen_concurrent_clients_get_every_job_accepted(
    server: str, alice: Any, jobs_app: Any
) -> None:
    _, token = ApiToken.issue(alice)
    bodies = [{"query": SUBMIT, "variables": {"input": JOB}} for _ in range(64)]
    answers = asyncio.run(_post_all(server, token, bodies, 16))
    payloads = [a["data"]["submitJob"] for a in answers]
    assert all(p["errors"] == [] and p["created"] for p in payloads)
    jobs = [p["job"] for p in payloads]
    assert all(j["state"] == "PENDING" and j["queuedAt"] for j in jobs)
    ids = {j["id"] for j in jobs}
    assert len(ids) == 64
    # queued_at is written only after Kafka's acknowledgment.
    stored = Job.objects.filter(pk__in=ids, queued_at__isnull=False).count()
    assert stored == 64


def test_concurrent_bulk_submissions_are_all_accepted(
    server: str, alice: Any, jobs_app: Any
) -> None:
    _, token = ApiToken.issue(alice)
    body = {"query": SUBMIT_MANY, "variables": {"input": {"jobs": [JOB] * 5}}}
    answers = asyncio.run(_post_all(server, token, [body] * 16, 8))
    jobs = [j for a in answers for j in a["data"]["submitJobs"]["jobs"]]
    assert len({j["id"] for j in jobs}) == 80 and all(j["queuedAt"] for j in jobs)
    assert Job.objects.filter(queued_at__isnull=False).count() == 80
