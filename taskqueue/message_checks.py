"""The shape rules of a decoded envelope, part by part.

A worker acts on an envelope long after it decoded it: it builds callbacks
from ``callbacks``/``errbacks``, counts a chord from ``headers.tq_chord``,
routes retries by ``queue``. A part of the wrong shape found only then
raises inside the poll loop, for every worker the record is redelivered
to. So every part the worker will read is checked here, at decode, and a
wrong one makes the record a dead letter (reason ``invalid-envelope``) whose
error names the field.

The checks use only the standard library; the contract is docs/protocol.md.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeGuard

from .exceptions import InvalidEnvelope

CHORD_HEADER = "tq_chord"
"""Envelope header of a chord member (``taskqueue.canvas`` writes it)."""

MAX_NESTING = 32
"""Deepest chain of signatures inside signatures (``options.link``) accepted.

A chain of n steps nests n - 1 deep; a bound keeps a hostile envelope from
recursing the checker (or the worker building follow-ups) into the ground."""

MAX_KEY_CHARS = 1000
"""Longest idempotency key: a key names a submission, it does not carry data
(each one is kept in the state store for ``idempotency_ttl``)."""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
"""NUL and the other C0 control characters, and DEL: refused in idempotency
keys (here and in the jobs app) and in search text."""

_QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
"""A queue becomes a topic name: Kafka's characters, with room for the prefix."""


def check_envelope(doc: dict[str, Any]) -> None:
    """Raise :class:`InvalidEnvelope` naming the first part of ``doc`` of the
    wrong shape. Field types were checked before; these are the deeper rules."""
    if not doc["id"] or not doc["task"]:
        raise InvalidEnvelope("fields 'id' and 'task' must be non-empty")
    queue = doc.get("queue")
    if queue is not None:
        _check_queue(queue, "queue")
    retries = doc.get("retries")
    if retries is not None and retries < 0:
        raise InvalidEnvelope(f"field 'retries' is negative ({retries})")
    for name in ("eta", "expires", "sent_at"):
        value = doc.get(name)
        if value is not None and not math.isfinite(value):
            raise InvalidEnvelope(f"field {name!r} is not a finite number ({value!r})")
    for name in ("callbacks", "errbacks"):
        check_signatures(doc.get(name) or [], name, 0)
    chord = (doc.get("headers") or {}).get(CHORD_HEADER)
    if chord is not None:
        check_chord(chord, f"headers.{CHORD_HEADER}")


def refuse_constant(name: str) -> Any:
    """The JSON decoder's hook for ``NaN``, ``Infinity`` and ``-Infinity``."""
    raise InvalidEnvelope(f"body holds {name}, which is not a JSON number (RFC 8259)")


def check_outgoing(message: Any) -> None:
    """Refuse to encode an envelope no worker would accept: a time that is not
    a finite number (``countdown=float("inf")``), a negative retry count."""
    for name in ("eta", "expires", "sent_at"):
        value = getattr(message, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(
                f"{name} of task {message.task} (id {message.id}) is {value!r}, "
                "not a finite time; give a countdown or eta a worker can wait for"
            )
    if message.retries < 0:
        raise ValueError(
            f"retries of task {message.task} (id {message.id}) is {message.retries}, "
            "must be 0 or more"
        )


def check_idempotency_key(key: str) -> None:
    """An idempotency key becomes part of a state-store key, and often of a
    database row: text of 1 to ``MAX_KEY_CHARS`` characters, without NUL or
    other control characters (PostgreSQL refuses NUL in text, logs mangle
    the rest)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"idempotency_key must be a non-empty string, not {key!r}")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(
            f"idempotency_key is {len(key)} characters, at most {MAX_KEY_CHARS} are accepted"
        )
    bad = CONTROL_CHARACTERS.search(key)
    if bad is not None:
        raise ValueError(
            f"idempotency_key holds the control character {bad.group()!r} at {bad.start()}"
        )


def check_signatures(value: Any, where: str, depth: int) -> None:
    if not isinstance(value, list):
        raise InvalidEnvelope(f"{where} is a {_kind(value)}, expected a list of signatures")
    for i, sig in enumerate(value):
        check_signature(sig, f"{where}[{i}]", depth)


def check_signature(sig: Any, where: str, depth: int = 0) -> None:
    """A callback description: ``{"task": str, "args": list, "kwargs": dict,
    "options": dict}``; ``args``, ``kwargs`` and ``options`` may be absent.
    Other keys (Celery's dicts carry ``subtask_type``, ``immutable``,
    ``chord_size``) are ignored, as unknown envelope fields are."""
    if depth > MAX_NESTING:
        raise InvalidEnvelope(f"{where} nests signatures deeper than {MAX_NESTING}")
    if not isinstance(sig, dict):
        raise InvalidEnvelope(f"{where} is a {_kind(sig)}, expected a signature object")
    task = sig.get("task")
    if not isinstance(task, str) or not task:
        raise InvalidEnvelope(f"{where}.task is a {_kind(task)}, expected a task name")
    for key, kind in (("args", list), ("kwargs", dict), ("options", dict)):
        if key in sig and not isinstance(sig[key], kind):
            raise InvalidEnvelope(
                f"{where}.{key} is a {_kind(sig[key])}, expected a {kind.__name__}"
            )
    _check_options(sig.get("options") or {}, f"{where}.options", depth)


def _check_options(options: dict[str, Any], where: str, depth: int) -> None:
    """The options a worker reads when it publishes the signature as a follow-up."""
    for key in ("task_id", "group"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidEnvelope(f"{where}.{key} is a {_kind(value)}, expected a non-empty string")
    if options.get("queue") is not None:
        _check_queue(options["queue"], f"{where}.queue")
    headers = options.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise InvalidEnvelope(f"{where}.headers is a {_kind(headers)}, expected an object")
        if headers.get(CHORD_HEADER) is not None:
            check_chord(headers[CHORD_HEADER], f"{where}.headers.{CHORD_HEADER}", depth + 1)
    for key in ("link", "link_error"):
        if options.get(key) is not None:
            check_signatures(options[key], f"{where}.{key}", depth + 1)


def check_chord(info: Any, where: str, depth: int = 0) -> None:
    """A chord member's bookkeeping: ``{"id", "size", "index", "callback"}``."""
    if not isinstance(info, dict):
        raise InvalidEnvelope(f"{where} is a {_kind(info)}, expected an object")
    chord_id, size, index = info.get("id"), info.get("size"), info.get("index")
    if not isinstance(chord_id, str) or not chord_id:
        raise InvalidEnvelope(f"{where}.id is a {_kind(chord_id)}, expected a non-empty string")
    if not _is_int(size) or size < 1:
        raise InvalidEnvelope(f"{where}.size is {size!r}, expected an integer of at least 1")
    if not _is_int(index) or not 0 <= index < size:
        raise InvalidEnvelope(f"{where}.index is {index!r}, expected an integer in [0, {size})")
    if "callback" not in info:
        raise InvalidEnvelope(f"{where}.callback is missing")
    check_signature(info["callback"], f"{where}.callback", depth + 1)


def _check_queue(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _QUEUE_NAME.fullmatch(value):
        raise InvalidEnvelope(
            f"{where} is {value!r}, expected a queue name ([A-Za-z0-9._-], 1 to 200 characters)"
        )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "missing value" if value is None else type(value).__name__
