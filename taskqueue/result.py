"""AsyncResult: the caller's handle on a job, and the shared event waiter.

``get()`` waits on the state store's events through ONE subscription per
process (:class:`ResultWaiter`), started on the first ``get()``: submitting costs
nothing when nobody waits, and a thousand waiting threads cost one
connection. The stored hash is read after registering interest, so an event
published between the read and the wait cannot be missed.

:class:`ResultSet` and :class:`GroupResult` read many results together, as
Celery's do; ``GroupResult.save()`` keeps a group's member ids in the state
store so another process can ``GroupResult.restore(id, app)`` it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, Union

from .exceptions import TaskRevokedError, TimeoutError
from .remote_errors import rebuild, without_module
from .serialization import load_tagged
from .states import PENDING, READY_STATES, SUCCESS, State
from .stores.state import StateStoreUnavailable, StateUpdate, event_job_id

if TYPE_CHECKING:
    from .app import TaskQueue
    from .stores.state import StateStore

logger = logging.getLogger("taskqueue.result")


class Wakeable(Protocol):
    """What the waiter wakes: a ``threading.Event`` or a :class:`LoopSignal`."""

    def set(self) -> None: ...


class LoopSignal:
    """An Event's ``set`` for a coroutine: the waiter's thread wakes it
    through its event loop. Created, awaited and cleared in the loop."""

    __slots__ = ("_loop", "_future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()

    def set(self) -> None:
        # A closed loop has nobody left to wake; the waiter's thread goes on.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until set (since the last ``clear``) or ``timeout`` seconds pass."""
        timer = self._loop.call_later(timeout, self._wake)
        try:
            await self._future
        finally:
            timer.cancel()

    def clear(self) -> None:
        if self._future.done():
            self._future = self._loop.create_future()


