"""Canvas: signatures, chain, group, chord, chunks, map and starmap.

A :class:`Signature` is a dict (``{"task", "args", "kwargs", "options"}``,
the envelope's callback format, docs/protocol.md) that also knows its app,
so ``task.s(2)`` serializes as it is and can be called:
``task.s(2).delay()``, ``task.si(2)`` (immutable: ignores the parent's
result), ``a.s(1) | b.s()`` (a chain). As in Celery, ``sig()`` runs the task
here and now, while ``chain(...)()``, ``group(...)()`` and
``chord(header)(body)`` publish the workflow (``apply_async``).

Every workflow is published as plain tasks whose follow-ups the worker
already knows how to send (``link`` callbacks, chord members); nothing
about canvas is new to the worker. :func:`_build` turns a (nested) canvas
into the signatures to publish first, working from the end backwards:

- a chain: each step is linked (``options.link``) to what starts the next;
- a group: its members, each marked with the group id;
- a group that something runs after (``chain(..., group, next)``, or the
  header of a chord): a chord. Each member's *last* task carries the chord
  in its headers (``tq_chord``: id, size, index, callback), so a member may
  itself be a chain. When a member succeeds, the worker records its result
  with one atomic call (``StateStore.chord_member_done``): the first result
  of each index wins, and the call that completes the set is told so; the
  callback is published then, with the results in member order, under an id
  fixed when the chord was built. A failed member fails the chord: the
  callback is stored FAILURE (``ChordError``) and never runs.

Every id is chosen when the workflow is built (or by ``freeze()``), so the
result handles exist before anything runs and a follow-up republished
after a crash is the same job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Union

from .message import Message, new_id
from .message_checks import CHORD_HEADER
from .result import AsyncResult, GroupResult, ResultSet

if TYPE_CHECKING:
    from .app import TaskQueue
    from .task import EagerResult, Task

CHORD_TTL = 86_400
"""Seconds a chord's bookkeeping lives in the state store."""

MAP_TASK = "taskqueue.map"
STARMAP_TASK = "taskqueue.starmap"
"""The built-in tasks behind ``task.map`` / ``task.starmap`` / ``task.chunks``
(Celery's ``celery.map`` and ``celery.starmap``)."""

Result = Union[AsyncResult, ResultSet, "EagerResult"]


