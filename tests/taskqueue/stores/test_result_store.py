"""The result store contract, held by the MongoDB store and its in-memory twin.

Every case runs against both: the memory one in the fast tier (no
services), the Mongo one against the local stack's server. If they ever
disagree, the fast tier would prove things the real system does not do.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import TaskQueue
from taskqueue.message import Message
from taskqueue.states import FAILURE, RETRY, REVOKED, SUCCESS
from taskqueue.stores.result_documents import attempt_entry, outcome_document, revoked_error
from taskqueue.stores.results import ResultStore, create_result_store
from taskqueue.stores.results_mongo import MongoResultStore
from taskqueue.worker.execute import Outcome


def ended(
    job_id: str,
    state: str,
    retries: int = 0,
    result: Any = None,
    args: tuple[Any, ...] = (1, 2),
    worker: str = "w1",
    redelivered: bool = False,
) -> dict[str, Any]:
    """The document a worker stores when attempt ``retries`` ends in ``state``."""
    message = Message(id=job_id, task="t.add", args=args, kwargs={"k": 1}, retries=retries)
    error = None if state == SUCCESS else {"exc_type": "Boom", "exc_message": state}
    outcome = Outcome(state, result=result, error=error, started_at=10.0, finished_at=10.5)
    attempt = attempt_entry(
        outcome,
        worker=worker,
        received_at=9.0,
        redelivered=redelivered,
        partition=1,
        offset=retries,
    )
    return outcome_document(message, outcome, worker=worker, attempt=attempt)


def test_recorded_result_is_read_back_after_a_flush(store: ResultStore) -> None:
    store.record(ended("j1", SUCCESS, result={"answer": 42}))
    assert len(store) == 1 and store.get("j1") is None, "buffered, not written yet"
    assert store.flush() == 1
    doc = store.get("j1")
    assert doc is not None
    assert doc["state"] == SUCCESS and doc["final"] is True and doc["date_done"]
    assert doc["result"] == {"answer": 42}
    assert doc["args"] == [1, 2] and doc["kwargs"] == {"k": 1}
    assert doc["attempts"]["0"]["runtime"] == pytest.approx(0.5)
    assert store.get("unknown") is None


def test_a_failed_write_is_put_back_ahead_of_newer_documents(store: ResultStore) -> None:
    store.record(ended("j1", SUCCESS))
    taken = store.take()
    store.record(ended("j2", SUCCESS))
    store.put_back(taken)
    assert [d["_id"] for d in store.take()] == ["j1", "j2"]


def test_attempts_are_merged_into_one_history(store: ResultStore) -> None:
    store.write([ended("j1", RETRY, 0)])
    retrying = store.get("j1")
    assert retrying is not None and retrying["state"] == RETRY
    assert "final" not in retrying or retrying["final"] is False
    # The next two attempts reach the store in one batch.
    store.write([ended("j1", RETRY, 1), ended("j1", SUCCESS, 2, result=3, worker="w2")])
    doc = store.get("j1")
    assert doc is not None
    assert (doc["state"], doc["retries"], doc["result"], doc["worker"]) == (SUCCESS, 2, 3, "w2")
    assert sorted(doc["attempts"]) == ["0", "1", "2"]
    assert [doc["attempts"][k]["state"] for k in ("0", "1", "2")] == [RETRY, RETRY, SUCCESS]


def test_a_final_result_is_never_replaced(store: ResultStore) -> None:
    store.write([ended("j1", SUCCESS, 1, result="first")])
    store.write(
        [
            ended("j1", RETRY, 0),  # a late, older attempt
            ended("j1", RETRY, 2),  # a later, non-final write
            ended("j1", SUCCESS, 1, result="redelivered"),  # the same attempt again
        ]
    )
    doc = store.get("j1")
    assert doc is not None
    assert (doc["state"], doc["retries"], doc["result"]) == (SUCCESS, 1, "first")
    assert sorted(doc["attempts"]) == ["1"]


def test_documents_expected_stored_are_written_whether_stored_or_not(store: ResultStore) -> None:
    """Redelivered copies and later attempts take the Mongo store's direct
    upsert; the rules are the same as for a first write."""
    store.write(
        [
            ended("fresh", SUCCESS, result="copy", redelivered=True),  # first run's record lost
            ended("later", SUCCESS, 3, result="n3"),  # earlier attempts' records expired
            ended("kept", SUCCESS, result="first"),
        ]
    )
    store.write([ended("kept", SUCCESS, result="second", redelivered=True)])
    results = {key: store.get(key) for key in ("fresh", "later", "kept")}
    assert {key: doc and (doc["state"], doc["result"]) for key, doc in results.items()} == {
        "fresh": (SUCCESS, "copy"),
        "later": (SUCCESS, "n3"),
        "kept": (SUCCESS, "first"),
    }
    kept = results["kept"]
    assert kept is not None and kept["attempts"]["0"]["redelivered"] is False


def test_an_older_attempt_never_regresses_a_newer_one(store: ResultStore) -> None:
    store.write([ended("j1", RETRY, 2)])
    store.write([ended("j1", FAILURE, 1)])
    doc = store.get("j1")
    assert doc is not None and (doc["state"], doc["retries"]) == (RETRY, 2)


def test_mark_revoked_does_not_replace_a_final_success(store: ResultStore) -> None:
    store.write([ended("j1", SUCCESS, result=1)])
    store.mark_revoked("j1", 0, revoked_error("too late"))
    doc = store.get("j1")
    assert doc is not None and (doc["state"], doc["result"]) == (SUCCESS, 1)


def test_a_revoked_job_keeps_revoked_over_a_late_run(store: ResultStore) -> None:
    store.write([ended("j1", RETRY, 0)])
    store.mark_revoked("j1", 1, revoked_error("cancelled by alice"))
    store.write([ended("j1", SUCCESS, 1, result="late")])
    doc = store.get("j1")
    assert doc is not None
    assert (doc["state"], doc["final"]) == (REVOKED, True)
    assert doc["error"] == {"exc_type": "Revoked", "exc_message": "cancelled by alice"}
    assert doc["task"] == "t.add", "what the earlier attempt stored stays"
    assert [doc["attempts"][k]["state"] for k in ("0", "1")] == [RETRY, REVOKED]


def test_mark_final_stores_a_job_that_never_ran(store: ResultStore) -> None:
    store.mark_final("j1", FAILURE.value, 0, {"exc_type": "NotQueued", "exc_message": "down"})
    doc = store.get("j1")
    assert doc is not None and (doc["state"], doc["final"]) == (FAILURE, True)


def test_a_replay_reopens_the_result_and_stores_a_new_one(store: ResultStore) -> None:
    store.write([ended("j1", RETRY, 0), ended("j1", FAILURE, 1)])
    assert store.reopen("j1", 0, keep_attempts=False)
    reopened = store.get("j1")
    assert reopened is not None
    assert (reopened["final"], reopened["retries"]) == (False, 0)
    assert "attempts" not in reopened
    assert sorted(reopened["replays"]["0"]) == ["0", "1"]
    store.write([ended("j1", SUCCESS, 0, result="fixed")])
    doc = store.get("j1")
    assert doc is not None
    assert (doc["state"], doc["final"], doc["result"]) == (SUCCESS, True, "fixed")
    assert sorted(doc["attempts"]) == ["0"] and doc["attempts"]["0"]["state"] == SUCCESS
    # A second replay keeps the first one's history too.
    assert store.reopen("j1", 0, keep_attempts=False)
    again = store.get("j1")
    assert again is not None and sorted(again["replays"]) == ["0", "1"]


def test_a_replay_that_keeps_counting_keeps_the_attempts(store: ResultStore) -> None:
    store.write([ended("j1", FAILURE, 0)])
    assert store.reopen("j1", 1, keep_attempts=True)
    store.write([ended("j1", SUCCESS, 1)])
    doc = store.get("j1")
    assert doc is not None and doc["state"] == SUCCESS
    assert [doc["attempts"][k]["state"] for k in ("0", "1")] == [FAILURE, SUCCESS]
    assert "replays" not in doc


def test_reopening_an_unknown_job_stores_nothing(store: ResultStore) -> None:
    assert store.reopen("nobody", 0, keep_attempts=False) is False
    assert store.get("nobody") is None


def test_nested_arrays_round_trip(store: ResultStore) -> None:
    store.write([ended("j1", SUCCESS, result=[[1, 2], [3]], args=([[1], [2]],))])
    doc = store.get("j1")
    assert doc is not None
    assert doc["result"] == [[1, 2], [3]] and doc["args"] == [[[1], [2]]]
    assert "result_json" not in doc and "args_json" not in doc


def test_mongo_keeps_nested_arrays_as_json_text(mongo_url: str, unique_name: str) -> None:
    """FerretDB refuses arrays in arrays: stored as text, read back as values."""
    store = MongoResultStore(mongo_url, unique_name)
    try:
        store.write([ended("j1", SUCCESS, result=[[1, 2], [3]])])
        raw = store.collection.find_one({"_id": "j1"})
        assert raw["result"] is None and raw["result_json"] == "[[1, 2], [3]]"
        assert (store.get("j1") or {})["result"] == [[1, 2], [3]]
    finally:
        store.drop()
        store.close()


def test_forget_deletes_the_result(store: ResultStore) -> None:
    store.write([ended("j1", SUCCESS), ended("j2", SUCCESS)])
    store.forget("j1")
    store.forget("never-stored")
    assert store.get("j1") is None and store.get("j2") is not None


@pytest.mark.fast
def test_memory_stores_of_one_database_share_results_not_buffers(unique_name: str) -> None:
    client = create_result_store("memory://", unique_name)
    worker = create_result_store("memory://", unique_name)
    other = create_result_store("memory://", f"{unique_name}-other")
    worker.record(ended("j1", SUCCESS, result=1))
    assert len(client) == 0, "each store buffers its own documents"
    worker.flush()
    assert (client.get("j1") or {})["result"] == 1
    assert other.get("j1") is None
    worker.close()
    assert client.get("j1") is not None, "closing a store keeps the results"
    client.drop()
    assert worker.get("j1") is None


@pytest.mark.fast
def test_an_app_with_a_memory_mongo_url_shares_results_with_its_workers(
    unique_name: str,
) -> None:
    options = {"broker_url": "memory://", "redis_url": "memory://", "mongo_url": "memory://"}
    client = TaskQueue("client", result_database=unique_name, **options)
    worker = TaskQueue("worker", result_database=unique_name, **options)
    try:
        worker.result_store.write([ended("j1", SUCCESS, result=7)])
        assert (client.result_store.get("j1") or {})["result"] == 7
    finally:
        client.result_store.drop()
        client.close()
        worker.close()


def test_purge_deletes_only_final_results_older_than_asked(store: ResultStore) -> None:
    import datetime as dt

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    old = ended("old", SUCCESS, result=1)
    old["date_done"] = long_ago
    old_failure = ended("old-failure", FAILURE)
    old_failure["date_done"] = long_ago
    # Unfinished however old (a retry waiting): its job still needs it.
    waiting = ended("waiting", RETRY)
    waiting["date_done"] = long_ago
    store.write([old, old_failure, waiting, ended("fresh", SUCCESS, result=2)])
    assert store.purge(86_400) == 2
    assert store.get("old") is None and store.get("old-failure") is None
    assert store.get("waiting") is not None
    assert store.get("fresh") is not None
    assert store.purge(86_400) == 0


def test_results_expire_through_a_ttl_index_where_the_server_has_them(store: ResultStore) -> None:
    """MongoDB keeps a TTL index on date_done; FerretDB 1.x (the local default)
    and the memory store have none, so they say so and beat purges instead."""
    native = store.expire_after(3600)
    if not isinstance(store, MongoResultStore):
        assert native is False
        return
    indexes = store.collection.index_information()
    assert "date_done_ttl" in indexes  # a TTL index, or the purge's plain one
    assert (indexes["date_done_ttl"].get("expireAfterSeconds") == 3600) is native
    server = str(store.collection.database.command("buildInfo")).lower()
    assert native is ("ferretdb" not in server)
    assert store.expire_after(60) is native  # a changed setting is applied, not refused
