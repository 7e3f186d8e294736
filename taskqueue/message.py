"""The message envelope: what travels through the broker for one job.

Close to Celery's protocol v2 (task name, id, root/parent ids, retries, eta,
expires, group, callbacks) but one JSON object instead of Celery's
headers/body split, because Kafka headers are a flat list of bytes pairs and
every consumer needs the whole envelope anyway. The contract, field by field,
is in docs/protocol.md.
"""

from __future__ import annotations

import json
import operator
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .exceptions import DecodeError, InvalidEnvelope, MessageTooLarge
from .message_checks import check_envelope, check_outgoing, refuse_constant
from .serialization import (
    CONTENT_TYPES,
    JSON,
    MSGPACK,
    is_msgpack,
    pack,
    tagged,
    unpack,
    untagged,
)

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change of the envelope; workers reject others."""

CONTENT_TYPE = "application/json"

# NaN and the infinities are not JSON (RFC 8259), though Python reads and
# writes them: another language's consumer would choke on the record, and an
# ``eta`` of Infinity would circle the longest delay tier forever. Refused
# both ways, naming the value.
# Dates, decimals, UUIDs and bytes travel tagged, as Celery's JSON tags them
# (taskqueue.serialization).
_encoder = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=tagged
)
_decoder = json.JSONDecoder(parse_constant=refuse_constant, object_hook=untagged)

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "id": str,
    "task": str,
    "args": list,
    "kwargs": dict,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "queue": str,
    "root_id": str,
    "parent_id": str,
    "group": str,
    "retries": int,
    "eta": (int, float),
    "expires": (int, float),
    "sent_at": (int, float),
    "callbacks": list,
    "errbacks": list,
    "headers": dict,
    "routing_key": str,
    "origin": str,
}


def new_id() -> str:
    """A random (version 4) UUID as text, the form ``str(uuid.uuid4())`` gives.

    Formatted from the random bytes directly: building a ``UUID`` object
    first was a tenth of a coroutine's publish. 122 random bits from the
    operating system, the 4 version bits and the 2 variant bits set (RFC 9562).
    """
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Message:
    """One job's envelope. Times are UNIX epoch seconds (float, UTC)."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    retries: int = 0
    eta: float | None = None
    expires: float | None = None
    sent_at: float = 0.0
    callbacks: tuple[dict[str, Any], ...] = ()
    errbacks: tuple[dict[str, Any], ...] = ()
    headers: dict[str, Any] = field(default_factory=dict)
    routing_key: str | None = None
    origin: str | None = None
    version: int = PROTOCOL_VERSION
    serializer: str = JSON
    """Body format, ``json`` or ``msgpack`` (taskqueue.serialization); not a
    field of the document: a decoded message takes its body's format."""

    def encode(self, max_bytes: int | None = None) -> bytes:
        """JSON bytes; raises :class:`MessageTooLarge` past ``max_bytes``."""
        check_outgoing(self)
        # Built by hand: dataclasses.asdict deep-copies every value and was
        # most of the cost of a publish. Absent beats null: smaller messages
        # and a simpler contract.
        doc: dict[str, Any] = {
            "v": self.version,
            "id": self.id,
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
        }
        for name, value in zip(_OPTIONAL_ATTRS, _optional_values(self), strict=True):
            if value:
                doc[name] = value
        try:
            data = _encoder.encode(doc).encode() if self.serializer == JSON else pack(doc)
        except (TypeError, ValueError) as exc:
            kind = "JSON" if self.serializer == JSON else self.serializer
            raise TypeError(
                f"arguments of task {self.task} (id {self.id}) are not {kind}-serializable: {exc}"
            ) from exc
        if max_bytes is not None and len(data) > max_bytes:
            raise MessageTooLarge(
                f"message for task {self.task} (id {self.id}) is {len(data)} bytes, "
                f"over the limit of {max_bytes} (setting max_message_bytes); "
                "pass a reference (URL, database id) instead of the data itself"
            )
        return data

    @classmethod
    def decode(cls, data: bytes | None) -> Message:
        """Parse and validate; raises :class:`DecodeError` on anything malformed
        (:class:`InvalidEnvelope`, naming the part, for a JSON object of the
        wrong shape)."""
        if not data:
            raise DecodeError("empty message body")
        serializer = MSGPACK if is_msgpack(data) else JSON
        try:
            doc = unpack(data) if serializer == MSGPACK else _decoder.decode(data.decode("utf-8"))
        except InvalidEnvelope:
            raise  # a NaN or an infinity: the error names it
        except (UnicodeDecodeError, ValueError) as exc:
            kind = "JSON" if serializer == JSON else serializer
            raise DecodeError(f"body is not {kind}: {exc}") from None
        except RecursionError:  # JSON nested past the interpreter's stack
            raise DecodeError("body is JSON nested too deeply to decode") from None
        if not isinstance(doc, dict):
            raise DecodeError(f"body is a JSON {type(doc).__name__}, expected an object")
        _check_types(doc)
        check_envelope(doc)
        if doc["v"] != PROTOCOL_VERSION:
            raise InvalidEnvelope(
                f"protocol version {doc['v']} is not supported "
                f"(this worker speaks {PROTOCOL_VERSION})"
            )
        doc["version"] = doc.pop("v")
        doc["args"] = tuple(doc["args"])
        for name in _OPTIONAL:  # null means absent: the field's default, never None
            if name in doc and doc[name] is None:
                del doc[name]
        doc["callbacks"] = tuple(doc.get("callbacks", ()))
        doc["errbacks"] = tuple(doc.get("errbacks", ()))
        unknown = set(doc) - _FIELD_NAMES
        for name in unknown:  # newer minor additions are ignored, not fatal
            del doc[name]
        doc["serializer"] = serializer  # the body's format, never a field of it
        return cls(**doc)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """A few fields duplicated as Kafka headers, for tools that do not decode."""
        return [
            ("tq-task", self.task.encode()),
            ("tq-id", self.id.encode()),
            ("tq-version", str(self.version).encode()),
            ("content-type", CONTENT_TYPES[self.serializer].encode()),
        ]

    def retry(
        self,
        countdown: float | None = None,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Message:
        """The envelope of the next attempt (``args``/``kwargs``: new arguments)."""
        now = time.time()
        return replace(
            self,
            retries=self.retries + 1,
            eta=now + countdown if countdown else None,
            sent_at=now,
            args=self.args if args is None else tuple(args),
            kwargs=self.kwargs if kwargs is None else dict(kwargs),
        )

    def is_expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


_FIELD_NAMES = {f for f in Message.__dataclass_fields__}
_OPTIONAL_ATTRS = (
    "root_id",
    "parent_id",
    "group",
    "retries",
    "eta",
    "expires",
    "sent_at",
    "callbacks",
    "errbacks",
    "headers",
    "routing_key",
    "origin",
)
_optional_values = operator.attrgetter(*_OPTIONAL_ATTRS)
"""All optional fields' values in one call (the publish path's hottest loop)."""


def _check_types(doc: dict[str, Any]) -> None:
    for name, kind in _REQUIRED.items():
        if name not in doc:
            raise InvalidEnvelope(f"required field {name!r} is missing")
        if not isinstance(doc[name], kind) or isinstance(doc[name], bool) and kind is int:
            raise InvalidEnvelope(f"field {name!r} has type {type(doc[name]).__name__}")
    for name, kind in _OPTIONAL.items():
        value = doc.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InvalidEnvelope(f"field {name!r} has type {type(value).__name__}")
