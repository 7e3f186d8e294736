"""A slow subscriber's queue: progress ticks give way, states never do."""

from __future__ import annotations

import asyncio

import pytest

from progress.events import Order
from progress.mailbox import HARD_FACTOR, Item, Mailbox, Overflow


def item(job: str, state: str, n: int) -> Item:
    return Item(job, Order(0, 3, float(n)), state == "PROGRESS", state == "SUCCESS", (state, n))


async def drain(box: Mailbox) -> list[object]:
    out = []
    while len(box):
        out.append((await box.get()).value)
    return out


def test_full_mailbox_coalesces_ticks_and_keeps_every_state() -> None:
    box = Mailbox(size=3)
    box.offer(item("a", "STARTED", 0))
    for n in range(1, 10):
        box.offer(item("a", "PROGRESS", n))
    box.offer(item("a", "SUCCESS", 10))
    values = asyncio.run(drain(box))
    assert values[0] == ("STARTED", 0) and values[-1] == ("SUCCESS", 10)
    assert [v for v in values if v[0] == "PROGRESS"] == [("PROGRESS", 9)], "newest tick kept"
    assert box.dropped == 8, "nine ticks offered, one kept"


def test_subscriber_that_never_reads_is_cut_off_instead_of_growing() -> None:
    box = Mailbox(size=2)
    for n in range(2 * HARD_FACTOR + 5):
        box.offer(item(f"job{n}", "SUCCESS", n))
    assert len(box) == 2 * HARD_FACTOR

    async def read() -> None:
        await box.get()

    with pytest.raises(Overflow):
        asyncio.run(read())
