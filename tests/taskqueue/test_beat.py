"""Beat on real Redis and Kafka: two beat processes fire each tick once,
and the survivor takes over when the leader is killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskqueue import TaskQueue
from taskqueue.beat import Crontab

from .conftest import ROOT, wait_for
from .policy_app import APP

pytestmark = pytest.mark.timeout(180)

FIRED = re.compile(r"beat fired every-second tick ([0-9.]+)")


def start_beat(env: dict[str, str], log: Path, name: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "taskqueue", "beat", "-A", APP, "--name", name],
            cwd=ROOT,
            env={**os.environ, **env, "TASKQUEUE_BEAT_LOCK_TTL": "2", "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def beats(tq_env: dict[str, str], tmp_path: Path, app: TaskQueue) -> Iterator[list]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        started.append((start_beat(tq_env, log, name), log))
        return started[-1]

    yield [start]
    for proc, _ in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def ticks(log: Path) -> list[float]:
    return [float(t) for t in FIRED.findall(log.read_text())]


def test_two_beats_fire_each_tick_once_and_the_survivor_takes_over(beats: list) -> None:
    [start] = beats
    (a, log_a), (b, log_b) = start("a"), start("b")
    wait_for(lambda: len(ticks(log_a)) + len(ticks(log_b)) >= 3, 60)
    leader, leader_log, other_log = (a, log_a, log_b) if ticks(log_a) else (b, log_b, log_a)
    assert ticks(other_log) == []  # only the leader fires
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    before = len(ticks(other_log))
    wait_for(lambda: len(ticks(other_log)) >= before + 3, 60)
    fired = ticks(leader_log) + ticks(other_log)
    assert len(fired) == len(set(fired)), "a tick fired twice"
    assert "is now the leader" in other_log.read_text()


def test_crontab_parses_and_matches() -> None:
    every_quarter = Crontab("*/15 9-17 * * 1-5")
    monday_0915 = 1_700_471_700.0  # 2023-11-20 09:15 UTC, a Monday
    assert every_quarter.matches(monday_0915)
    assert not every_quarter.matches(monday_0915 + 60)
    assert every_quarter.last_tick(monday_0915 + 600) == monday_0915
    with pytest.raises(ValueError):
        Crontab("61 * * * *")