class ResultWaiter:
    """One pub/sub subscription per process; wakes the threads and coroutines
    waiting on ids."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._waiting: dict[str, list[Wakeable]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._subscribed = threading.Event()

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._subscribed.clear()
                self._thread = threading.Thread(
                    target=self._run, name="taskqueue-results", daemon=True
                )
                self._thread.start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"cannot subscribe to the job events of {self.store!r}")

    def _run(self) -> None:
        while True:
            try:
                self._listen()
            except StateStoreUnavailable as exc:
                logger.warning("result subscription lost (%s); reconnecting", exc)
                self._wake_all()  # waiters re-read the hash, so nothing is missed
                time.sleep(0.5)

    def _listen(self) -> None:
        with self.store.subscribe_events() as events:
            self._subscribed.set()
            self._wake_all()  # waiters re-read the state now that nothing can be missed
            while True:
                data = events.get(timeout=5.0)
                if data is not None and self._waiting:
                    self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        job_id = event_job_id(data)
        if job_id is None:
            return
        with self._lock:
            events = self._waiting.get(job_id, ())
            for event in events:
                event.set()

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._waiting.values():
                for event in events:
                    event.set()

    def register(self, job_id: str) -> threading.Event:
        event = threading.Event()
        self.register_signal(job_id, event)
        return event

    def register_signal(self, job_id: str, signal: Wakeable) -> None:
        """Wake ``signal`` on each event of ``job_id`` (until unregistered)."""
        self._ensure_started()
        with self._lock:
            self._waiting.setdefault(job_id, []).append(signal)

    def unregister(self, job_id: str, event: Wakeable) -> None:
        with self._lock:
            events = self._waiting.get(job_id)
            if events is not None:
                events.remove(event)
                if not events:
                    del self._waiting[job_id]


class AsyncResult:
    """Handle on one job's state and result, by id."""

    def __init__(
        self,
        id: str,  # noqa: A002
        app: TaskQueue,
        task_name: str | None = None,
        just_sent: bool = False,
    ) -> None:
        self.id = id
        self.app = app
        self.task_name = task_name
        self._cache: dict[str, str] | None = None
        # A job this process just published has no stored result to find
        # in Mongo; skipping that lookup keeps .get() on the Redis fast path.
        self._just_sent = just_sent
        self.parent: AsyncResult | ResultSet | None = None
        """The previous step's result, when a canvas built this one (Celery's
        ``parent``); known in the process that built it, not stored."""
        self._children: list[AsyncResult | ResultSet] | None = None
        self._links: tuple[dict[str, Any], ...] = ()

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _meta(self) -> dict[str, str]:
        if self._cache is not None:
            return self._cache
        meta = self.app.state.read(self.id)
        if not meta and self.app.settings.results_enabled and not self._just_sent:
            meta = self._from_results_store()  # Redis state expired or was lost
        if meta.get("state") in READY_STATES:
            self._cache = meta  # final: never changes again
        return meta

    def _from_results_store(self) -> dict[str, str]:
        doc = self.app.result_store.get(self.id)
        if not doc:
            return {}
        payload = doc.get("result") if doc.get("state") == "SUCCESS" else doc.get("error")
        return {
            "state": doc.get("state", PENDING.value),
            "payload": json.dumps(payload),
            "traceback": doc.get("traceback") or "",
            "attempt": str(doc.get("retries", 0)),
        }

    @property
    def state(self) -> str:
        """One of :class:`State` (or a custom state set by ``update_state``)."""
        state = self._meta().get("state", PENDING.value)
        try:
            return State(state)
        except ValueError:
            return state

    status = state

    @property
    def info(self) -> Any:
        """The result (SUCCESS), the exception (FAILURE, as ``get()`` would
        raise it), error details (REVOKED) or progress meta."""
        meta = self._meta()
        payload = _payload(meta)
        if meta.get("state") == State.FAILURE:
            return rebuild(self.app, payload, meta.get("traceback"))
        return payload

    @property
    def result(self) -> Any:
        return self.info

    @property
    def traceback(self) -> str | None:
        return self._meta().get("traceback") or None

    @property
    def retries(self) -> int:
        return int(self._meta().get("attempt", 0))

    @property
    def children(self) -> list[AsyncResult | ResultSet] | None:
        """What runs after this job: the next step of a canvas built here,
        else, once the job succeeded, its ``link=`` callbacks (their ids are
        the worker's deterministic follow-up ids). None when nothing is known."""
        if self._children is not None:
            return self._children
        if not self._links or not self.successful():
            return None
        from .canvas import follow_up_id_for

        attempt = self.retries
        return [
            AsyncResult(
                (sig.get("options") or {}).get("task_id")
                or follow_up_id_for(self.id, attempt, f"link/{i}"),
                self.app,
                sig.get("task"),
            )
            for i, sig in enumerate(self._links)
        ]

    @children.setter
    def children(self, value: list[AsyncResult | ResultSet] | None) -> None:
        self._children = value

    def ready(self) -> bool:
        return self.state in READY_STATES

    def successful(self) -> bool:
        return self.state == State.SUCCESS

    def failed(self) -> bool:
        return self.state == State.FAILURE

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """Wait for a final state; return the result or raise the failure."""
        meta = self._meta()
        if meta.get("state") not in READY_STATES:
            meta = self._wait(timeout)
        return self._outcome(meta, propagate)

    def _wait(self, timeout: float | None) -> dict[str, str]:
        waiter = self.app.result_waiter
        deadline = None if timeout is None else time.monotonic() + timeout
        event = waiter.register(self.id)
        try:
            while True:
                meta = self._meta()
                if meta.get("state") in READY_STATES:
                    return meta
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"job {self.id} not finished after {timeout} s "
                        f"(state {meta.get('state', 'PENDING')})"
                    )
                # The wait is capped so a lost Redis connection cannot
                # strand a caller; an event normally wakes us far earlier.
                event.wait(5.0 if remaining is None else min(remaining, 5.0))
                event.clear()
        finally:
            waiter.unregister(self.id, event)

    async def aget(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """:meth:`get` for coroutines: ``await result.aget(timeout=10)``.

        Waits on the same per-process subscription as ``get``; the waiter's
        thread wakes this coroutine through its loop. The Redis reads run in
        the loop's default executor, so the loop never blocks on them.
        """
        loop = asyncio.get_running_loop()
        meta = await loop.run_in_executor(None, self._meta)
        if meta.get("state") not in READY_STATES:
            meta = await self._await_final(loop, timeout)
        return self._outcome(meta, propagate)

    async def _await_final(
        self, loop: asyncio.AbstractEventLoop, timeout: float | None
    ) -> dict[str, str]:
        waiter = self.app.result_waiter
        deadline = None if timeout is None else time.monotonic() + timeout
        signal = LoopSignal(loop)
        # The first registration may wait for the subscription: off the loop.
        await loop.run_in_executor(None, waiter.register_signal, self.id, signal)
        try:
            while True:
                meta = await loop.run_in_executor(None, self._meta)
                if meta.get("state") in READY_STATES:
                    return meta
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"job {self.id} not finished after {timeout} s "
                        f"(state {meta.get('state', 'PENDING')})"
                    )
                # Capped for the same reason as in _wait: a lost connection.
                await signal.wait(5.0 if remaining is None else min(remaining, 5.0))
                signal.clear()
        finally:
            waiter.unregister(self.id, signal)

    def _outcome(self, meta: dict[str, str], propagate: bool) -> Any:
        payload = _payload(meta)
        state = meta.get("state")
        if state == State.SUCCESS:
            return payload
        if not propagate:
            # The error as documented; exc_module only serves the rebuild.
            return without_module(payload) if state == State.FAILURE else payload
        if state == State.REVOKED:
            raise TaskRevokedError(f"job {self.id} was revoked")
        # The task's own exception type where it is safe (taskqueue.remote_errors).
        raise rebuild(self.app, payload, meta.get("traceback"))

    wait = get

    def revoke(self, terminate: bool = False, reason: str = "") -> bool:
        """Never start this job; with ``terminate``, stop it if running (see
        ``taskqueue.policies.revoke``). False if it had finished already."""
        self._cache = None
        return self.app.revocations.revoke(self.id, terminate, reason)

    def forget(self) -> None:
        """Delete the stored state and result."""
        self._cache = None
        self.app.state.forget(self.id)
        if self.app.settings.results_enabled:
            self.app.result_store.forget(self.id)


