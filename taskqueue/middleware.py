"""Lifecycle hooks: features plug in here instead of subclassing the worker.

Two kinds of hook. **Deciding hooks** are where delivery policies live
(``taskqueue.policies``); the worker calls only the chain, never a policy:

``admit(app, batch)``
    Before a job runs, twice: when its record arrives (stage ``RECEIVED``,
    in the poll loop, the whole fetched batch at once so a policy can ask a
    store once per batch) and right before its body starts (stage
    ``STARTING``, in the pool, a batch of one). A policy may *refuse* a job
    (it ends with a final state without running: expiry, revoke) or *defer*
    it (it travels through the Kafka delay tiers and comes back later: rate
    limits). The first verdict wins; later policies skip decided jobs.
``around_execute(app, execution, call)``
    Wraps the task body (time limits). Must call ``call()`` once and return
    its value; whatever it raises is the task's error.
``retry_delay(app, task, message, exc)``
    Seconds an automatic retry waits (backoff); the first non-None wins.
``on_outcome(app, message, outcome)``
    How an attempt ended, in the poll loop, before anything is stored. May
    return a replacement outcome. Its default calls the notification hooks
    below, so a middleware that only wants to watch overrides those.

**Notification hooks** (``before_publish``, ``after_publish``, ``received``,
``started``, ``succeeded``, ``failed``, ``retried``) watch and cannot change
a job's fate.

Hooks are typed methods, called by name in code (never built with
``getattr("before_" + name)``), so a typo fails at import time.

Error policy, stated once: a notification hook that raises is logged with
the job's id. If its middleware has ``abort_on_error = True``, an error in
``before_publish`` aborts the publish (the caller gets the exception) and an
error in ``started`` fails the job before the task body runs. A deciding
hook that raises is a bug in a policy: at ``admit`` (unless the state
store says the error is its own: then it propagates as a store error) the
job is refused with the error (it ends FAILURE and goes to the dead-letter topic rather than
running unchecked); in ``around_execute`` the error is the task's; in
``retry_delay`` and ``on_outcome`` it is logged and the hook is skipped.

Where hooks run: publish hooks in the publishing process; ``admit`` at
``RECEIVED``, ``on_outcome``, ``received``, ``succeeded``, ``failed``,
``retried`` in the worker's main process; ``admit`` at ``STARTING``,
``around_execute``, ``retry_delay`` and ``started`` in the pool (a thread,
or the child process of a process pool).
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .message import Message

if TYPE_CHECKING:
    from .app import TaskQueue
    from .task import Task
    from .worker.execute import Outcome

logger = logging.getLogger("taskqueue.middleware")


class Stage(enum.Enum):
    """When ``admit`` is asked."""

    RECEIVED = "received"
    """The record just arrived in the poll loop (a whole batch at once)."""
    STARTING = "starting"
    """The body is about to start in the pool (a batch of one)."""


class VerdictKind(enum.Enum):
    REFUSE = "refuse"
    """End the job now with a final state; never run it."""
    DEFER = "defer"
    """Send it through the delay tiers; it comes back at ``eta``."""


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    state: str = ""
    """Final state of a refused job (REVOKED, FAILURE)."""
    error: dict[str, str] | None = None
    eta: float = 0.0
    """Epoch seconds a deferred job is due."""
    reason: str = ""


@dataclass(slots=True)
class Admission:
    """One job asking to run, and the verdict of the first policy that decided."""

    message: Message
    stage: Stage
    now: float
    verdict: Verdict | None = None

    @property
    def decided(self) -> bool:
        return self.verdict is not None

    def refuse(self, state: str, error: dict[str, str]) -> None:
        self.verdict = Verdict(VerdictKind.REFUSE, state=state, error=dict(error))

    def defer(self, eta: float, reason: str) -> None:
        if self.stage is not Stage.RECEIVED:
            # A job in the pool cannot go back to Kafka; only the loop defers.
            raise ValueError(f"a job can be deferred only when received, not at {self.stage}")
        self.verdict = Verdict(VerdictKind.DEFER, eta=eta, reason=reason)


@dataclass(frozen=True, slots=True)
class Execution:
    """What ``around_execute`` knows about the body it wraps."""

    message: Message
    task: Task
    in_child: bool
    """True in a process-pool child (signals can interrupt the body)."""
    abandon: Callable[[], None] | None = None
    """Thread pool: give up on a body that outlived its hard limit."""


class Middleware:
    """Subclass and override the hooks you need; all default to no-ops."""

    abort_on_error: bool = False
    """Whether an error in ``before_publish``/``started`` aborts (see module doc)."""

    options: frozenset[str] = frozenset()
    """Task options this middleware owns; ``@app.task`` accepts only declared ones."""

    # --- deciding hooks --------------------------------------------------------
    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        """Decide (refuse or defer) undecided admissions; leave the rest alone."""

    def around_execute(self, app: TaskQueue, execution: Execution, call: Callable[[], Any]) -> Any:
        return call()

    def retry_delay(
        self, app: TaskQueue, task: Task, message: Message, exc: BaseException | None
    ) -> float | None:
        return None

    def on_outcome(self, app: TaskQueue, message: Message, outcome: Outcome) -> Outcome | None:
        if outcome.state == "SUCCESS":
            self.succeeded(message, outcome.result, outcome.runtime)
        elif outcome.state == "RETRY":
            self.retried(message, outcome.error or {}, outcome.countdown)
        else:
            self.failed(message, outcome.error or {})
        return None

    # --- notification hooks ----------------------------------------------------
    def before_publish(self, message: Message) -> None: ...

    def after_publish(self, message: Message) -> None: ...

    def received(self, message: Message) -> None: ...

    def started(self, message: Message) -> None: ...

    def succeeded(self, message: Message, result: Any, runtime: float) -> None: ...

    def failed(self, message: Message, error: dict[str, Any]) -> None: ...

    def retried(self, message: Message, error: dict[str, Any], countdown: float | None) -> None: ...


class MiddlewareChain:
    """Calls every middleware's hook in order, applying the error policy."""

    def __init__(self, middleware: Iterable[Middleware] = ()) -> None:
        self._items: list[Middleware] = list(middleware)
        self._index()

    def add(self, middleware: Middleware) -> None:
        self._items.append(middleware)
        self._index()

    def _index(self) -> None:
        """Per hook, only the middleware that override it: the worker calls
        these hooks for every job, and most middleware override one or two."""
        self._admit = _overriding(self._items, "admit")
        self._around = _overriding(self._items, "around_execute")
        self._retry_delay = _overriding(self._items, "retry_delay")
        # The default on_outcome calls the notification hooks.
        self._outcome = _overriding(self._items, "on_outcome", "succeeded", "failed", "retried")
        self._notified = {
            hook: _overriding(self._items, hook)
            for hook in ("before_publish", "after_publish", "received", "started")
        }

    def __iter__(self) -> Iterator[Middleware]:
        return iter(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def declared_options(self) -> frozenset[str]:
        names: set[str] = set()
        for m in self._items:
            names |= m.options
        return frozenset(names)

    # --- deciding hooks --------------------------------------------------------
    def admit(self, app: TaskQueue, batch: Sequence[Admission]) -> None:
        """Ask each policy in order; a policy sees only undecided admissions."""
        for m in self._admit:
            undecided = [a for a in batch if not a.decided]
            if not undecided:
                return
            try:
                m.admit(app, undecided)
            except Exception as exc:
                if app.state.owns_error(exc):
                    # The store is unreachable, the policy is not undecided:
                    # refusing would fail every job of the batch for a blip.
                    # The worker treats it as the store error it is.
                    raise
                # Running a job its policy could not check would break the
                # policy's promise (a revoked job starting, a limit ignored):
                # refuse it instead, visibly.
                logger.exception("policy %s.admit failed", type(m).__name__)
                error = {
                    "exc_type": "PolicyError",
                    "exc_message": f"{type(m).__name__} could not decide: {exc}",
                }
                for a in undecided:
                    if not a.decided:
                        a.refuse("FAILURE", error)

    def execute(self, app: TaskQueue, execution: Execution, body: Callable[[], Any]) -> Any:
        """Run ``body`` wrapped by every ``around_execute``, the first outermost."""
        call = body
        for m in reversed(self._around):
            call = _wrap(m, app, execution, call)
        return call()

    def retry_delay(
        self, app: TaskQueue, task: Task, message: Message, exc: BaseException | None
    ) -> float | None:
        for m in self._retry_delay:
            call = functools.partial(m.retry_delay, app, task, message, exc)
            delay = _logged(m, "retry_delay", message, call)
            if delay is not None:
                return delay
        return None

    def on_outcome(self, app: TaskQueue, message: Message, outcome: Outcome) -> Outcome:
        """Let each middleware see (and possibly replace) how the attempt ended."""
        for m in self._outcome:
            call = functools.partial(m.on_outcome, app, message, outcome)
            replaced = _logged(m, "on_outcome", message, call)
            if replaced is not None:
                outcome = replaced
        return outcome

    # --- notification hooks ----------------------------------------------------
    def _notify(
        self, hook: Callable[[Middleware], None], name: str, message: Message, abortable: bool
    ) -> None:
        for m in self._notified[name]:
            try:
                hook(m)
            except Exception:
                logger.exception(
                    "middleware %s.%s failed (task %s, id %s)",
                    type(m).__name__,
                    name,
                    message.task,
                    message.id,
                )
                if abortable and m.abort_on_error:
                    raise

    # One typed method per hook, so call sites are checked statically.
    def before_publish(self, message: Message) -> None:
        self._notify(lambda m: m.before_publish(message), "before_publish", message, True)

    def after_publish(self, message: Message) -> None:
        self._notify(lambda m: m.after_publish(message), "after_publish", message, False)

    def received(self, message: Message) -> None:
        self._notify(lambda m: m.received(message), "received", message, False)

    def started(self, message: Message) -> None:
        self._notify(lambda m: m.started(message), "started", message, True)


def _logged(m: Middleware, hook: str, message: Message, call: Callable[[], Any]) -> Any:
    """``call()``, or None after logging its error: for hooks whose error
    must not change the job's fate (see the module doc)."""
    try:
        return call()
    except Exception:
        logger.exception(
            "middleware %s.%s failed (task %s, id %s)",
            type(m).__name__,
            hook,
            message.task,
            message.id,
        )
        return None


def _overriding(items: list[Middleware], *hooks: str) -> list[Middleware]:
    return [
        m for m in items if any(getattr(type(m), h) is not getattr(Middleware, h) for h in hooks)
    ]


def _wrap(
    m: Middleware, app: TaskQueue, execution: Execution, call: Callable[[], Any]
) -> Callable[[], Any]:
    return lambda: m.around_execute(app, execution, call)
