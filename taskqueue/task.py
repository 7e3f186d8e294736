"""Task: a registered function plus the ways to call it.

Arguments and call options never share a namespace: ``delay(*args,
**kwargs)`` passes task arguments only; options go through
``apply_async(args, kwargs, **options)``. A task may therefore take any
argument name it likes (``queue``, ``countdown``, ``description``...).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
import time
import traceback as tb
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import publish_retry
from .canvas import SignatureLike, as_signatures
from .exceptions import Ignore, MaxRetriesExceeded, Reject, Retry
from .lifecycle import ExceptionInfo
from .message import Message, new_id
from .message_checks import check_idempotency_key
from .policies.expiry import epoch, expiry_time
from .policies.priority import queue_for_priority
from .routes import task_queue
from .serialization import check_serializer
from .states import FAILURE, PROGRESS, RETRY, STARTED, SUCCESS, State

if TYPE_CHECKING:
    from .app import TaskQueue
    from .canvas import Chunks, Signature
    from .result import AsyncResult

SHADOW_HEADER = "shadow"
"""Envelope header of ``apply_async(shadow=)``, Celery's header name."""


@dataclass
class Request:
    """What a running task knows about its job (``self.request``)."""

    id: str | None
    """None when the task was called directly (``called_directly``), as in Celery."""
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    queue: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    delivery_info: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False
    hostname: str | None = None
    is_eager: bool = False
    called_directly: bool = False
    """Called as a function (``add(2, 2)``), not run by a worker or ``apply``."""
    eta: str | None = None
    """The message's eta, ISO 8601 in UTC (Celery's form), or None."""
    expires: str | None = None
    """The message's expiry, ISO 8601 in UTC, or None."""
    callbacks: list[dict[str, Any]] | None = None
    """``link=`` signatures (dicts), or None."""
    errbacks: list[dict[str, Any]] | None = None
    """``link_error=`` signatures (dicts), or None."""
    chord: dict[str, Any] | None = None
    """The chord's callback signature when this job is a chord member."""
    origin: str | None = None
    """The publisher's host:pid."""
    calling: bool = False
    """Set while the worker enters a task class's own ``__call__``."""
    started_pending: bool = False
    """STARTED is queued in the worker loop, not stored yet (thread pool)."""
    message: Message | None = None
    shadow: str | None = None
    """The display name the caller gave (``apply_async(shadow=)``), or None."""
    pending_retry: Retry | None = None
    """``self.retry(throw=False)``: the attempt ends RETRY once the body returns."""

    @classmethod
    def from_message(cls, message: Message, **extra: Any) -> Request:
        return cls(
            id=message.id,
            task=message.task,
            args=message.args,
            kwargs=message.kwargs,
            retries=message.retries,
            root_id=message.root_id,
            parent_id=message.parent_id,
            group=message.group,
            queue=message.queue,
            headers=message.headers,
            eta=_iso(message.eta),
            expires=_iso(message.expires),
            callbacks=list(message.callbacks) or None,
            errbacks=list(message.errbacks) or None,
            chord=_chord_callback(message.headers),
            origin=message.origin,
            message=message,
            shadow=message.headers.get(SHADOW_HEADER),
            **extra,
        )


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat()


def _chord_callback(headers: dict[str, Any]) -> dict[str, Any] | None:
    from .message_checks import CHORD_HEADER

    info = headers.get(CHORD_HEADER)
    callback = info.get("callback") if isinstance(info, dict) else None
    return callback if isinstance(callback, dict) else None


_context = threading.local()


def current_request() -> Request | None:
    stack = getattr(_context, "stack", None)
    return stack[-1] if stack else None


