"""Arrays inside arrays survive the trip to the Mongo-wire server.

FerretDB refuses them as BSON; a result that can never be written would hold
back its partition's commits forever, so the store keeps such values as JSON
text and gives them back unchanged.
"""

from __future__ import annotations

import pytest

from taskqueue import TaskQueue
from taskqueue.stores.results_mongo import readable, storable

from .conftest import Workers, wait_for


@pytest.mark.fast
def test_storable_and_readable_are_inverse() -> None:
    doc = {"_id": "j", "result": {"grid": [[1, 2], [3]]}, "args": [[1], 2], "kwargs": {"k": 1}}
    stored = storable(doc)
    assert stored["result"] is None and stored["args"] is None
    assert stored["kwargs"] == {"k": 1}, "flat values stay as they are"
    assert readable(dict(stored)) == doc


@pytest.mark.timeout(120)
def test_task_returning_nested_arrays_succeeds_and_is_stored(
    app: TaskQueue, workers: Workers
) -> None:
    workers.start()
    result = app.tasks["t.matrix"].delay([[1, 2], [3]])
    assert result.get(timeout=60) == [[2, 4], [6]]
    wait_for(lambda: app.result_store.get(result.id) is not None, timeout=30)
    stored = app.result_store.get(result.id)
    assert stored["state"] == "SUCCESS"
    assert stored["result"] == [[2, 4], [6]]
    assert stored["args"] == [[[1, 2], [3]]]


def test_a_document_the_server_refuses_is_stored_as_json_text(app: TaskQueue) -> None:
    """Keys a Mongo-wire server rejects must not make the write fail forever."""
    store = app.result_store
    job_id = "refused-keys-job"
    store.record(
        {
            "_id": job_id,
            "state": "SUCCESS",
            "final": True,
            "retries": 0,
            "result": {"$weird": 1, "ok": [1]},
            "attempts": {"0": {"state": "SUCCESS"}},
        }
    )
    assert store.flush() == 1
    assert store.get(job_id)["result"] == {"$weird": 1, "ok": [1]}
