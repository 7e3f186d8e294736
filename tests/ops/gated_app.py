"""Tasks of the operations tests; their workers load this with ``-A``.

``ops.wait`` blocks until the test opens its gate (a Redis key), so jobs
wait exactly as long as the test needs, never for a guessed time. The app
reads its settings from the ``TASKQUEUE_*`` variables the test sets.
"""

from __future__ import annotations

import time

from taskqueue import TaskQueue

GATE_TIMEOUT = 120.0
"""Seconds a body waits for its gate before it fails (a test that died)."""

app = TaskQueue("tests.ops")


def gate_key(name: str) -> str:
    return f"{app.settings.key_prefix}:gate:{name}"


@app.task(name="ops.wait")
def wait(gate: str) -> str:
    client = app.state_backend.client
    deadline = time.monotonic() + GATE_TIMEOUT
    while not client.exists(gate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.05)
    return gate