class Signature(dict):  # type: ignore[type-arg]
    """A task call description that is also a JSON-ready dict.

    ``Signature("tasks.add", (2,), {}, {"countdown": 5}, app=app)``, or from a
    task: ``add.s(2)``, ``add.signature((2,), countdown=5)``.
    """

    def __init__(
        self,
        task: str | Task | dict[str, Any],
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        app: TaskQueue | None = None,
        immutable: bool = False,
        **ex_options: Any,
    ) -> None:
        if isinstance(task, dict):  # Signature(sig_dict): a copy
            args, kwargs = task.get("args", ()), task.get("kwargs")
            options = {**(task.get("options") or {}), **(options or {})}
            immutable = immutable or bool(task.get("immutable"))
            app = app or getattr(task, "app", None)
            task = task["task"]
        elif not isinstance(task, str):  # a Task object
            app = app or task.app
            task = task.name
        opts = {**(options or {}), **ex_options}
        if immutable:
            opts["immutable"] = True
        super().__init__(task=task, args=list(args), kwargs=dict(kwargs or {}), options=opts)
        self.app = app

    # --- Celery's attributes ------------------------------------------------
    @property
    def task(self) -> str:
        return self["task"]  # type: ignore[no-any-return]

    name = task

    @property
    def args(self) -> list[Any]:
        return self["args"]  # type: ignore[no-any-return]

    @property
    def kwargs(self) -> dict[str, Any]:
        return self["kwargs"]  # type: ignore[no-any-return]

    @property
    def options(self) -> dict[str, Any]:
        return self["options"]  # type: ignore[no-any-return]

    @property
    def id(self) -> str | None:
        """The task id, once chosen (``freeze()`` or the ``task_id`` option)."""
        return self.options.get("task_id")

    @property
    def immutable(self) -> bool:
        return bool(self.options.get("immutable"))

    @property
    def type(self) -> Task:
        """The registered task this signature calls."""
        return self._app().get_task(self.task)

    def _app(self, fallback: TaskQueue | None = None) -> TaskQueue:
        app = self.app or fallback
        if app is None:
            raise RuntimeError(
                f"signature of {self.task} has no app: build it with task.s(), "
                "app.signature(...) or signature(..., app=app)"
            )
        return app

    # --- copying and options ------------------------------------------------
    def clone(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Signature:
        """A copy; ``args`` are prepended (unless immutable), ``kwargs`` and
        ``options`` merged over this signature's."""
        return Signature(
            self.task,
            self._call_args(args),
            {**self.kwargs, **(kwargs or {})},
            {**self.options, **options},
            self.app,
        )

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Change options in place (Celery's ``sig.set(countdown=10)``)."""
        if immutable is not None:
            self.set_immutable(immutable)
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        if immutable:
            self.options["immutable"] = True
        else:
            self.options.pop("immutable", None)

    def link(self, callback: dict[str, Any]) -> dict[str, Any]:
        """Run ``callback`` with this task's result when it succeeds."""
        self.options["link"] = [*as_signatures(self.options.get("link")), callback]
        return callback

    def link_error(self, errback: dict[str, Any]) -> dict[str, Any]:
        """Run ``errback`` with this task's id when it fails."""
        self.options["link_error"] = [*as_signatures(self.options.get("link_error")), errback]
        return errback

    def on_error(self, errback: dict[str, Any]) -> Signature:
        """:meth:`link_error` that returns this signature, for chaining calls."""
        self.link_error(errback)
        return self

    def freeze(self, _id: str | None = None, group_id: str | None = None) -> AsyncResult:
        """Choose this call's id now (kept by later ``apply_async``); its result."""
        self.options["task_id"] = _id or self.id or new_id()
        if group_id:
            self.options["group"] = group_id
        return self._app().AsyncResult(self.options["task_id"])

    def _call_args(self, args: Iterable[Any] | None) -> list[Any]:
        return list(self.args) if self.immutable else [*(args or ()), *self.args]

    # --- calling --------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task here and now, in this thread (as Celery's ``sig()``)."""
        return self.type(*self._call_args(args), **{**self.kwargs, **kwargs})

    def __or__(self, other: Any) -> Chain:  # type: ignore[override]
        return Chain(self, other)

    def __invert__(self) -> Any:
        return self.apply_async().get()

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> AsyncResult:
        """Publish this call (``args`` are prepended unless immutable)."""
        app = self._app()
        if app.settings.always_eager:
            return self.apply(args, kwargs, **options)  # type: ignore[return-value]
        opts = {**self.options, **options}
        opts.pop("immutable", None)
        task_id = opts.pop("task_id", None)
        return app.send_task(
            self.task,
            self._call_args(args),
            {**self.kwargs, **(kwargs or {})},
            task_id=task_id,
            **opts,
        )

    def apply(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> EagerResult:
        """Run now, in this thread, as a worker would; then its ``link``
        (with the result) or ``link_error`` (with the id) callbacks, eagerly."""
        app = self._app()
        opts = {**self.options, **options}
        result = self.type.apply(
            self._call_args(args), {**self.kwargs, **(kwargs or {})}, task_id=opts.get("task_id")
        )
        if result.successful():
            for sig in as_signatures(opts.get("link")):
                Signature(sig, app=app).apply((result.result,))
        else:
            for sig in as_signatures(opts.get("link_error")):
                Signature(sig, app=app).apply((result.id,))
        return result


SignatureLike = dict[str, Any] | Iterable[dict[str, Any]] | None
"""What ``link=`` and ``link_error=`` accept: one signature, a list of them, or none."""


def as_signatures(value: SignatureLike, name: str = "link") -> tuple[dict[str, Any], ...]:
    """``link=sig`` and ``link=[sig, ...]`` alike, as Celery takes them, as the
    tuple the envelope carries; nested ``link``/``link_error`` options too.

    Without this a single signature (a dict) would be stored as its keys, an
    envelope every worker refuses."""
    if value is None:
        return ()
    if isinstance(value, dict):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise TypeError(
            f"{name} takes a signature or a list of signatures, not {type(value).__name__}"
        )
    out = []
    for sig in items:
        if not isinstance(sig, dict) or not isinstance(sig.get("task"), str):
            raise TypeError(f"{name} takes signatures (task.s(...)), got {sig!r:.80}")
        options = sig.get("options") or {}
        nested = {k: list(as_signatures(options[k], k)) for k in _LINKS if k in options}
        if nested:
            copy = Signature(sig["task"], sig.get("args", ()), sig.get("kwargs"), options)
            copy.app = getattr(sig, "app", None)
            copy.options.update(nested)
            sig = copy
        out.append(sig)
    return tuple(out)


_LINKS = ("link", "link_error")


def signature(
    varies: str | dict[str, Any] | Task,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    app: TaskQueue | None = None,
    **ex_options: Any,
) -> Signature:
    """Celery's ``signature``: from a task name (``signature("tasks.add",
    args=(2, 2), countdown=10, app=app)``) or a signature's dict form (read
    from an envelope or JSON). Without ``app`` it can be composed and used as
    ``link=``, and takes the app of the canvas it joins; to call it alone,
    use ``app.signature(...)``."""
    if isinstance(varies, dict):
        kind = varies.get("subtask_type")
        if kind:
            raise TypeError(f"signature({kind} dict) is not supported: rebuild the {kind}")
        return Signature(varies, options=options, app=app, **ex_options)
    return Signature(varies, args, kwargs, options, app, **ex_options)


Node = Union[Signature, "Chain", "Group", "Chord", "Chunks"]
"""Anything a canvas is made of."""


def _node(value: Any) -> Node:
    if isinstance(value, (Signature, Chain, Group, Chord, Chunks)):
        return value
    if isinstance(value, dict):
        return signature(value)
    raise TypeError(f"a canvas takes signatures (task.s(...)), got {value!r:.80}")


def _app_of(nodes: Iterable[Node]) -> TaskQueue | None:
    for n in nodes:
        app = n.app if isinstance(n, Signature) else n._find_app()
        if app is not None:
            return app
    return None


class _Canvas:
    """What chain, group, chord and chunks share: calling them publishes."""

    def _find_app(self) -> TaskQueue | None:
        raise NotImplementedError

    @property
    def app(self) -> TaskQueue:
        app = self._find_app()
        if app is None:
            raise RuntimeError("no signature of this canvas has an app: use task.s()")
        return app

    def __call__(self, *args: Any, **options: Any) -> Any:
        return self.apply_async(args, **options)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def apply_async(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Any:
        """Publish the workflow; its result handle (the last step's, the
        group's, the chord body's). Options apply to the tasks published first."""
        app = self.app
        if app.settings.always_eager:
            return self.apply(args, kwargs)
        built = _build(self, app, [], {})  # type: ignore[arg-type]
        with app.bulk():  # publish all, wait once
            for entry in built.entries:
                entry.apply_async(args, kwargs, **options)
        return built.result

    def apply(self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def __invert__(self) -> Any:
        return self.apply_async().get()

    def __or__(self, other: Any) -> Chain:
        return Chain(self, other)  # type: ignore[arg-type]


class Chain(_Canvas):
    """``chain(a.s(1), b.s(), c.s())``: each step's result feeds the next."""

    def __init__(self, *steps: Node | Iterable[Node]) -> None:
        if len(steps) == 1 and not isinstance(steps[0], (dict, _Canvas)):
            steps = tuple(steps[0])  # chain([a, b]) as well as chain(a, b)
        flat: list[Node] = []
        for step in steps:
            node = _node(step)
            flat.extend(node.steps if isinstance(node, Chain) else [node])
        if not flat:
            raise ValueError("a chain needs at least one signature")
        self.steps: list[Node] = flat

    @property
    def tasks(self) -> list[Node]:
        return self.steps

    def _find_app(self) -> TaskQueue | None:
        return _app_of(self.steps)

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self.steps)

    def __or__(self, other: Any) -> Chain:
        return Chain(*self.steps, other)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """As Celery's: keyword arguments go to the first task."""
        return self.apply_async(args, kwargs)

    def link(self, callback: dict[str, Any]) -> dict[str, Any]:
        """Run ``callback`` with the chain's final result."""
        return _last_signature(self.steps[-1]).link(callback)

    def link_error(self, errback: dict[str, Any]) -> dict[str, Any]:
        """Run ``errback`` when any step fails (as Celery: every step gets it)."""
        for step in self.steps:
            _each_signature(step, lambda s: s.link_error(errback))
        return errback

    def freeze(self, _id: str | None = None) -> Result:
        results = [_freeze(step) for step in self.steps[:-1]]
        results.append(_freeze(self.steps[-1], _id))
        for before, after in zip(results, results[1:], strict=False):
            _first(after).parent = before
        return results[-1]

    def apply(self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None) -> Any:
        """Run every step now, in this thread; stops at the first failure."""
        result: Any = None
        for i, step in enumerate(self.steps):
            if i == 0:
                step_result = step.apply(args, kwargs)
            else:
                step_result = step.apply((result.get(),))
                _first(step_result).parent = result
            result = step_result
            if not result.successful():
                break
        return result


chain = Chain


class Group(_Canvas):
    """``group(sigs)``: run every member; :class:`GroupResult` of all.

    Members may be signatures, chains or chords; a group inside a group is
    flattened into it."""

    def __init__(self, *members: Node | Iterable[Node], **options: Any) -> None:
        flat: list[Node] = []
        for m in members:
            items = [m] if isinstance(m, (dict, _Canvas)) else list(m)
            for item in items:
                node = _node(item)
                flat.extend(node.members if isinstance(node, Group) else [node])
        if not flat:
            raise ValueError("a group needs at least one signature")
        self.members: list[Node] = flat
        self.id: str | None = options.pop("group_id", None)
        self.options = options

    @property
    def tasks(self) -> list[Node]:
        return self.members

    def _find_app(self) -> TaskQueue | None:
        return _app_of(self.members)

    def __repr__(self) -> str:
        return f"group({self.members!r})"

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.members)

    def apply_async(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> GroupResult:
        if "group_id" in options:
            self.id = options.pop("group_id")
        return super().apply_async(args, kwargs, **{**self.options, **options})  # type: ignore[no-any-return]

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> Group:
        """Give member ``i`` a countdown of ``start + i * step`` (capped at ``stop``)."""
        for i, member in enumerate(self.members):
            countdown = start + i * step
            if stop is not None:
                countdown = min(countdown, stop)
            _first_signature(member).set(countdown=countdown)
        return self

    def link(self, callback: dict[str, Any]) -> dict[str, Any]:
        """Run ``callback`` after each member, with that member's result."""
        for member in self.members:
            _last_signature(member).link(callback)
        return callback

    def link_error(self, errback: dict[str, Any]) -> dict[str, Any]:
        for member in self.members:
            _each_signature(member, lambda s: s.link_error(errback))
        return errback

    def freeze(self, _id: str | None = None) -> GroupResult:
        self.id = _id or self.id or new_id()
        results = [_freeze(m) for m in self.members]
        return GroupResult(self.id, results, app=self.app)

    def apply(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None
    ) -> GroupResult:
        """Run every member now, in this thread, in order."""
        results = [m.apply(args, kwargs) for m in self.members]
        return GroupResult(self.id or new_id(), results, app=self.app)


group = Group


class Chord(_Canvas):
    """``chord(header, body)``: the body gets the list of the header's results.

    ``chord(header)(body)`` and ``chord(header, body)()`` both publish it."""

    def __init__(self, header: Group | Iterable[Node], body: Node | None = None) -> None:
        self.header = header if isinstance(header, Group) else Group(*header)
        self.body = _node(body) if body is not None else None

    def _find_app(self) -> TaskQueue | None:
        return _app_of([self.header, *([self.body] if self.body is not None else [])])

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    @property
    def id(self) -> str | None:
        return self.header.id

    def __call__(self, body: Node | None = None, **options: Any) -> Any:
        if body is not None:
            self.body = _node(body)
        return self.apply_async((), **options)

    def _with_body(self) -> Node:
        if self.body is None:
            raise TypeError("a chord needs a body: chord(header)(body) or chord(header, body)")
        return self.body

    def link(self, callback: dict[str, Any]) -> dict[str, Any]:
        return _last_signature(self._with_body()).link(callback)

    def link_error(self, errback: dict[str, Any]) -> dict[str, Any]:
        self.header.link_error(errback)
        _each_signature(self._with_body(), lambda s: s.link_error(errback))
        return errback

    def freeze(self, _id: str | None = None) -> Result:
        header = self.header.freeze()
        result = _freeze(self._with_body(), _id)
        _first(result).parent = header
        return result

    def apply(self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None) -> Any:
        """Run the header now, then the body with its results (eagerly)."""
        from .exceptions import TaskFailed
        from .states import FAILURE
        from .task import EagerResult

        body = self._with_body()
        header = self.header.apply(args, kwargs)
        if not header.successful():
            failed: Any = next(r for r in header.results if not r.successful())
            error = TaskFailed("ChordError", f"member {failed.id} failed")
            return EagerResult(_body_id(body) or new_id(), FAILURE, error)
        result = body.apply((header.get(),))
        _first(result).parent = header
        return result


chord = Chord


class Chunks(_Canvas):
    """``task.chunks(items, n)``: the items in chunks of ``n``, one
    ``starmap`` job per chunk; the result is a group's, of lists."""

    def __init__(self, task: Signature, it: Iterable[Any], n: int) -> None:
        if n < 1:
            raise ValueError("chunks need a size of at least 1")
        self.task, self.it, self.n = task, list(it), n
        self._frozen: Group | None = None

    def _find_app(self) -> TaskQueue | None:
        return self.task.app

    def group(self) -> Group:
        items = iter(self.it)
        parts = iter(lambda: list(islice(items, self.n)), [])
        return Group(xstarmap(self.task, part) for part in parts)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> Group:
        return self.group().skew(start, stop, step)

    def freeze(self, _id: str | None = None) -> GroupResult:
        """Fix the ids now: later calls publish this very group."""
        self._frozen = self._frozen or self.group()
        return self._frozen.freeze(_id)

    def apply(
        self, args: Iterable[Any] | None = (), kwargs: dict[str, Any] | None = None
    ) -> GroupResult:
        return self.group().apply(args, kwargs)


chunks = Chunks


def xmap(task: Signature, it: Iterable[Any]) -> Signature:
    """One job that calls ``task`` with each item (``task.map(items)``)."""
    return Signature(MAP_TASK, (), {"task": dict(task), "it": list(it)}, app=task.app)


def xstarmap(task: Signature, it: Iterable[Any]) -> Signature:
    """One job that calls ``task(*item)`` for each item (``task.starmap(items)``)."""
    return Signature(STARMAP_TASK, (), {"task": dict(task), "it": list(it)}, app=task.app)


def register_canvas_tasks(app: TaskQueue) -> None:
    """The built-in tasks behind map, starmap and chunks (every app has them,
    so every worker can run them). Items are called in the worker's thread,
    one after the other, as in Celery."""

    @app.task(name=MAP_TASK)
    def run_map(task: dict[str, Any], it: list[Any]) -> list[Any]:
        fn = app.get_task(task["task"])
        return [fn(item) for item in it]

    @app.task(name=STARMAP_TASK)
    def run_starmap(task: dict[str, Any], it: list[Any]) -> list[Any]:
        fn = app.get_task(task["task"])
        return [fn(*item) for item in it]


# --- building a workflow: from canvas to the tasks published first -----------------


@dataclass
class _Built:
    entries: list[Signature]
    """What starts the node: each is published (or linked) with the previous result."""
    result: Any
    """The node's result handle (AsyncResult, or GroupResult for a group)."""
    head: Any
    """The result of the node's first step: where the previous step hangs (``parent``)."""


def _build(node: Node, app: TaskQueue, then: list[Signature], final: dict[str, Any]) -> _Built:
    """``node`` as signatures to publish: ``then`` runs after it with its
    result; ``final`` options (group id, chord header) go on the task(s)
    whose results are the node's."""
    if isinstance(node, Signature):
        return _build_signature(node, app, then, final)
    if isinstance(node, Chain):
        return _build_chain(node, app, then, final)
    if isinstance(node, Group):
        return _build_group(node.members, node.id or new_id(), app, then, final)
    if isinstance(node, Chord):
        return _build_chord(node, app, then, final)
    return _build(node._frozen or node.group(), app, then, final)


def _build_signature(
    sig: Signature, app: TaskQueue, then: list[Signature], final: dict[str, Any]
) -> _Built:
    out = sig.clone(task_id=sig.id or new_id())
    out.app = out.app or app
    if final.get("group"):
        out.options["group"] = final["group"]
    if final.get("headers"):
        out.options["headers"] = {**(out.options.get("headers") or {}), **final["headers"]}
    if then:
        out.options["link"] = [*as_signatures(out.options.get("link")), *then]
    result = app.AsyncResult(out.options["task_id"])
    return _Built([out], result, result)


def _build_chain(
    node: Chain, app: TaskQueue, then: list[Signature], final: dict[str, Any]
) -> _Built:
    built: _Built | None = None
    last_result = None
    for i in reversed(range(len(node.steps))):
        step = _build(node.steps[i], app, then, final if built is None else {})
        if built is None:
            last_result = step.result
        else:
            built.head.parent = step.result
            if isinstance(step.result, AsyncResult):
                step.result.children = [built.head]
        then, built = step.entries, step
    assert built is not None
    return _Built(built.entries, last_result, built.head)


def _build_group(
    members: list[Node], gid: str, app: TaskQueue, then: list[Signature], final: dict[str, Any]
) -> _Built:
    """A group; followed by something (``then``), a chord whose callback it is."""
    if then:
        if len(then) != 1:
            raise NotImplementedError(
                "a group followed directly by a group is not supported: "
                "put a task between them (it gets the list of results)"
            )
        return _build_members(members, gid, app, then[0])
    if final.get("headers", {}).get(CHORD_HEADER):
        raise NotImplementedError(
            "a group as the last step of a chord's header member is not supported"
        )
    return _build_members(members, gid, app, None, final)


def _build_members(
    members: list[Node],
    gid: str,
    app: TaskQueue,
    callback: Signature | None,
    final: dict[str, Any] | None = None,
) -> _Built:
    entries: list[Signature] = []
    results = []
    for index, member in enumerate(members):
        if callback is not None:
            info = {"id": gid, "size": len(members), "index": index, "callback": callback}
            member_final = {"group": gid, "headers": {CHORD_HEADER: info}}
        else:
            member_final = {**(final or {}), "group": gid}
        built = _build(member, app, [], member_final)
        entries += built.entries
        results.append(built.result)
    result = GroupResult(gid, results, app=app)
    return _Built(entries, result, result)


def _build_chord(
    node: Chord, app: TaskQueue, then: list[Signature], final: dict[str, Any]
) -> _Built:
    body = _build(node._with_body(), app, then, final)
    if len(body.entries) != 1:
        raise NotImplementedError(
            "a chord's body must start with one task (a signature or a chain), not a group"
        )
    header = _build_members(node.header.members, node.id or new_id(), app, body.entries[0])
    body.head.parent = header.result
    return _Built(header.entries, body.result, header.result)


# --- helpers over nested canvases --------------------------------------------------


def _first(result: Any) -> Any:
    """Where the previous step's result hangs (``parent``) on a freshly built
    result: the top of its own parents (a chord's header), else itself."""
    while getattr(result, "parent", None) is not None:
        result = result.parent
    return result


def _freeze(node: Node, _id: str | None = None) -> Any:
    return node.freeze(_id) if _id else node.freeze()


def _first_signature(node: Node) -> Signature:
    if isinstance(node, Signature):
        return node
    if isinstance(node, Chain):
        return _first_signature(node.steps[0])
    raise TypeError(f"{type(node).__name__} has no single first task")


def _last_signature(node: Node) -> Signature:
    if isinstance(node, Signature):
        return node
    if isinstance(node, Chain):
        return _last_signature(node.steps[-1])
    if isinstance(node, Chord):
        return _last_signature(node._with_body())
    raise TypeError(f"{type(node).__name__} has no single last task")


def _each_signature(node: Node, action: Any) -> None:
    if isinstance(node, Signature):
        action(node)
    elif isinstance(node, Chain):
        for step in node.steps:
            _each_signature(step, action)
    elif isinstance(node, Group):
        for member in node.members:
            _each_signature(member, action)
    elif isinstance(node, Chord):
        _each_signature(node.header, action)
        _each_signature(node._with_body(), action)


def _body_id(node: Node) -> str | None:
    try:
        return _last_signature(node).id
    except TypeError:
        return None


# --- worker side ------------------------------------------------------------------


def chord_callback(app: TaskQueue, message: Message, result: Any) -> Message | None:
    """Record a member's result; the callback's envelope if this completed the chord."""
    info = message.headers.get(CHORD_HEADER)
    if not isinstance(info, dict):
        return None
    out = app.state.chord_member_done(
        str(info["id"]), int(info["index"]), json.dumps(result), int(info["size"]), CHORD_TTL
    )
    if out is None:
        return None
    results = [json.loads(x) for x in out]
    return follow_up(app, message, info["callback"], [results], "chord")


def chords_waiting_on(message: Message) -> list[dict[str, Any]]:
    """The chords (their ``tq_chord`` info) that ``message`` counts in, itself
    or through the steps its success leads to (a chain member of a header)."""
    found: list[dict[str, Any]] = []
    info = message.headers.get(CHORD_HEADER)
    if isinstance(info, dict):
        found.append(info)
    stack = list(message.callbacks)
    while stack:
        sig = stack.pop()
        options = sig.get("options") or {}
        info = (options.get("headers") or {}).get(CHORD_HEADER)
        if isinstance(info, dict):
            found.append(info)
        stack.extend(as_signatures(options.get("link")))
    return found


def chord_failed(info: Any) -> str | None:
    """The callback id of a chord whose member failed (to store it FAILURE)."""
    if not isinstance(info, dict):
        return None
    callback = info.get("callback") or {}
    return (callback.get("options") or {}).get("task_id")


FOLLOW_UP_IDS = uuid.UUID("8f4c2a57-3d1e-4b6a-9c0f-5e7d2b1a4c93")
"""Namespace of the ids of follow-ups that were given none (uuid5)."""


def follow_up_id(parent: Message, slot: str) -> str:
    """The id of ``parent``'s follow-up in ``slot`` (``link/0``,
    ``link_error/1``): the same for every run of the same attempt, so a
    follow-up republished after a crash is recognised as the same job."""
    return follow_up_id_for(parent.id, parent.retries, slot)


def follow_up_id_for(job_id: str, attempt: int, slot: str) -> str:
    """:func:`follow_up_id` from the parent's id and attempt (what a caller
    knows: ``AsyncResult.children`` of a job with ``link=`` callbacks)."""
    return str(uuid.uuid5(FOLLOW_UP_IDS, f"{job_id}/{attempt}/{slot}"))


def follow_up(
    app: TaskQueue, parent: Message, sig: dict[str, Any], first: list[Any], slot: str
) -> Message:
    """The envelope of a callback ``sig`` of ``parent`` (link, link_error,
    chord) in ``slot`` (see :func:`follow_up_id`)."""
    import time

    options = sig.get("options") or {}
    args = list(sig.get("args", []))
    if not options.get("immutable"):
        args = first + args
    task = app.tasks.get(sig["task"])
    return Message(
        id=options.get("task_id") or follow_up_id(parent, slot),
        task=sig["task"],
        args=tuple(args),
        kwargs=dict(sig.get("kwargs") or {}),
        queue=options.get("queue") or (task.queue if task else app.settings.default_queue),
        root_id=parent.root_id or parent.id,
        parent_id=parent.id,
        group=options.get("group"),
        sent_at=time.time(),
        callbacks=tuple(options.get("link") or ()),
        errbacks=tuple(options.get("link_error") or ()),
        headers=dict(options.get("headers") or {}),
        origin=app.hostname,
    )
