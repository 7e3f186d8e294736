"""The fault suite's harness: steady load, one fault, and the figures.

:func:`run_scenario` submits jobs of ``rel.work`` (tests.reliability.tasks_app)
at a steady pace from a thread, calls the scenario's fault-injection callable
once a share of them has run (so the fault lands under load), and then checks
every job whose ``.delay()`` returned:

- it reached a final state in the state store, and the result store holds
  its document with that same final state and the job's return value
  (a job without both is *lost*);
- how many times its body started beyond the first (*duplicate executions*,
  counted by the body itself in Redis, so reruns in other processes and pool
  children count too);
- with ``queues=``, the job ids in those queues' topics (read from the
  start): an id that is none of the expected jobs is a *duplicate
  follow-up*, a follow-up sent again under a new id (ids of follow-ups are
  fixed, so a republished one keeps its id and is not counted).

A scenario may submit its own mix instead of ``rel.work`` (``submit=``: one
call per job of the load, returning the jobs it published with their
expected results, follow-ups included).

It also measures two times from the moment of the fault: *recovery*, until
every job submitted before the fault is final (what the fault held up), and
*drained*, until every job is. Each scenario appends a row to
``test-artifacts/reliability.tsv`` and to :data:`ROWS`, which the suite's
``conftest`` prints as a table at the end of the run.

The workers are the caller's (OS processes or in-process threads, started
with the app's settings and ``tests.reliability.tasks_app`` loaded), so any
fault can be injected, for example::

    app = TaskQueue("x", env=env)
    register_reliability(app)
    # ... start workers ...
    report = run_scenario(app, "redis restart", lambda: redis_server.restart())
    assert report.lost == 0

Longer mode: ``RELIABILITY_SCALE=10 scripts/test tests/reliability`` submits
ten times the jobs of each scenario at the same pace.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from taskqueue import TaskQueue
from taskqueue.exceptions import PublishError
from taskqueue.message import Message
from taskqueue.states import READY_STATES

from .tasks_app import evidence, executions_key, finished_key

SCALE = int(os.environ.get("RELIABILITY_SCALE", "1"))
"""Multiplies each scenario's job count (longer mode); 1 in CI."""

JOBS = 240
"""Jobs of one scenario at scale 1: a few seconds of load on two cores."""

RATE = 60.0
"""Submissions per second: the load lasts through the fault and after it."""

RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.tsv"
COLUMNS = (
    "scenario",
    "jobs",
    "lost",
    "duplicate executions",
    "duplicate follow-ups",
    "recovery s",
    "drained s",
)


@dataclass
class Row:
    scenario: str
    jobs: int
    lost: int
    duplicates: int
    recovery: float
    drained: float
    follow_up_duplicates: int | None = None
    """None: not measured by this scenario (shown as "-")."""

    def cells(self) -> tuple[str, ...]:
        return (
            self.scenario,
            str(self.jobs),
            str(self.lost),
            str(self.duplicates),
            "-" if self.follow_up_duplicates is None else str(self.follow_up_duplicates),
            f"{self.recovery:.1f}",
            f"{self.drained:.1f}",
        )


ROWS: list[Row] = []
"""This session's rows, in the order the scenarios ran."""


@dataclass
class Report:
    """What one scenario measured; ``lost`` and ``wrong`` list job ids."""

    row: Row
    acked: dict[str, Any]
    lost: list[str]
    wrong: list[str]
    executions: dict[str, int]
    failed_submissions: list[str]
    unexpected_ids: list[str] = field(default_factory=list)
    """Ids in the ``queues=`` topics that are no expected job (duplicate follow-ups)."""

    @property
    def duplicates(self) -> int:
        return self.row.duplicates


Submit = Callable[[int], Mapping[str, Any]]
"""Publishes the load's ``i``-th job (and whatever goes with it); returns
{job id: expected result} of the jobs it published, follow-ups included."""


