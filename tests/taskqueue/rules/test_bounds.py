"""The in-flight registry of a running worker follows the jobs in flight.

Jobs submitted to the pool are registered (``PollLoop.jobs``, the pool's
count, the thread markers that revoke-terminate and the time limits use)
and must all be gone once the jobs are final: a worker that kept one entry
per job processed would grow for as long as it runs. While the jobs flow,
back-pressure keeps the registry under the pool's high mark plus one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from taskqueue import TaskQueue
from taskqueue.control import terminate
from taskqueue.policies.timelimits import COMPACT_ABOVE, _watchdog

from .conftest import RunningWorker, state_of, wait_for

JOBS = 4000
"""More than the bound below, so the bound is what keeps the registry small."""


def test_the_in_flight_registry_is_bounded_and_empties(
    rapp: TaskQueue, worker: Callable[..., RunningWorker]
) -> None:
    add = rapp.tasks["rules.add"]
    with rapp.bulk():
        ids = [add.delay(i, 1).id for i in range(JOBS)]
    peak = [0]
    stop = threading.Event()
    with worker() as w:
        loop = wait_for(lambda: w.worker.loop, what="the poll loop")

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], len(loop.jobs), loop.pool.unfinished)
                stop.wait(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            wait_for(
                lambda: all(state_of(rapp, i) == "SUCCESS" for i in ids[-50:]),
                timeout=120,
                what="the last jobs to succeed",
            )
            wait_for(lambda: not loop.jobs and loop.pool.unfinished == 0, what="an idle pool")
        finally:
            stop.set()
            watcher.join(10)
        s = rapp.settings
        high = max(loop.pool.size * 4, 2 * s.consume_batch_size)
        assert 0 < peak[0] <= high + s.consume_batch_size
        ours = set(ids)
        with terminate._lock:
            assert not ours & set(terminate._running.values())
            assert not ours & set(terminate._stoppers)
        assert len(_watchdog) <= 2 * COMPACT_ABOVE
    assert all(state_of(rapp, i) == "SUCCESS" for i in ids)
