"""TaskQueue: the application object (settings, task registry, publishing).

Building an app never connects to anything: the transport, Redis and Mongo
clients are created on first use, so importing a module that defines an app
is always safe.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import shared
from .config import Conf, Settings
from .deadletter import DeadLetters, topic_configs
from .delays import tier_topics
from .discovery import Packages, autodiscover, run_pending
from .exceptions import ConfigurationError, NotRegistered
from .message import Message, new_id
from .middleware import Middleware, MiddlewareChain
from .policies import default_policies
from .policies.ratelimit import RateLimiter, parse_rate
from .policies.revoke import Control, Revocations
from .publisher import Publisher
from .replication import Shortfall, check_topics, replication_factor
from .result import AsyncResult, ResultWaiter
from .signal_middleware import SignalMiddleware
from .signals import Signal
from .stores.results import ResultStore, create_result_store
from .stores.state import StateStore, create_state_store
from .task import Task, class_options
from .transport import PublishHandle, Transport, create_transport

if TYPE_CHECKING:
    from .canvas import Signature

logger = logging.getLogger("taskqueue.app")

_T = TypeVar("_T")

_CORE_TASK_OPTIONS = frozenset(
    {
        "name",
        "bind",
        "base",
        "queue",
        "max_retries",
        "default_retry_delay",
        "autoretry_for",
        "acks_late",
        "ignore_result",
        "track_started",
    }
)
"""Options ``@app.task`` understands itself; middleware may declare more."""

_ALIASES = {"broker": "broker_url", "backend": "redis_url"}
"""Celery's keyword names, accepted for familiarity."""


_BaseTask = Task


class _TaskClass:
    # Declared on a base class: a ``Task`` attribute in TaskQueue's own body
    # would shadow the Task class in every annotation written there.
    Task: type[_BaseTask] = _BaseTask
    """Base class of this app's tasks (``class MyTask(app.Task)``, as in Celery)."""