@dataclass
class Load:
    """``jobs`` calls of ``rel.work(i, seconds)`` (or of ``submit(i)``)
    submitted at ``rate`` per second."""

    app: TaskQueue
    jobs: int
    seconds: float
    rate: float = RATE
    countdown: float | None = None
    submit: Submit | None = None
    acked: dict[str, Any] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    """Acknowledged ids in order: safe to copy while the load thread appends."""
    failed: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Load:
        self.thread = threading.Thread(target=self._submit, name="rel-load", daemon=True)
        self.thread.start()
        return self

    def _work(self, i: int) -> Mapping[str, Any]:
        options: dict[str, Any] = {}
        if self.countdown is not None:
            options["countdown"] = self.countdown
        result = self.app.tasks["rel.work"].apply_async((i, self.seconds), **options)
        return {result.id: i}

    def _submit(self) -> None:
        submit = self.submit or self._work
        began = time.monotonic()
        for i in range(self.jobs):
            pause = began + i / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                published = submit(i)
            except PublishError as exc:  # the caller saw it: not acknowledged
                self.failed.append(str(exc))
                continue
            except Exception as exc:  # not a publish error: the scenario must see it
                self.failed.append(f"{type(exc).__name__}: {exc}")
                continue
            now = time.monotonic()
            for job_id, expected in published.items():
                self.acked[job_id] = expected
                self.acked_at[job_id] = now
                self.ids.append(job_id)

    def finished(self) -> bool:
        """Every submission made (acknowledged or failed)."""
        return self.thread is not None and not self.thread.is_alive()

    def join(self, timeout: float) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"submitting {self.jobs} jobs took over {timeout:g} s"


def finished_bodies(app: TaskQueue) -> int:
    return int(evidence(app).llen(finished_key(app)))


def executions(app: TaskQueue) -> dict[str, int]:
    raw = evidence(app).hgetall(executions_key(app))
    return {k.decode(): int(v) for k, v in raw.items()}


def final_times(
    app: TaskQueue,
    ids: Callable[[], Sequence[str]],
    until: Callable[[], bool],
    timeout: float,
    interval: float = 0.1,
) -> dict[str, float]:
    """When (monotonic) each job was first seen final, polling from now:
    ``ids()`` gives the jobs to watch so far (it may grow), ``until()`` says
    no more will come. Stops at ``timeout`` with the ones seen so far."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = until()  # read first: no job comes after it says so
        pending = [j for j in ids() if j not in seen]
        if not pending and done:
            break
        now = time.monotonic()
        try:
            states = app.state_backend.read_states(pending)
        except redis.RedisError:  # the fault may be this very store: ask again
            time.sleep(interval)
            continue
        for job_id, state in zip(pending, states, strict=True):
            if state in READY_STATES:
                seen[job_id] = now
        time.sleep(interval)
    return seen


def wait_final(app: TaskQueue, ids: Sequence[str], timeout: float = 120.0) -> None:
    """Fails unless every job reaches a final state within ``timeout``."""
    seen = final_times(app, lambda: ids, lambda: True, timeout)
    missing = [j for j in ids if j not in seen]
    assert not missing, f"not final after {timeout:g} s: {missing[:5]}"


def stored_wrong(app: TaskQueue, acked: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(lost, wrong): jobs without a final state and a stored result, and
    jobs that ended otherwise than SUCCESS with their own value."""
    ids = list(acked)
    states = app.state_backend.read_states(ids)
    lost, wrong = [], []
    for job_id, state in zip(ids, states, strict=True):
        doc = app.result_store.get(job_id)
        if state not in READY_STATES or doc is None or doc.get("state") != state:
            lost.append(job_id)
        elif state != "SUCCESS" or doc.get("result") != acked[job_id]:
            wrong.append(job_id)
    return lost, wrong


