"""Which producer a publish takes (taskqueue.transport.kafka.auto_lane):
the prompt one while few records await their acknowledgment, the busy one
(which lingers to share batches) past the threshold and for a short hold
after it. The same paths on real Kafka: test_concurrent_publishing.py."""

from __future__ import annotations

import pytest

from taskqueue.transport.base import BUSY, PROMPT
from taskqueue.transport.kafka import BUSY_HOLD_SECONDS, BUSY_IN_FLIGHT, auto_lane

pytestmark = pytest.mark.fast


def test_few_records_in_flight_take_the_prompt_producer() -> None:
    assert auto_lane(0, now=100.0, busy_until=0.0) == (PROMPT, 0.0)
    assert auto_lane(BUSY_IN_FLIGHT - 1, now=100.0, busy_until=0.0) == (PROMPT, 0.0)


def test_past_the_threshold_the_busy_producer_takes_over_and_holds() -> None:
    lane, until = auto_lane(BUSY_IN_FLIGHT, now=100.0, busy_until=0.0)
    assert (lane, until) == (BUSY, 100.0 + BUSY_HOLD_SECONDS)
    # The trough between two waves of publishers stays on the busy producer...
    assert auto_lane(0, now=100.0 + BUSY_HOLD_SECONDS / 2, busy_until=until) == (BUSY, until)
    # ...and a lone publish after the hold is sent at once again.
    assert auto_lane(0, now=until, busy_until=until) == (PROMPT, until)


def test_each_wave_past_the_threshold_extends_the_hold() -> None:
    _, first = auto_lane(BUSY_IN_FLIGHT, now=100.0, busy_until=0.0)
    _, second = auto_lane(BUSY_IN_FLIGHT * 10, now=100.1, busy_until=first)
    assert second == 100.1 + BUSY_HOLD_SECONDS > first
