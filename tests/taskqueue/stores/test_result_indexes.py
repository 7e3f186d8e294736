"""Lookups by job id are answered from an index on the real Mongo-wire server.

Every read and write of the result store goes by ``_id`` (``AsyncResult.get``,
the redelivery check, the conditional upsert of a duplicate), so a server
that scans for them slows down with every job ever run. ``mongod`` always
indexes ``_id``; FerretDB indexes it too, but its PostgreSQL backend filters
with jsonb containment, which only the GIN index the local stack adds
answers. The query plan, not a timing, is the proof.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taskqueue.stores.results_mongo import COLLECTION, MongoResultStore
from tests.taskqueue.stores.test_result_store import ended

STORED = 2000
"""Documents stored first: enough that a scan costs the planner more than an index."""


@pytest.fixture
def mongo_store(mongo_url: str, unique_name: str) -> Iterator[MongoResultStore]:
    store = MongoResultStore(mongo_url, unique_name)
    yield store
    store.drop()
    store.close()


def _stages(plan: Any) -> Iterator[str]:
    """Every stage (mongod) or node type (FerretDB's PostgreSQL plan) of a plan tree."""
    if isinstance(plan, dict):
        for key in ("stage", "Node Type"):
            if isinstance(plan.get(key), str):
                yield plan[key]
        for value in plan.values():
            yield from _stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _stages(value)


def _plan_of_find(store: MongoResultStore, job_id: str) -> tuple[list[str], dict[str, Any]]:
    explained = store.collection.database.command(
        "explain", {"find": COLLECTION, "filter": {"_id": job_id}}
    )
    return list(_stages(explained["queryPlanner"])), explained


@pytest.mark.parametrize("stored", [True, False], ids=["hit", "miss"])
def test_a_lookup_by_job_id_uses_an_index(mongo_store: MongoResultStore, stored: bool) -> None:
    mongo_store.write([ended(f"job-{i}", "SUCCESS", result=i) for i in range(STORED)])
    assert "_id_" in mongo_store.collection.index_information()

    job_id = f"job-{STORED // 2}" if stored else "job-never-stored"
    stages, explained = _plan_of_find(mongo_store, job_id)

    if "ferretdbVersion" in explained.get("serverInfo", {}):
        assert explained["filterPushdown"] is True, explained
        assert any("Index" in stage for stage in stages), f"scans: {stages}"
        assert "Seq Scan" not in stages, f"scans: {stages}"
    else:
        assert any(("IDHACK" in s or "IXSCAN" in s or "EXPRESS" in s) for s in stages), stages
        assert "COLLSCAN" not in stages, stages
    assert (mongo_store.get(job_id) is not None) is stored
