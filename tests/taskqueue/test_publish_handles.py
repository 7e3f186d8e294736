"""Waiting for publish handles: threads and coroutines are woken by the
thread that resolves the handles, never by polling (in memory; the same
waits on real Kafka are in test_concurrent_publishing.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskqueue import PublishError
from taskqueue.transport.handles import (
    Completion,
    PublishHandle,
    wait_for_handles,
    wait_resolved_async,
)

pytestmark = pytest.mark.fast


def handles(n: int) -> list[PublishHandle]:
    return [PublishHandle("t", str(i).encode()) for i in range(n)]


def test_a_completion_is_open_until_the_last_handle_resolves() -> None:
    hs = handles(3)
    completion = Completion(hs)
    hs[0].resolve(None, 0, 1)
    hs[1].resolve("broker down", None, None)
    assert not completion.wait(0)
    hs[2].resolve(None, 0, 2)
    assert completion.wait(0)


def test_a_waiting_thread_is_woken_by_the_resolving_thread() -> None:
    hs = handles(50)
    resolver = threading.Thread(target=lambda: [h.resolve(None, 0, i) for i, h in enumerate(hs)])
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(Completion(hs).wait(30)))
    waiter.start()
    resolver.start()
    resolver.join()
    waiter.join()
    assert waited == [True]


def test_a_callback_added_after_resolution_runs_at_once_and_exactly_once() -> None:
    [h] = handles(1)
    calls: list[PublishHandle] = []
    h.add_done_callback(calls.append)
    h.resolve(None, 0, 7)
    h.add_done_callback(calls.append)
    assert calls == [h, h]


def test_a_failing_callback_does_not_stop_the_others() -> None:
    [h] = handles(1)
    calls: list[int] = []
    h.add_done_callback(lambda _h: 1 / 0)
    h.add_done_callback(lambda _h: calls.append(h.offset or 0))
    h.resolve(None, 0, 7)
    assert calls == [7]


def test_waiting_raises_for_a_failed_or_unanswered_handle() -> None:
    failed, unanswered = handles(2)
    failed.resolve("Broker: Unknown topic or partition", None, None, permanent=True)
    with pytest.raises(PublishError, match="Unknown topic"):
        wait_for_handles([failed], 1)
    with pytest.raises(PublishError, match="not acknowledged in time"):
        wait_for_handles([unanswered], 0)


def test_an_awaited_handle_leaves_the_event_loop_running() -> None:
    [h] = handles(1)

    async def scenario() -> tuple[bool, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while not h.done:
                ticks += 1
                if ticks == 5:  # the loop kept running while the publish waited
                    threading.Thread(target=h.resolve, args=(None, 0, 1)).start()
                await asyncio.sleep(0)

        acknowledged, _ = await asyncio.gather(wait_resolved_async([h], 30), ticker())
        return acknowledged, ticks

    acknowledged, ticks = asyncio.run(scenario())
    assert acknowledged and ticks >= 5


def test_many_coroutines_are_woken_by_one_resolving_thread() -> None:
    hs = handles(500)

    async def scenario() -> list[bool]:
        waits = [asyncio.ensure_future(wait_resolved_async([h], 30)) for h in hs]
        await asyncio.sleep(0)  # every coroutine registered on its handle
        resolver = threading.Thread(target=lambda: [h.resolve(None, 0, 0) for h in hs])
        resolver.start()
        out = await asyncio.gather(*waits)
        resolver.join()
        return out

    assert asyncio.run(scenario()) == [True] * 500


def test_an_awaited_handle_never_answered_reports_the_timeout() -> None:
    hs = handles(2)
    hs[0].resolve(None, 0, 0)
    assert asyncio.run(wait_resolved_async(hs, 0.01)) is False


def test_a_finished_event_loop_is_not_kept_alive_by_its_waits() -> None:
    # Each asyncio.run() makes a loop; a process that runs many (tests, a
    # script per request) must not keep every one of them.
    import gc
    import weakref

    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def one_wait() -> bool:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        [h] = handles(1)
        threading.Timer(0.01, h.resolve, args=(None, 0, 1)).start()
        return await wait_resolved_async([h], 30)

    assert asyncio.run(one_wait()) and asyncio.run(one_wait())  # a second loop works too
    gc.collect()
    assert [ref() for ref in loops] == [None, None]