class RequestContext:
    """Pushes a request for the duration of a task call (thread-local)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __enter__(self) -> Request:
        stack = getattr(_context, "stack", None)
        if stack is None:
            stack = _context.stack = []
        stack.append(self.request)
        return self.request

    def __exit__(self, *exc: object) -> None:
        _context.stack.pop()


_FROM_CLASS: Any = object()
"""Default of a ``Task`` argument: take the class attribute (see ``Task``)."""


class Task:
    """A task bound to an app. Created by ``@app.task``; call options below.

    Subclass it for shared behaviour, as in Celery (``@app.task(base=MyTask)``
    or ``class MyTask(app.Task)``): override the hooks below, and set any
    task option as a class attribute (``max_retries = 5``, ``rate_limit =
    "10/m"``, ``autoretry_for = (IOError,)``); the decorator's options win
    over the class's, which win over the defaults.
    """

    queue: str = ""
    """Queue of the task's jobs; empty means the app's ``default_queue``."""
    max_retries: int | None = 3
    default_retry_delay: float = 180.0
    """Seconds before a retry that gives no countdown or eta (Celery's default)."""
    autoretry_for: tuple[type[BaseException], ...] = ()
    acks_late: bool = True
    """Always true: a job is acknowledged once it finished."""
    ignore_result: bool = False
    """Drop the return value: SUCCESS is stored without it (``get()`` gives None)."""
    track_started: bool = True
    """Always true here: STARTED is stored for every job (redelivery relies on it)."""

    def __init__(
        self,
        app: TaskQueue | None = None,
        fn: Callable[..., Any] | None = None,
        name: str | None = None,
        bind: bool = False,
        queue: str | None = None,
        max_retries: int | None = _FROM_CLASS,
        default_retry_delay: float = _FROM_CLASS,
        autoretry_for: Sequence[type[BaseException]] = _FROM_CLASS,
        options: dict[str, Any] | None = None,
    ) -> None:
        if app is None or fn is None or name is None:
            # Celery's class-based task, ``CustomTask()``: not bound to an
            # app yet; ``app.register_task`` binds it by calling this again.
            return
        self.app = app
        self.fn = fn
        self.name = name
        self.bind = bind
        self.declared_queue = queue or self.queue
        """The queue the decorator or class named; "" leaves it to task_routes."""
        self.queue = task_queue(app, name, self.declared_queue)
        if max_retries is not _FROM_CLASS:
            self.max_retries = max_retries
        if default_retry_delay is not _FROM_CLASS:
            self.default_retry_delay = default_retry_delay
        if autoretry_for is not _FROM_CLASS:
            self.autoretry_for = tuple(autoretry_for)
        self.options = dict(options or {})
        for core in ("ignore_result", "track_started"):
            if core in self.options:
                setattr(self, core, bool(self.options.pop(core)))
        for key, value in self.options.items():
            if hasattr(type(self), key):  # the decorator's value over the class's
                setattr(self, key, value)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __getattr__(self, name: str) -> Any:
        # Middleware-owned options read as attributes too (``add.rate_limit``).
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function directly in this thread (no queue, no state).

        ``self.request`` then has ``called_directly`` set and no id, as in Celery.
        """
        running = current_request()
        if running is not None and running.calling and running.task == self.name:
            running.calling = False  # the worker entering a class's own __call__
            return self.run(*args, **kwargs)
        direct = Request(id=None, task=self.name, args=args, kwargs=kwargs, called_directly=True)
        with RequestContext(direct):
            return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(self, *args, **kwargs) if self.bind else self.fn(*args, **kwargs)

    @property
    def request(self) -> Request:
        request = current_request()
        if request is None:
            raise RuntimeError(f"{self.name}: self.request is only available while the task runs")
        return request

    # --- hooks (Celery's names and arguments; see taskqueue.lifecycle) --------------
    def before_start(
        self, task_id: str | None, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> None:
        """Right before the body; an error here fails the job like the body's."""

    def on_success(
        self, retval: Any, task_id: str | None, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> None:
        """The body returned ``retval``."""

    def on_failure(
        self,
        exc: BaseException,
        task_id: str | None,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        einfo: ExceptionInfo,
    ) -> None:
        """The attempt failed for good with ``exc`` (no retry follows)."""

    def on_retry(
        self,
        exc: BaseException,
        task_id: str | None,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        einfo: ExceptionInfo,
    ) -> None:
        """The attempt ends and the job will run again (``exc``: the reason)."""

    def after_return(
        self,
        status: str,
        retval: Any,
        task_id: str | None,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        einfo: ExceptionInfo | None,
    ) -> None:
        """After any of the three above (``retval``: the result or the exception)."""

    # --- calling -----------------------------------------------------------
    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Queue a call with these arguments and the task's default options."""
        return self.apply_async(args, kwargs)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Celery's (Django): :meth:`delay` once the surrounding database
        transaction commits; nothing if it rolls back. Needs Django."""
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """:meth:`apply_async` once the transaction commits (``using=`` names
        the database); see :mod:`taskqueue.contrib.django.transaction`."""
        from .contrib.django.transaction import apply_async_on_commit

        apply_async_on_commit(self, args, kwargs, **options)

    async def adelay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """:meth:`delay` for coroutines: ``result = await task.adelay(2, 2)``."""
        return await self.aapply_async(args, kwargs)

    async def aapply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult:
        """:meth:`apply_async` for coroutines; returns once Kafka acknowledged.

        The envelope is built and handed to the producer in the calling
        thread (microseconds); the wait for the broker's ack does not block
        the event loop and takes no thread. (The ``a`` prefix is Django's
        convention for async variants: ``aget``, ``asave``.) With
        ``idempotency_key`` or ``always_eager``, which talk to Redis or run
        the task, the blocking call runs in the loop's default executor.
        """
        if options.get("idempotency_key") is not None or self.app.settings.always_eager:
            call = functools.partial(self.apply_async, args, kwargs, **options)
            return await asyncio.get_running_loop().run_in_executor(None, call)
        return await self.app.publish_async(lambda: self.apply_async(args, kwargs, **options))

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        task_id: str | None = None,
        queue: str | None = None,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
        countdown: float | None = None,
        eta: float | dt.datetime | None = None,
        expires: float | dt.datetime | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
        group: str | None = None,
        link: SignatureLike = None,
        link_error: SignatureLike = None,
        idempotency_key: str | None = None,
        serializer: str | None = None,
        priority: int | None = None,
        retry: bool | None = None,
        retry_policy: dict[str, Any] | None = None,
        shadow: str | None = None,
    ) -> AsyncResult:
        """Queue a call; returns once the broker acknowledged it (or raises).

        ``countdown`` is seconds from now; ``eta`` an aware datetime or epoch
        seconds; ``expires`` seconds from now or an aware datetime (Celery's
        meaning), default the task's ``expires`` option. Inside a running
        task, ``parent_id`` and ``root_id`` default to the running job's, so
        workflows are traceable. With ``idempotency_key``, a second submission
        with the same key returns the first job's result and publishes nothing
        (``taskqueue.policies.idempotency``). ``link`` (run with the result on
        success) and ``link_error`` (run with the job id on failure) take one
        signature or a list, as in Celery.
        """
        if self.app.settings.always_eager:
            return self.apply(args, kwargs, task_id=task_id)  # type: ignore[return-value]
        parent = current_request()
        job_id = task_id or new_id()
        if idempotency_key is not None:
            from .policies import idempotency

            check_idempotency_key(idempotency_key)
            job_id = task_id or idempotency.job_id_for(idempotency_key)
            existing = idempotency.claim(self.app, idempotency_key, job_id)
            if existing is not None:
                from .result import AsyncResult

                return AsyncResult(existing, self.app, self.name)
        weights = self.app.settings.queue_weights
        message = Message(
            id=job_id,
            task=self.name,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            queue=queue or queue_for_priority(priority, weights) or self.queue,
            root_id=root_id or (parent.root_id or parent.id if parent else None) or job_id,
            parent_id=parent_id or (parent.id if parent and not parent.is_eager else None),
            group=group,
            eta=time.time() + countdown if countdown else epoch(eta),
            expires=expiry_time(expires if expires is not None else self.options.get("expires")),
            sent_at=time.time(),
            callbacks=as_signatures(link, "link"),
            errbacks=as_signatures(link_error, "link_error"),
            headers={**(headers or {}), **({SHADOW_HEADER: shadow} if shadow else {})},
            routing_key=routing_key,
            origin=self.app.hostname,
            serializer=check_serializer(serializer or self.app.settings.task_serializer),
        )
        if idempotency_key is None:
            return _with_links(
                publish_retry.publish(self.app, message, retry, retry_policy), message
            )
        from .policies import idempotency

        key = idempotency_key
        try:
            result = _with_links(
                publish_retry.publish(self.app, message, retry, retry_policy), message
            )
        except Exception:
            idempotency.release(self.app, key, job_id)
            raise
        # Bound to the job only once Kafka acknowledged it (in bulk(): when
        # the block's wait succeeds).
        self.app.after_acknowledged(lambda: idempotency.confirm(self.app, key, job_id))
        return result

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        task_id: str | None = None,
    ) -> EagerResult:
        """Run now, in this thread, as a worker would (retries run inline).

        Hooks and task signals fire as in a worker. ``Ignore`` gives an
        IGNORED result; ``Reject`` a FAILURE (even with ``requeue=True``).
        """
        message = Message(
            id=task_id or new_id(),
            task=self.name,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            queue=self.queue,
            sent_at=time.time(),
        )
        while True:
            request = Request.from_message(message, is_eager=True, hostname=self.app.hostname)
            outcome = self._apply_once(request)
            if outcome.state != RETRY:
                return outcome
            again = outcome.result if isinstance(outcome.result, Retry) else Retry()
            message = message.retry(None, again.retry_args, again.retry_kwargs)
            countdown = again.countdown
            if countdown:
                time.sleep(countdown)

    def _apply_once(self, request: Request) -> EagerResult:
        """One eager attempt with its hooks; RETRY carries the Retry raised."""
        from . import lifecycle

        job_id = request.id or ""
        with RequestContext(request):
            lifecycle.prerun(self, request)
            try:
                value = run_body(self, request)
            except Ignore:
                lifecycle.ended(self, request, lifecycle.IGNORED)
                return EagerResult(job_id, lifecycle.IGNORED, None)
            except Reject as exc:  # nothing to requeue to: the call ends here
                lifecycle.ended(self, request, lifecycle.REJECTED, exc)
                return EagerResult(job_id, FAILURE, exc, tb.format_exc())
            except Retry as exc:
                lifecycle.ended(self, request, RETRY, exc=exc, traceback=tb.format_exc())
                return EagerResult(job_id, RETRY, exc)
            except Exception as exc:
                trace = tb.format_exc()
                if self.should_autoretry(exc, request.retries):
                    retry = Retry(exc=exc)
                    lifecycle.ended(self, request, RETRY, exc=retry, traceback=trace)
                    return EagerResult(job_id, RETRY, retry)
                lifecycle.ended(self, request, FAILURE, exc=exc, traceback=trace)
                return EagerResult(job_id, FAILURE, exc, trace)
            lifecycle.ended(self, request, SUCCESS, value)
            return EagerResult(job_id, SUCCESS, value)

    # --- inside a running task ---------------------------------------------
    def update_state(
        self, task_id: str | None = None, state: str | State = PROGRESS, meta: Any = None
    ) -> None:
        """Store a (usually PROGRESS) state with ``meta``; shown by ``AsyncResult.info``."""
        request = current_request()
        if request is not None and (request.is_eager or request.called_directly) and not task_id:
            return  # eager and direct calls have no stored state
        from .stores.state import StateUpdate

        attempt = request.retries if request else 0
        job_id = task_id or self.request.id
        assert job_id is not None
        update = StateUpdate(job_id, str(state), attempt, task=self.name, payload=meta)
        if request is not None and request.started_pending and job_id == request.id:
            # Store STARTED first, or this (higher-ranked) state would make
            # the loop's batched STARTED arrive late and be dropped.
            request.started_pending = False
            started = StateUpdate(job_id, STARTED.value, attempt, worker=request.hostname or "")
            self.app.state_backend.write_batch([started, update])
        else:
            self.app.state_backend.write(update)

    def progress(self, current: float, total: float | None = None, message: str = "") -> None:
        """Report progress: ``{"current", "total", "percent", "message"}``."""
        percent = round(100.0 * current / total, 1) if total else None
        self.update_state(
            state=PROGRESS,
            meta={
                "current": current,
                "total": total,
                "percent": percent,
                "message": message,
            },
        )

    def retry(
        self,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: float | dt.datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
    ) -> Retry:
        """Run this job again (``raise self.retry(...)``), Celery's signature.

        ``args``/``kwargs`` replace the next attempt's arguments; ``eta``
        (aware datetime or epoch) or ``countdown`` says when, else the retry
        policy (``retry_backoff``) or ``default_retry_delay`` (180 s).
        ``throw=False`` returns the :class:`Retry` instead of raising it: the
        attempt then ends RETRY when the body returns (its value is dropped),
        since a job's final state is what stops its copies from running.
        """
        if eta is not None:
            countdown = max(0.0, (epoch(eta) or 0.0) - time.time())
        limit = self.max_retries if max_retries is None else max_retries
        if self.request.called_directly:  # nothing would run it again (Celery's rule)
            raise exc if exc is not None else Retry("task called directly cannot be retried")
        if limit is not None and self.request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceeded(
                f"{self.name}[{self.request.id}] gave up after {limit} retries"
            )
        if countdown is None:
            message = self.request.message
            if message is None:  # called outside a run: only id and attempt are known
                message = Message(
                    id=self.request.id or "", task=self.name, retries=self.request.retries
                )
            countdown = self.app.middleware.retry_delay(self.app, self, message, exc)
            if countdown is None:
                countdown = self.default_retry_delay
        again = Retry(exc=exc, countdown=countdown)
        again.retry_args = tuple(args) if args is not None else None
        again.retry_kwargs = dict(kwargs) if kwargs is not None else None
        if throw:
            raise again
        self.request.pending_retry = again
        return again

    def should_autoretry(self, exc: BaseException, retries: int) -> bool:
        return (
            bool(self.autoretry_for)
            and isinstance(exc, self.autoretry_for)
            and (self.max_retries is None or retries < self.max_retries)
        )

    def signature(
        self, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Signature:
        """A call description (a JSON-ready dict), usable as ``link=[...]`` or in canvas."""
        from .canvas import Signature

        return Signature(self.name, args, kwargs, options, self.app)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """Shortcut: ``task.s(1, y=2)`` is ``task.signature((1,), {"y": 2})``."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """Immutable signature: as a callback it ignores the parent's result."""
        return self.signature(args, kwargs, immutable=True)

    subtask = signature

    def map(self, it: Sequence[Any]) -> Signature:
        """One job calling this task with each item: ``~add.map([1, 2])``."""
        from .canvas import xmap

        return xmap(self.s(), it)

    def starmap(self, it: Sequence[Sequence[Any]]) -> Signature:
        """One job calling ``task(*item)`` for each item."""
        from .canvas import xstarmap

        return xstarmap(self.s(), it)

    def chunks(self, it: Sequence[Sequence[Any]], n: int) -> Chunks:
        """The items as jobs of ``n`` calls each (``task(*item)``); a group."""
        from .canvas import Chunks

        return Chunks(self.s(), it, n)


def run_body(task: Task, request: Request) -> Any:
    """The body (taskqueue.lifecycle), then a ``retry(throw=False)`` it asked for."""
    from . import lifecycle

    value = lifecycle.run_body(task, request)
    if request.pending_retry is not None:
        raise request.pending_retry
    return value


def class_options(base: type[Task], names: frozenset[str]) -> dict[str, Any]:
    """Options among ``names`` (those middleware own: ``rate_limit``,
    ``time_limit``...) set as class attributes of a Task subclass; the
    nearest class wins, as attribute lookup would."""
    found: dict[str, Any] = {}
    for klass in reversed(base.__mro__[: base.__mro__.index(Task)]):
        found.update((k, v) for k, v in vars(klass).items() if k in names)
    return found


def _with_links(result: AsyncResult, message: Message) -> AsyncResult:
    """Remember the ``link=`` callbacks: ``result.children`` finds them later."""
    result._links = message.callbacks
    return result


class EagerResult:
    """Result of :meth:`Task.apply`: already final, nothing stored."""

    parent: Any = None
    """The previous step's result in an eagerly applied canvas."""
    children: list[Any] | None = None

    def __init__(
        self,
        id: str,  # noqa: A002
        state: State | str,
        value: Any,
        traceback: str | None = None,
    ) -> None:
        self.id = id
        self.state = state
        self.status = state
        self._value = value
        self.traceback = traceback

    def __repr__(self) -> str:
        return f"<EagerResult {self.id} {self.state}>"

    @property
    def result(self) -> Any:
        return self._value

    info = result

    def ready(self) -> bool:
        return True

    def successful(self) -> bool:
        return self.state == SUCCESS

    def failed(self) -> bool:
        return self.state == FAILURE

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        if self.state == FAILURE and propagate:
            raise self._value
        return self._value
