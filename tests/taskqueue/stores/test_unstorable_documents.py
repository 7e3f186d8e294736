"""Documents a result store refuses: one bad job never blocks the others.

Both stores: the memory twin in the fast tier, MongoDB (or the local
stack's Mongo-wire server) in the full suite.
"""

from __future__ import annotations

import pytest

from taskqueue.states import FAILURE, SUCCESS
from taskqueue.stores.result_documents import UNSTORABLE_EXC_TYPE
from taskqueue.stores.results import MAX_DOCUMENT_BYTES, PERMANENT, ResultStore, create_result_store

from .test_result_store import ended


def test_values_json_can_hold_are_kept_beside_good_documents(store: ResultStore) -> None:
    docs = [
        ended("ok1", SUCCESS, result=1),
        ended("wide", SUCCESS, result=2**64),
        ended("keys", SUCCESS, result={"$x": {"a.b": 1}}),
        ended("ok2", SUCCESS, result=2),
    ]
    report = store.write_checked(docs)
    assert report.failed == {} and report.retry == []
    assert [store.get(i)["result"] for i in ("ok1", "wide", "keys", "ok2")] == [  # type: ignore[index]
        1,
        2**64,
        {"$x": {"a.b": 1}},
        2,
    ]


@pytest.mark.fast
def test_a_document_over_16_mib_becomes_a_failure_naming_why(unique_name: str) -> None:
    """MongoDB refuses documents over 16 MiB; the memory twin does the same.
    Memory only: the local stack's FerretDB accepts larger documents in a
    bulk insert (pymongo checks the size of single inserts only), so the
    real-service run has no such fault to show."""
    store = create_result_store("memory://", unique_name)
    big = "x" * (MAX_DOCUMENT_BYTES + 1024 * 1024)
    report = store.write_checked(
        [ended("ok", SUCCESS, result=1), ended("big", SUCCESS, result=big)]
    )
    assert list(report.failed) == ["big"]
    doc = store.get("big")
    assert doc is not None and doc["state"] == FAILURE and doc["final"] is True
    assert doc["error"]["exc_type"] == UNSTORABLE_EXC_TYPE
    assert "result not storable" in doc["error"]["exc_message"]
    assert len(doc["error"]["exc_message"]) < 500
    assert doc["result"] is None
    assert store.get("ok")["result"] == 1  # type: ignore[index]


def test_a_refused_redelivery_never_replaces_a_stored_result(store: ResultStore) -> None:
    store.write([ended("j", SUCCESS, result="first")])
    big = "x" * (MAX_DOCUMENT_BYTES + 1024 * 1024)
    store.write_checked([ended("j", SUCCESS, 1, result=big)])
    assert store.get("j")["result"] == "first"  # type: ignore[index]


def test_values_the_client_cannot_encode_are_permanent(store: ResultStore) -> None:
    assert store.classify(OverflowError("MongoDB can only handle up to 8-byte ints")) == PERMANENT
