"""Resizing a worker's pool: Celery's pool_grow/pool_shrink and --autoscale.

The pools are real (threads, forkserver children); autoscale runs on a
clock the test moves, so no assertion depends on wall-clock time.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator

import pytest

from taskqueue import TaskQueue
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.events import new_event_queue
from taskqueue.worker.mailbox import BadArgument, CommandRefused, Mailbox
from taskqueue.worker.main import Worker
from taskqueue.worker.pool import MAX_POOL_SIZE, ThreadPool
from taskqueue.worker.processes import ChildPool
from taskqueue.worker.sizing import AutoscaleRange, PoolSizing
from taskqueue.worker.threads import TaskThreads
from tests.taskqueue.conftest import memory_app, wait_for

pytestmark = pytest.mark.fast


@pytest.fixture
def app(unique_name: str) -> Iterator[TaskQueue]:
    application = memory_app("sizing", unique_name)
    yield application
    application.close()


@pytest.fixture
def threads() -> Iterator[TaskThreads]:
    pool = TaskThreads(2, name="sizing-test")
    yield pool
    pool.shutdown(wait=False, cancel=True)


def test_thread_pool_grows_at_once(threads: TaskThreads) -> None:
    threads.resize(5)
    assert threads.threads == 5
    started = threading.Barrier(6)
    futures = [threads.submit(lambda: started.wait(10)) for _ in range(5)]
    started.wait(10)  # five bodies at once: the new threads work
    assert all(f.result(10) is not None for f in futures)


def test_thread_pool_shrinks_without_cutting_a_running_body(threads: TaskThreads) -> None:
    gate, running = threading.Event(), threading.Event()

    def body() -> str:
        running.set()
        gate.wait(10)
        return "finished"

    future = threads.submit(body)
    assert running.wait(10)
    threads.resize(1)
    wait_for(lambda: threads.threads == 1, 10)  # the idle thread left
    assert not future.done(), "the running body is not interrupted"
    gate.set()
    assert future.result(10) == "finished"
    assert [threads.submit(functools.partial(abs, -i)).result(10) for i in range(3)] == [0, 1, 2]
    assert threads.threads == 1


def test_thread_pool_refuses_no_threads(threads: TaskThreads) -> None:
    with pytest.raises(ValueError, match="at least one thread, not 0"):
        threads.resize(0)
    assert threads.threads == 2


def test_process_pool_grows_and_retires_idle_children() -> None:
    pool = ChildPool(1, time.sleep, (0,))  # no setup in the children
    try:
        pool.resize(3)
        wait_for(lambda: len(pool.pids()) == 3, 30)
        pids = {pool.submit(os.getpid).result(timeout=30) for _ in range(6)}
        assert pids <= set(pool.pids())
        pool.resize(1)
        wait_for(lambda: len(pool.pids()) == 1, 30)
        assert pool.submit(os.getpid).result(timeout=30) in pool.pids()
        assert pool.retired == 0, "a shrink is not a max_tasks/max_memory retirement"
    finally:
        pool.shutdown()


@pytest.fixture
def pool(app: TaskQueue) -> Iterator[ThreadPool]:
    thread_pool = ThreadPool(app, 2, new_event_queue())
    yield thread_pool
    thread_pool.shutdown(wait=False, cancel=True)


def test_pool_grow_and_shrink_change_the_size(pool: ThreadPool) -> None:
    sizing = PoolSizing(pool)
    assert sizing.grow(3) == "pool will grow"
    assert (pool.size, pool._threads.threads) == (5, 5)
    assert sizing.shrink(4) == "pool will shrink"
    assert pool.size == 1


@pytest.mark.parametrize(
    ("command", "n", "message"),
    [
        ("grow", 0, r"pool_grow\(n=0\): n must be a whole number of at least 1"),
        ("grow", -2, r"pool_grow\(n=-2\)"),
        ("shrink", "1", r"pool_shrink\(n='1'\)"),
        ("shrink", 2, r"pool_shrink\(n=2\): the pool has 2 thread\(s\) and keeps at least one"),
        ("grow", MAX_POOL_SIZE, r"more than the most a pool may have"),
    ],
)
def test_bad_resizes_are_refused_with_the_reason(
    pool: ThreadPool, command: str, n: object, message: str
) -> None:
    sizing = PoolSizing(pool)
    with pytest.raises(BadArgument, match=message):
        getattr(sizing, command)(n)
    assert pool.size == 2, "a refused command changes nothing"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_autoscale_grows_with_demand_and_shrinks_after_keepalive(pool: ThreadPool) -> None:
    clock = Clock()
    sizing = PoolSizing(pool, AutoscaleRange(max=6, min=2), keepalive=30, clock=clock)
    sizing.step(4)
    assert pool.size == 4, "grows at once to the jobs waiting"
    sizing.step(50)
    assert pool.size == 6, "never above max"
    sizing.step(0)
    clock.now += 29
    sizing.step(0)
    assert pool.size == 6, "a lull shorter than keepalive keeps the threads"
    sizing.step(6)  # busy again: the lull is over
    clock.now += 2
    sizing.step(1)
    assert pool.size == 6
    clock.now += 30
    sizing.step(1)
    assert pool.size == 2, "never below min"


def test_autoscale_refuses_fixed_resizes_and_moves_its_range(pool: ThreadPool) -> None:
    sizing = PoolSizing(pool, AutoscaleRange(max=4, min=2))
    with pytest.raises(CommandRefused, match="pool_grow is not supported with autoscale"):
        sizing.grow(1)
    assert sizing.set_autoscale(8, 3) == "autoscale now max=8 min=3"
    assert pool.size == 3, "raised to the new min"
    with pytest.raises(BadArgument, match=r"autoscale max \(1\) is below min \(3\)"):
        sizing.set_autoscale(1, 3)
    with pytest.raises(CommandRefused, match="autoscale is off"):
        PoolSizing(pool).set_autoscale(4, 1)


@pytest.mark.parametrize(
    ("text", "expected"), [("10,3", AutoscaleRange(10, 3)), ("4", AutoscaleRange(4, 1))]
)
def test_autoscale_option_reads_max_comma_min(text: str, expected: AutoscaleRange) -> None:
    assert AutoscaleRange.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ten,3", "expected max,min"),
        ("3,10", "below min"),
        ("0,0", "at least 1"),
        ("1,2,3", "expected max,min"),
    ],
)
def test_bad_autoscale_option_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AutoscaleRange.parse(text)


def test_worker_refuses_autoscale_on_the_process_pool(app: TaskQueue) -> None:
    with pytest.raises(ConfigurationError, match="--autoscale needs the thread pool"):
        Worker(app, pool="processes", app_spec="tests.taskqueue.tasks_app", autoscale="4,1")
    with pytest.raises(ConfigurationError, match="below min"):
        Worker(app, autoscale="1,4")
    assert Worker(app, autoscale="6,2").concurrency == 2, "autoscale starts at its min"


def test_mailbox_returns_results_and_errors_to_the_caller() -> None:
    mailbox = Mailbox()
    stop = threading.Event()

    def loop() -> None:  # the poll loop's part
        while not stop.is_set():
            mailbox.run_pending()
            time.sleep(0.001)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        assert mailbox.call(lambda: "done") == "done"
        with pytest.raises(BadArgument, match="wrong"):
            mailbox.call(lambda: (_ for _ in ()).throw(BadArgument("wrong")))
        with pytest.raises(ZeroDivisionError):
            mailbox.call(lambda: 1 // 0)
        assert mailbox.call(lambda: "still running"), "the loop survived both errors"
    finally:
        stop.set()
        thread.join(10)


def test_mailbox_withdraws_a_command_nobody_takes() -> None:
    mailbox, ran = Mailbox(), []
    with pytest.raises(CommandRefused, match="did not take the command within 0.01 s"):
        mailbox.call(lambda: ran.append(1), timeout=0.01)
    mailbox.run_pending()
    assert ran == [], "a withdrawn command never runs later"
