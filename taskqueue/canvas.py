"""Canvas: signatures, chain, group, chord.

A :class:`Signature` is a dict (``{"task", "args", "kwargs", "options"}``,
the envelope's callback format, docs/protocol.md) that also knows its app,
so ``task.s(2)`` serializes as it is and can be called:
``task.s(2).delay()``, ``task.si(2)`` (immutable: ignores the parent's
result), ``a.s(1) | b.s()`` (a chain).

- ``chain(a.s(1), b.s(), c.s())``: ``a`` runs with ``link=[b with link=[c]]``;
  each step gets the previous result as first argument. Ids are chosen up
  front, so the returned ``AsyncResult`` is the last step's.
- ``group(sigs)``: every member published at once with the group id;
  ``GroupResult`` reads them together.
- ``chord(group, callback)``: members carry the chord in their headers
  (``tq_chord``: id, size, index, callback). When a member succeeds, the
  worker records its result in the state store with one atomic call
  (``StateStore.chord_member_done``): the first result of each index wins
  (a redelivered or duplicated member changes nothing), and the call that
  completes the set is told so exactly once: that worker, and only it,
  publishes the callback, with the results in member order, under an id fixed when the
  chord was built. The member's offset is committed only after the callback
  is acked by Kafka. A failed member fails the chord: the callback is
  stored FAILURE (``ChordError``) and never runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .message import Message, new_id
from .message_checks import CHORD_HEADER

if TYPE_CHECKING:
    from .app import TaskQueue
    from .result import AsyncResult

CHORD_TTL = 86_400
"""Seconds a chord's bookkeeping lives in the state store."""


class Signature(dict):  # type: ignore[type-arg]
    """A task call description that is also a JSON-ready dict."""

    def __init__(
        self,
        task: str,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        app: TaskQueue | None = None,
    ) -> None:
        super().__init__(
            task=task, args=list(args), kwargs=dict(kwargs or {}), options=dict(options or {})
        )
        self.app = app

    @property
    def options(self) -> dict[str, Any]:
        return self["options"]  # type: ignore[no-any-return]

    def clone(self, **options: Any) -> Signature:
        return Signature(
            self["task"], self["args"], self["kwargs"], {**self.options, **options}, self.app
        )

    def set(self, **options: Any) -> Signature:
        self.options.update(options)
        return self

    def __or__(self, other: Signature) -> Chain:  # type: ignore[override]
        return Chain(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(
        self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> AsyncResult:
        """Publish this call (``args`` are prepended unless immutable)."""
        if self.app is None:
            raise RuntimeError(f"signature of {self['task']} has no app; use task.s()")
        opts = {**self.options, **options}
        opts.pop("immutable", None)
        task_id = opts.pop("task_id", None)
        call_args = list(self["args"]) if self.options.get("immutable") else [*args, *self["args"]]
        return self.app.send_task(
            self["task"], call_args, {**self["kwargs"], **(kwargs or {})}, task_id=task_id, **opts
        )


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


def signature(app: TaskQueue, value: dict[str, Any]) -> Signature:
    """A :class:`Signature` from its dict form (e.g. read from an envelope)."""
    return Signature(
        value["task"], value.get("args", ()), value.get("kwargs"), value.get("options"), app
    )


class Chain:
    """``chain(a.s(1), b.s(), c.s())``: each step's result feeds the next."""

    def __init__(self, *steps: Signature) -> None:
        flat: list[Signature] = []
        self.steps: list[Signature]
        for step in steps:
            flat.extend(step.steps if isinstance(step, Chain) else [step])
        self.steps = flat

    def __or__(self, other: Signature) -> Chain:
        return Chain(*self.steps, other)

    def apply_async(self, args: Iterable[Any] = (), **options: Any) -> AsyncResult:
        steps = [s.clone(task_id=s.options.get("task_id") or new_id()) for s in self.steps]
        nested = steps[-1]
        for step in reversed(steps[:-1]):
            step.options["link"] = [*as_signatures(step.options.get("link")), nested]
            nested = step
        nested.apply_async(args, **options)
        app = steps[-1].app
        assert app is not None
        return app.AsyncResult(steps[-1].options["task_id"])

    def delay(self, *args: Any) -> AsyncResult:
        return self.apply_async(args)


chain = Chain


class Group:
    """``group(sigs)``: run every member; :class:`GroupResult` of all."""

    def __init__(self, *members: Signature | Iterable[Signature]) -> None:
        flat: list[Signature] = []
        for m in members:
            flat.extend([m] if isinstance(m, Signature) else m)
        if not flat:
            raise ValueError("a group needs at least one signature")
        self.members = flat

    @property
    def app(self) -> TaskQueue:
        app = self.members[0].app
        assert app is not None
        return app

    def apply_async(self, group_id: str | None = None, **options: Any) -> GroupResult:
        gid = group_id or new_id()
        results = []
        with self.app.bulk():  # publish all, wait once
            for i, member in enumerate(self.members):
                extra = dict(options)
                if "tq_chord" in options:
                    extra["headers"] = {CHORD_HEADER: {**options["tq_chord"], "index": i}}
                    extra.pop("tq_chord")
                results.append(member.apply_async(group=gid, **extra))
        return GroupResult(gid, results)

    def delay(self) -> GroupResult:
        return self.apply_async()


group = Group


class Chord:
    """``chord(group, callback)``: the callback gets the list of member results."""

    def __init__(self, header: Group | Iterable[Signature], body: Signature) -> None:
        self.header = header if isinstance(header, Group) else Group(*header)
        self.body = body

    def apply_async(self, **options: Any) -> AsyncResult:
        callback_id = self.body.options.get("task_id") or new_id()
        body = self.body.clone(task_id=callback_id)
        chord_id = new_id()
        info = {"id": chord_id, "size": len(self.header.members), "callback": body}
        self.header.apply_async(group_id=chord_id, tq_chord=info, **options)
        return self.header.app.AsyncResult(callback_id)

    def delay(self) -> AsyncResult:
        return self.apply_async()


chord = Chord


class GroupResult:
    """Results of a group's members, in order."""

    def __init__(self, id: str, results: list[AsyncResult]) -> None:  # noqa: A002
        self.id = id
        self.results = results

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} ({len(self.results)})>"

    def ready(self) -> bool:
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        return all(r.successful() for r in self.results)

    def completed_count(self) -> int:
        return sum(1 for r in self.results if r.successful())

    def get(self, timeout: float | None = None, propagate: bool = True) -> list[Any]:
        return [r.get(timeout=timeout, propagate=propagate) for r in self.results]

    join = get


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
    return str(uuid.uuid5(FOLLOW_UP_IDS, f"{parent.id}/{parent.retries}/{slot}"))


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