class TaskQueue(_TaskClass):
    """A task queue application. ``app = TaskQueue("name", broker="kafka://...")``."""

    def __init__(
        self,
        main: str = "taskqueue",
        *,
        settings_object: object | None = None,
        middleware: Iterable[Middleware] = (),
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        for alias, real in _ALIASES.items():
            if alias in options:
                options[real] = options.pop(alias)
        if "task_cls" in options:  # Celery's keyword: the default base of @app.task
            self.Task = options.pop("task_cls")
        self.main = main
        self.settings = Settings.load(env=env, settings_object=settings_object, **options)
        # Policies first: they own options such as rate_limit or time_limit.
        self.middleware = MiddlewareChain(
            [*default_policies(), *middleware, SignalMiddleware(self)]
        )
        self.tasks: dict[str, Task] = {}
        self.hostname = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.RLock()  # lazy creations may nest
        self._transport: Transport | None = None
        self._state: StateStore | None = None
        self._results: ResultStore | None = None
        self._waiter: ResultWaiter | None = None
        self._revocations: Revocations | None = None
        self._rate_limiter: RateLimiter | None = None
        self.control = Control(self)
        self.beat_schedule: dict[str, dict[str, Any]] = {}
        """Periodic tasks for ``python -m taskqueue beat`` (see taskqueue.beat)."""
        self.on_after_configure = Signal("on_after_configure", ("source",))
        """Celery's app signal, sent once by :meth:`finalize` (sender: this app,
        ``source``: its ``conf``): the place to ``add_periodic_task``."""
        self.on_after_finalize = Signal("on_after_finalize")
        """Celery's app signal, sent once by :meth:`finalize`, after
        ``on_after_configure`` (sender: this app)."""
        self.finalized = False
        """Set by :meth:`finalize`; the two signals above have been sent."""
        self.publisher = Publisher(self)
        from .builtins import register_builtins
        from .canvas import register_canvas_tasks

        register_builtins(self)
        register_canvas_tasks(self)
        shared.app_created(self)  # shared_task tasks, and this app becomes current

    def set_current(self) -> None:
        """Make this the app ``shared_task`` proxies use (Celery's ``set_current``)."""
        shared.set_current(self)

    def __repr__(self) -> str:
        return f"<TaskQueue {self.main} broker={self.settings.broker_url}>"

    # --- lazily created connections -----------------------------------------
    def _shared(self, attr: str, build: Callable[[], _T]) -> _T:
        """The app's one ``attr``, built on first use. Built under the lock:
        threads asking at once must share one (a second Redis client,
        dropped, would close sockets the other thread is using)."""
        value = getattr(self, attr)
        if value is None:
            with self._lock:
                value = getattr(self, attr)
                if value is None:
                    value = build()
                    setattr(self, attr, value)
        return value  # type: ignore[no-any-return]

    def attach(
        self,
        transport: Transport | None = None,
        state: StateStore | None = None,
        result_store: ResultStore | None = None,
    ) -> None:
        """Use these in place of the ones the settings would build: two apps
        of one process sharing one in-memory "cluster", or a store wrapped
        by a test (a worker killed after its n-th write). Those not given
        stay as they are."""
        with self._lock:
            if transport is not None:
                self._transport = transport
            if state is not None:
                self._state = state
            if result_store is not None:
                self._results = result_store

    @property
    def transport(self) -> Transport:
        transport = self._transport  # read three times per publish: no call when set
        if transport is not None:
            return transport
        return self._shared("_transport", lambda: create_transport(self.settings))

    @property
    def state(self) -> StateStore:
        """Live job state and shared coordination records (``redis_url`` picks
        Redis, or with ``memory://`` the in-process store)."""
        s = self.settings
        return self._shared(
            "_state", lambda: create_state_store(s.redis_url, s.key_prefix, s.state_ttl)
        )

    @property
    def state_backend(self) -> StateStore:
        """Same as :attr:`state` (the older name)."""
        return self.state

    @property
    def result_store(self) -> ResultStore:
        """MongoDB, or the in-process store when ``mongo_url`` is ``memory://``."""
        s = self.settings
        return self._shared("_results", lambda: create_result_store(s.mongo_url, s.result_database))

    @property
    def revocations(self) -> Revocations:
        return self._shared("_revocations", lambda: Revocations(self))

    @property
    def rate_limiter(self) -> RateLimiter:
        """The shared rate limits, as this app sees and changes them."""
        return self._shared("_rate_limiter", lambda: RateLimiter(self))

    @property
    def running_revocations(self) -> Revocations | None:
        """The revocations this process follows (a worker's), else None."""
        revocations = self._revocations
        return revocations if revocations is not None and revocations.following else None

    @property
    def result_waiter(self) -> ResultWaiter:
        return self._shared("_waiter", lambda: ResultWaiter(self.state))

    # --- registry -----------------------------------------------------------
    @overload
    def task(self, fn: Callable[..., Any]) -> Task: ...

    @overload
    def task(self, fn: None = None, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(bind=True, ...)``."""
        unknown = set(options) - _CORE_TASK_OPTIONS - self.middleware.declared_options()
        if unknown:
            raise ConfigurationError(
                f"unknown task option(s) {', '.join(sorted(unknown))}: not a core option "
                f"({', '.join(sorted(_CORE_TASK_OPTIONS))}) and no installed middleware declares it"
            )
        if options.get("rate_limit"):
            parse_rate(str(options["rate_limit"]))  # a malformed limit fails here, loudly
        if options.get("acks_late") is False:
            raise ConfigurationError(
                "acks_late=False is not supported: jobs are acked after they finish"
            )

        base = options.get("base") or self.Task
        if not (isinstance(base, type) and issubclass(base, Task)):
            raise ConfigurationError(f"base={base!r} is not a subclass of taskqueue.Task")

        def register(func: Callable[..., Any]) -> Task:
            # A script's tasks are named after the app, as in Celery, so that
            # `python script.py` and a worker of `-A script` agree on names.
            module = self.main if func.__module__ == "__main__" else func.__module__
            name = options.get("name") or f"{module}.{func.__qualname__}"
            extra = class_options(base, self.middleware.declared_options())
            extra.update((k, v) for k, v in options.items() if k not in _CORE_TASK_OPTIONS)
            extra.update(
                (k, options[k]) for k in ("ignore_result", "track_started") if k in options
            )
            core = {
                k: options[k]
                for k in ("max_retries", "default_retry_delay", "autoretry_for")
                if k in options
            }
            task = base(
                self,
                func,
                name,
                bind=options.get("bind", False),
                queue=options.get("queue"),
                options=extra,
                **core,
            )
            if name in self.tasks and self.tasks[name].fn is not func:
                raise ConfigurationError(f"task name {name!r} is already registered")
            self.tasks[name] = task
            return task

        return register(fn) if fn is not None else register

    def register_task(self, task: Task | type[Task]) -> Task:
        """Celery's way to register a class-based task; returns it, bound here::

            class CustomTask(app.Task):
                name = "custom"          # optional: else <module>.CustomTask

                def run(self, x):
                    ...

            custom = app.register_task(CustomTask())

        Class attributes are its options, as with ``@app.task(base=...)``.
        """
        instance = task() if isinstance(task, type) else task
        cls = type(instance)
        if not isinstance(instance, Task) or cls.run is Task.run:
            raise ConfigurationError(f"{cls.__name__} is not a Task subclass with a run() method")
        # Celery's automatic name: module and class name (the app's name in a script).
        module = self.main if cls.__module__ == "__main__" else cls.__module__
        name = getattr(cls, "name", None) or f"{module}.{cls.__name__}"
        held = self.tasks.get(name)
        if held is not None and type(held) is not cls:
            raise ConfigurationError(f"task name {name!r} is already registered")
        options = class_options(cls, self.middleware.declared_options())
        Task.__init__(instance, self, instance.run, name, options=options)
        instance.__doc__ = cls.__doc__
        self.tasks[name] = instance
        return instance

    def finalize(self) -> None:
        """Celery's: the app is complete. Once per app, it carries out the
        ``autodiscover_tasks()`` that waited, then sends
        ``on_after_configure`` and ``on_after_finalize``.

        Called by whatever starts with the app first: loading it with ``-A``
        (a worker, beat, any command), a :class:`~taskqueue.worker.main.Worker`
        or a beat starting, or the program itself. A receiver connected
        after that is not called, as in Celery.
        """
        with self._lock:
            if self.finalized:
                return
            self.finalized = True
        run_pending(self)
        self.on_after_configure.send(sender=self, source=self.conf)
        self.on_after_finalize.send(sender=self)

    def get_task(self, name: str) -> Task:
        if name not in self.tasks:
            run_pending(self)  # autodiscover_tasks() that waited for Django
        try:
            return self.tasks[name]
        except KeyError:
            raise NotRegistered(f"task {name!r} is not registered in app {self.main!r}") from None

    def autodiscover_tasks(
        self, packages: Packages = None, related_name: str | None = "tasks", force: bool = False
    ) -> list[str]:
        """Celery's: import ``<package>.tasks`` so its tasks register; without
        packages, those of Django's installed apps (see taskqueue.discovery)."""
        return autodiscover(self, packages, related_name, force)

    def config_from_object(
        self,
        obj: object | str,
        silent: bool = False,
        force: bool = False,
        namespace: str | None = None,
    ) -> None:
        """Celery's: settings from an object or module (``"proj.celeryconfig"``,
        ``"django.conf:settings"``); with ``namespace="CELERY"`` only its
        ``CELERY_*`` names. Applied at once (``force`` is implied), over the
        app's current settings, checked like ``app.conf.update``."""
        from .celery_settings import load_object, settings_in

        if isinstance(obj, str):
            try:
                obj = load_object(obj)
            except (ImportError, AttributeError):
                if silent:
                    return
                raise
        self.conf.update(settings_in(obj, namespace))

    # --- publishing ---------------------------------------------------------
    def send_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Queue a task by name (it need not be registered in this process)."""
        task = self._task_to_send(name, queue)
        return task.apply_async(args, kwargs, task_id=task_id, queue=queue, **options)

    async def asend_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        task_id: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        """:meth:`send_task` for coroutines (see :meth:`Task.aapply_async`)."""
        task = self._task_to_send(name, queue)
        return await task.aapply_async(args, kwargs, task_id=task_id, queue=queue, **options)

    def _task_to_send(self, name: str, queue: str | None) -> Task:
        """The registered task, or a stand-in carrying only its name."""
        return self.tasks.get(name) or Task(self, _unregistered, name, queue=queue)

    # Publishing itself lives in taskqueue.publisher; these are its public face.
    async def publish_async(self, publish: Callable[[], AsyncResult]) -> AsyncResult:
        """Run ``publish`` (a call that publishes, such as ``apply_async``)
        without waiting inside it, then wait for Kafka's acks while the event
        loop keeps running. The delivery thread wakes this coroutine through
        the loop, so no thread is taken per call. Errors and middleware
        hooks are those of a blocking publish."""
        return await self.publisher.publish_async(publish)

    def publish(self, message: Message) -> AsyncResult:
        """Send one envelope; waits for the broker's ack unless inside ``bulk()``."""
        return self.publisher.publish(message)

    def bulk(self) -> contextlib.AbstractContextManager[list[tuple[Message, PublishHandle]]]:
        """Publish many and wait once: every ``apply_async`` inside returns at
        once; leaving the block waits for all acks and raises if any failed.

        If the block's body raises, the jobs it published before are still
        sent: they are waited for, and a note on the body's exception says
        what became of them."""
        return self.publisher.bulk()

    def after_acknowledged(self, then: Callable[[], object]) -> None:
        """Run ``then`` once the jobs published so far are acknowledged: now,
        or, inside ``bulk()``, when the block's wait succeeds (never if it fails)."""
        self.publisher.after_acknowledged(then)

    def dead_letters(self, queue: str | None = None) -> DeadLetters:
        """List, replay or purge the dead-letter topic of ``queue`` (default queue)."""
        return DeadLetters(self, queue or self.settings.default_queue)

    @property
    def conf(self) -> Conf:
        """Celery's ``app.conf``: read and ``update`` settings (see :class:`Conf`)."""
        return Conf(self)

    def add_periodic_task(
        self,
        schedule: Any,
        sig: Signature,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> str:
        """Celery's: add ``sig`` to ``beat_schedule`` every ``schedule``
        (seconds, timedelta, crontab); returns the entry's name."""
        from .beat import add_periodic_task

        return add_periodic_task(self, schedule, sig, args, kwargs, name, **options)

    def AsyncResult(self, id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        return AsyncResult(id, self)

    def signature(
        self,
        varies: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Signature:
        """Celery's ``app.signature("tasks.add", args=(2, 2), countdown=10)``,
        or a signature's dict form, bound to this app."""
        from .canvas import signature

        return signature(varies, args, kwargs, app=self, **options)

    # --- topology -----------------------------------------------------------
    def queues(self) -> list[str]:
        run_pending(self)  # a worker starting: waiting discoveries first
        return sorted({t.queue for t in self.tasks.values()} | {self.settings.default_queue})

    def _topology(self, queues: Sequence[str] | None) -> tuple[dict[str, str], list[str]]:
        """Each topic these queues use (queue topics, their dead-letter topics,
        the delay tiers) with the queue it serves, and the dead-letter topics."""
        s = self.settings
        names: dict[str, str] = {}
        dead = []
        for q in queues or self.queues():
            names[s.topic(q)] = q
            names[s.dead_letter_topic(q)] = f"{q} (dead letters)"
            dead.append(s.dead_letter_topic(q))
        names.update((t, "delay tier") for t in tier_topics(s))
        return names, dead

    def declare_topics(self, queues: Sequence[str] | None = None) -> list[str]:
        """Create the topics of these queues, their dead-letter topics and the delay tiers."""
        s = self.settings
        names, dead = self._topology(queues)
        replication = s.replication_factor or replication_factor(0, self.transport.broker_count())
        return self.transport.declare(
            list(names), s.partitions, replication, topic_configs(list(names), dead, replication)
        )

    def check_replication(self, queues: Sequence[str] | None = None) -> list[Shortfall]:
        """Log a warning for each existing topic of these queues replicated
        less than ``replication_factor`` (or its automatic value) asks for."""
        names, _ = self._topology(queues)
        return check_topics(self.transport, names, self.settings.replication_factor)

    def close(self) -> None:
        for closable in (self._transport, self._state, self._results):
            if closable is not None:
                closable.close()
        self._transport = self._state = self._results = None

    def now(self) -> float:
        return time.time()

    def new_id(self) -> str:
        return new_id()


def _unregistered(*args: Any, **kwargs: Any) -> Any:
    raise NotRegistered("this task is only known by name here; it runs in a worker")


def load_app(spec: str) -> TaskQueue:
    """Find the app in ``module`` or ``module:attribute`` (the ``-A`` option)."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    if attr:
        app = getattr(module, attr)
    else:
        found = [v for v in vars(module).values() if isinstance(v, TaskQueue)]
        if len(found) != 1:
            raise ConfigurationError(
                f"module {module_name} defines {len(found)} TaskQueue apps; "
                f"use -A {module_name}:<name>"
            )
        app = found[0]
    if not isinstance(app, TaskQueue):
        raise ConfigurationError(f"{spec} is a {type(app).__name__}, not a TaskQueue")
    app.finalize()  # -A: the app module is fully imported, discover its tasks now
    return app