def run_scenario(
    app: TaskQueue,
    scenario: str,
    inject: Callable[[], Mapping[str, Any] | None],
    *,
    jobs: int = JOBS,
    seconds: float = 0.02,
    rate: float = RATE,
    inject_at: float = 1 / 3,
    countdown: float | None = None,
    timeout: float = 240.0,
    allow_failed_submissions: bool = False,
    submit: Submit | None = None,
    queues: Sequence[str] = (),
) -> Report:
    """Run ``jobs * SCALE`` jobs, call ``inject()`` once ``inject_at`` of them
    have run, wait for all, check and record them (see the module doc).
    ``inject`` may return jobs it submitted itself, ``{job id: expected
    result}``, to be checked and counted as the load's are.

    Fails the test if a job is lost or ended wrong; duplicate executions are
    only reported (``Report.duplicates``): assert them where the design
    promises none. A ``.delay()`` that raises fails the test too, unless
    ``allow_failed_submissions`` (a fault in Kafka itself): its caller saw
    the error, so the job is not counted (``Report.failed_submissions``).
    With ``queues``, duplicate follow-ups are counted and must be none:
    every id in those queues' topics must be an expected job's.
    """
    total = jobs * SCALE
    load = Load(app, total, seconds, rate, countdown, submit).start()
    threshold = max(1, int(total * inject_at))
    deadline = time.monotonic() + timeout
    while finished_bodies(app) < threshold:
        assert time.monotonic() < deadline, f"{threshold} jobs did not run before the fault"
        time.sleep(0.05)
    fault_at = time.monotonic()
    # Watched from the fault on, while the load goes on: the times are when
    # jobs became final, not when the load ended.
    extra: dict[str, Any] = {}
    injected = threading.Event()
    watched: dict[str, float] = {}
    watcher = threading.Thread(
        target=lambda: watched.update(
            final_times(
                app,
                lambda: list(load.ids) + list(extra),
                lambda: injected.is_set() and load.finished(),
                timeout,
            )
        ),
        name="rel-watch",
        daemon=True,
    )
    watcher.start()
    try:
        extra.update(inject() or {})
    finally:
        injected.set()
    load.join(timeout)
    watcher.join(timeout)
    seen = watched
    acked = {**load.acked, **extra}
    # A second look at the unseen (the watcher may have died): short, as by
    # now they are lost or nearly final.
    unseen = [j for j in acked if j not in seen]
    seen.update(final_times(app, lambda: unseen, lambda: True, min(timeout, 30.0)))
    lost, wrong = stored_wrong(app, acked)
    runs = executions(app)
    unexpected = sorted(set(queue_ids(app, queues)) - set(acked)) if queues else []
    before = [seen[j] for j, t in load.acked_at.items() if t <= fault_at and j in seen]
    row = Row(
        scenario=scenario,
        jobs=len(acked),
        lost=len(lost),
        duplicates=sum(max(0, runs.get(j, 0) - 1) for j in acked),
        recovery=max(0.0, max(before, default=fault_at) - fault_at),
        drained=max(0.0, max(seen.values(), default=fault_at) - fault_at),
        follow_up_duplicates=len(unexpected) if queues else None,
    )
    record(row)
    report = Report(row, acked, lost, wrong, runs, load.failed, unexpected)
    assert not lost, f"{scenario}: {len(lost)} acknowledged jobs lost, e.g. {lost[:5]}"
    assert not wrong, f"{scenario}: {len(wrong)} jobs ended wrong, e.g. {wrong[:5]}"
    assert not unexpected, f"{scenario}: follow-ups under unexpected ids: {unexpected[:5]}"
    if not allow_failed_submissions:
        assert not load.failed, f"{scenario}: .delay() raised: {load.failed[:3]}"
    return report


def queue_ids(app: TaskQueue, queues: Sequence[str], timeout: float = 60.0) -> Counter[str]:
    """How many records of each job id the queues' topics hold, read from
    their start to their current end (a fresh group that commits nothing)."""
    topics = [app.settings.topic(q) for q in queues]
    partitions = [(t, p) for t in topics for p in range(app.settings.partitions)]
    group = f"{app.settings.topic_prefix}reliability-reader-{uuid.uuid4().hex}"
    offsets = app.transport.consumer_offsets(dict.fromkeys(topics, group), partitions, 10.0)
    assert len(offsets) == len(partitions), f"watermarks unreadable: {sorted(offsets)}"
    # The next offset still to read, per partition, up to its end now.
    todo = {tp: o.high for tp, o in offsets.items() if o.high > o.low}
    ids: Counter[str] = Counter()
    consumer = app.transport.consumer(topics, group, 10_000)
    deadline = time.monotonic() + timeout
    try:
        while todo:
            assert time.monotonic() < deadline, f"queues not read to their end: {todo}"
            for d in consumer.poll(1000, 0.5):
                if d.tp in todo and d.offset < todo[d.tp]:
                    ids[Message.decode(d.value or b"").id] += 1
                    if d.offset == todo[d.tp] - 1:
                        del todo[d.tp]
    finally:
        consumer.close()
    return ids


def record(row: Row) -> None:
    """Add a row to this session's table and to the results file (started
    afresh by the session's first row)."""
    first = not ROWS
    ROWS.append(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w" if first else "a") as out:
        if first:
            out.write("\t".join(COLUMNS) + "\n")
        out.write("\t".join(row.cells()) + "\n")


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, ready for the README."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)