def _payload(meta: dict[str, str]) -> Any:
    """The value stored with a state (result, error, progress meta), None
    without one. A result's dates, decimals, UUIDs and bytes are stored
    tagged (taskqueue.serialization): they come back with their types."""
    raw = meta.get("payload")
    return load_tagged(raw) if raw else None


AnyResult = Union[AsyncResult, "ResultSet", Any]
"""A member of a :class:`ResultSet`: an AsyncResult, an EagerResult or a nested set."""


class ResultSet:
    """Several results read together (Celery's ``ResultSet``)."""

    def __init__(self, results: Iterable[AnyResult], app: TaskQueue | None = None) -> None:
        self.results: list[Any] = list(results)  # AsyncResult, EagerResult or a nested set
        self._app = app
        self.parent: AsyncResult | ResultSet | None = None

    @property
    def app(self) -> TaskQueue:
        app = self._app or next((r.app for r in self.results if hasattr(r, "app")), None)
        if app is None:
            raise RuntimeError("this result set has no app: pass app=")
        return app

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[AnyResult]:
        return iter(self.results)

    def __getitem__(self, index: int) -> AnyResult:
        return self.results[index]

    def add(self, result: AnyResult) -> None:
        if result not in self.results:
            self.results.append(result)

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        return any(r.failed() for r in self.results)

    def waiting(self) -> bool:
        return not self.ready()

    def completed_count(self) -> int:
        return sum(1 for r in self.results if r.successful())

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        """Every member's result, in order (``timeout`` applies to the whole set)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = []
        for r in self.results:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            out.append(r.get(timeout=left, propagate=propagate))
        return out

    join = get

    def revoke(self, terminate: bool = False, reason: str = "") -> None:
        for r in self.results:
            r.revoke(terminate=terminate, reason=reason)

    def forget(self) -> None:
        for r in self.results:
            r.forget()


GROUP_RECORD = "taskqueue.group"
"""The ``task`` field of a saved group's state-store record (``GroupResult.save``)."""


class GroupResult(ResultSet):
    """Results of a group's members, in order, under the group's id."""

    def __init__(
        self,
        id: str,  # noqa: A002 - Celery's name
        results: Iterable[AnyResult] = (),
        parent: AsyncResult | ResultSet | None = None,
        app: TaskQueue | None = None,
    ) -> None:
        super().__init__(results, app)
        self.id = id
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} ({len(self.results)})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GroupResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def save(self) -> GroupResult:
        """Store the member ids under the group id in the state store (for
        ``state_ttl``), so any process can :meth:`restore` this result."""
        ids = [_saved_member(r) for r in self.results]
        self.app.state.write(
            StateUpdate(self.id, SUCCESS.value, 0, task=GROUP_RECORD, payload={"results": ids})
        )
        return self

    @classmethod
    def restore(cls, id: str, app: TaskQueue) -> GroupResult | None:  # noqa: A002
        """The group result :meth:`save` stored, or None if there is none."""
        meta = app.state.read(id)
        if meta.get("task") != GROUP_RECORD or not meta.get("payload"):
            return None
        ids = json.loads(meta["payload"])["results"]
        return cls(id, [_restored_member(app, m) for m in ids], app=app)

    def delete(self) -> None:
        """Remove what :meth:`save` stored."""
        self.app.state.forget(self.id)


def _saved_member(result: Any) -> Any:
    if isinstance(result, GroupResult):
        return {"group": result.id, "results": [_saved_member(r) for r in result.results]}
    return result.id


def _restored_member(app: TaskQueue, saved: Any) -> AnyResult:
    if isinstance(saved, dict):
        members = [_restored_member(app, m) for m in saved["results"]]
        return GroupResult(saved["group"], members, app=app)
    return AsyncResult(saved, app)
