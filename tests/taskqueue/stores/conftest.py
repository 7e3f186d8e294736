"""The result store under test: the memory twin (fast tier) and MongoDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskqueue.stores.results import ResultStore, create_result_store


@pytest.fixture(params=[pytest.param("memory", marks=pytest.mark.fast), "mongo"])
def store(request: pytest.FixtureRequest, unique_name: str) -> Iterator[ResultStore]:
    # Only the Mongo case asks for the service: fast cases need none.
    url = "memory://" if request.param == "memory" else request.getfixturevalue("mongo_url")
    result_store = create_result_store(url, unique_name)
    yield result_store
    result_store.drop()
    result_store.close()
