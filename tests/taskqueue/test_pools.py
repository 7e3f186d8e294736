"""The worker's execution pools on their own: no services, no task queue.

The thread pool must keep its concurrency when a body is abandoned at its
hard time limit; the process pool must survive a child killed mid-job (only
that call fails, with an error that says so; running it again is the
worker's decision), kill the child of one call on demand or past the call's
timeout, and terminate its children on a cold shutdown.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError

import pytest

from taskqueue.worker.processes import (
    CallTimedOut,
    ChildPool,
    PoolBroken,
    WorkerLostError,
)
from taskqueue.worker.threads import PoolShutDown, TaskThreads

from . import pool_children

pytestmark = pytest.mark.fast

WAIT = 20.0
"""Upper bound for anything a test waits for (never a timing assertion)."""


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- threads -------------------------------------------------------------------


@pytest.fixture
def threads() -> Iterator[TaskThreads]:
    pool = TaskThreads(2, name="test-task")
    yield pool
    pool.shutdown(wait=False, cancel=True)


def test_abandoned_thread_is_replaced_and_the_pool_keeps_its_concurrency(
    threads: TaskThreads,
) -> None:
    stuck, entered = threading.Event(), threading.Event()

    def body() -> str:
        entered.set()
        stuck.wait(WAIT)
        return "late result"

    abandoned = threads.submit(body)
    assert entered.wait(WAIT)
    assert threads.abandon(abandoned, "given up") is True
    assert abandoned.result(timeout=0) == "given up"
    assert threads.threads == 2

    # Two calls that can only finish together need two free threads: the
    # stuck one does not count any more, its replacement does.
    both = threading.Barrier(2, timeout=WAIT)
    pair = [threads.submit(both.wait) for _ in range(2)]
    assert sorted(f.result(timeout=WAIT) for f in pair) == [0, 1]

    stuck.set()  # the abandoned body returns late: dropped, and its thread exits
    eventually(
        lambda: sum(t.name.startswith("test-task") for t in threading.enumerate()) == 2,
        "the abandoned thread to exit",
    )
    assert abandoned.result(timeout=0) == "given up"


def test_a_call_that_finished_first_is_not_abandoned(threads: TaskThreads) -> None:
    done = threads.submit(lambda: "own result")
    assert done.result(timeout=WAIT) == "own result"
    assert threads.abandon(done, "given up") is False
    assert done.result(timeout=0) == "own result"
    assert threads.threads == 2


def test_a_queued_call_can_be_cancelled_before_it_starts() -> None:
    pool = TaskThreads(1, name="test-task")
    gate = threading.Event()
    ran: list[str] = []
    try:
        busy = pool.submit(lambda: gate.wait(WAIT))
        eventually(busy.running, "the first call to start")
        queued = pool.submit(lambda: ran.append("queued"))
        assert queued.cancel() is True
        gate.set()
        assert busy.result(timeout=WAIT) is True
        assert pool.submit(lambda: "next").result(timeout=WAIT) == "next"
        assert ran == []
    finally:
        pool.shutdown(wait=True)


def test_an_exception_reaches_the_caller_and_the_thread_lives_on(threads: TaskThreads) -> None:
    def fail() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        threads.submit(fail).result(timeout=WAIT)
    assert threads.submit(lambda: 42).result(timeout=WAIT) == 42


def test_shutdown_cancels_queued_calls_and_refuses_new_ones() -> None:
    pool = TaskThreads(1, name="test-task")
    gate = threading.Event()
    busy = pool.submit(lambda: gate.wait(WAIT))
    eventually(busy.running, "the first call to start")
    queued = pool.submit(lambda: "never")
    stopper = threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel": True})
    stopper.start()
    eventually(queued.cancelled, "the queued call to be cancelled")
    gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive() and busy.result(timeout=0) is True
    with pytest.raises(CancelledError):
        queued.result(timeout=0)
    with pytest.raises(PoolShutDown):
        pool.submit(lambda: None)


# --- processes -------------------------------------------------------------------


@pytest.fixture
def children() -> Iterator[ChildPool]:
    pool = ChildPool(2, pool_children.init, ("ok",), name="test-child")
    yield pool
    pool.shutdown(wait=False, cancel=True)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_children_run_calls_and_report_errors(children: ChildPool) -> None:
    assert children.submit(pool_children.add, 2, 3).result(timeout=WAIT) == 5
    with pytest.raises(ValueError, match="bad input"):
        children.submit(pool_children.boom, "bad input").result(timeout=WAIT)
    pids = {children.submit(pool_children.pid).result(timeout=WAIT) for _ in range(4)}
    assert os.getpid() not in pids and pids <= set(children.pids())


def test_a_child_killed_mid_job_fails_only_that_job_and_is_replaced(
    children: ChildPool,
) -> None:
    long = children.submit(pool_children.sleep, 60)
    eventually(lambda: long in children.running().values(), "the long call to start")
    [victim] = [pid for pid, f in children.running().items() if f is long]

    os.kill(victim, signal.SIGKILL)

    with pytest.raises(WorkerLostError, match=rf"pid {victim}\) was killed by SIGKILL") as lost:
        long.result(timeout=WAIT)
    assert lost.value.shutdown is False
    # The pool goes on with a new child in its place; both children take calls.
    eventually(lambda: len(children.pids()) == 2 and victim not in children.pids(), "a new child")
    results = [children.submit(pool_children.add, i, 1) for i in range(6)]
    assert [f.result(timeout=WAIT) for f in results] == [1, 2, 3, 4, 5, 6]


def test_kill_stops_the_child_running_a_call_with_the_callers_error(
    children: ChildPool,
) -> None:
    long = children.submit(pool_children.sleep, 60)
    queued = [children.submit(pool_children.sleep, 60), children.submit(pool_children.add, 1, 1)]
    eventually(lambda: len(children.running()) == 2, "both children to be busy")
    [victim] = [pid for pid, f in children.running().items() if f is long]

    assert children.kill(long, KeyError("stopped on purpose")) is True

    with pytest.raises(KeyError, match="stopped on purpose"):
        long.result(timeout=WAIT)
    eventually(lambda: _gone(victim), "the killed child to be gone")
    # Its replacement takes the queued call; a finished call cannot be killed.
    assert queued[1].result(timeout=WAIT) == 2
    assert children.kill(queued[1], KeyError("too late")) is False
    assert children.kill(queued[0], KeyError("stopped")) is True


def test_a_call_past_its_timeout_has_its_child_killed_even_if_it_ignores_sigterm() -> None:
    pool = ChildPool(1, pool_children.init, ("ok",), name="test-child")
    try:
        stuck = pool.submit(pool_children.stubborn_sleep, 60, timeout=0.5)
        eventually(lambda: bool(pool.running()), "the call to start")
        [victim] = pool.running()
        with pytest.raises(CallTimedOut):
            stuck.result(timeout=WAIT)
        eventually(lambda: _gone(victim), "the stuck child to be gone")
        # A call that returns in time is not killed; the new child takes it.
        assert pool.submit(pool_children.add, 2, 2, timeout=WAIT).result(timeout=WAIT) == 4
    finally:
        pool.shutdown(wait=False, cancel=True)


def test_cold_shutdown_terminates_children_mid_job() -> None:
    pool = ChildPool(2, pool_children.init, ("ok",), name="test-child")
    calls = [pool.submit(pool_children.sleep, 60) for _ in range(2)]
    queued = pool.submit(pool_children.add, 1, 1)
    eventually(lambda: len(pool.running()) == 2, "both calls to start")
    pids = list(pool.running())

    pool.shutdown(wait=False, cancel=True)

    assert queued.cancelled()
    for call in calls:
        exc = call.exception(timeout=WAIT)
        assert isinstance(exc, WorkerLostError) and exc.shutdown, exc
    eventually(lambda: all(_gone(pid) for pid in pids), "the children to be gone")
    with pytest.raises(PoolBroken):
        pool.submit(pool_children.add, 1, 1)


def test_warm_shutdown_lets_running_calls_finish() -> None:
    pool = ChildPool(1, pool_children.init, ("ok",), name="test-child")
    running = pool.submit(pool_children.sleep, 0.5)
    eventually(lambda: bool(pool.running()), "the call to start")
    pool.shutdown(wait=True)
    assert running.result(timeout=0) == 0.5


def test_children_that_cannot_start_break_the_pool_with_a_clear_error() -> None:
    pool = ChildPool(1, pool_children.init, ("fail",), name="test-child")
    try:
        first = pool.submit(pool_children.add, 1, 1)
        with pytest.raises(PoolBroken, match="failed to start"):
            first.result(timeout=WAIT)
        with pytest.raises(PoolBroken, match="failed to start"):
            pool.submit(pool_children.add, 1, 1)
    finally:
        pool.shutdown(wait=False, cancel=True)


@pytest.mark.fast
def test_the_time_limit_watchdog_forgets_finished_bodies() -> None:
    """Every body is watched (the default deadline is hours long): the heap
    must follow the bodies running now, not every body of the last hours."""
    from taskqueue.control.terminate import running
    from taskqueue.exceptions import SoftTimeLimitExceeded
    from taskqueue.policies.timelimits import COMPACT_ABOVE, Watchdog

    watchdog = Watchdog()
    for i in range(20 * COMPACT_ABOVE):
        watchdog.done(watchdog.watch(f"j{i}", None, 7200.0, lambda: None))
    assert len(watchdog) <= 2 * COMPACT_ABOVE
    # A limit still fires after the compactions.
    caught: list[BaseException] = []

    def body() -> None:
        with running("late"):
            token = watchdog.watch("late", 0.2, None, None)
            try:
                for _ in range(500):
                    time.sleep(0.01)
            except SoftTimeLimitExceeded as exc:
                caught.append(exc)
            finally:
                watchdog.done(token)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(30)
    assert len(caught) == 1


def test_a_job_whose_child_died_after_its_partition_moved_is_released_not_rerun() -> None:
    """The partition's new owner runs it; running it here too would run it twice."""
    from taskqueue import TaskQueue
    from taskqueue.message import Message
    from taskqueue.transport import Delivery
    from taskqueue.worker.events import EventKind, new_event_queue
    from taskqueue.worker.jobs import Job
    from taskqueue.worker.pool import ProcessPool

    app = TaskQueue("moved", broker_url="memory://", redis_url="memory://", mongo_url="memory://")
    events = new_event_queue()
    pool = ProcessPool(app, "tests.taskqueue.pool_children", 1, events)
    try:
        message = Message(id="j-moved", task="t.any")
        job = Job(Delivery("q", 0, 7, None, message.encode(), []), message, released=True)
        pool._child_died(job, WorkerLostError("child killed by SIGKILL"))
        event = events.get(timeout=WAIT)
        assert event.kind is EventKind.CANCELLED and event.job is job
        assert job.future is None, "submitted again to a child"
    finally:
        pool.shutdown(wait=False, cancel=True)
