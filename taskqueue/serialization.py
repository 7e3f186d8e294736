"""Body formats of the envelope: JSON (default) and msgpack (``serializer=``).

Both carry the same document (docs/protocol.md). Plain JSON has no dates,
decimals, UUIDs or bytes, so these travel tagged the way Celery's JSON
serializer (kombu) tags them, and a Celery user's arguments arrive with
their types:

    datetime  {"__type__": "datetime", "__value__": "2024-05-01T12:00:00+00:00"}
    date      {"__type__": "date", "__value__": "2024-05-01"}
    time      {"__type__": "time", "__value__": "12:00:00"}
    Decimal   {"__type__": "decimal", "__value__": "1.10"}
    UUID      {"__type__": "uuid", "__value__": "6f1c..."}
    bytes     {"__type__": "bytes", "__value__": "text"}   (valid UTF-8)
              {"__type__": "base64", "__value__": "AAEC"}  (anything else)

A decoded object with exactly these two keys and a known type becomes the
value again; any other object, even one with a ``__type__`` key, is left
alone. msgpack carries bytes natively and tags the other types the same
way. Nothing here can build an arbitrary object: the types are a fixed
list, which is why pickle is never offered.

Results take the same tags (:func:`tagged_data` when a job ends,
:func:`load_tagged` when ``AsyncResult`` reads one), so a task's return
value comes back with its type too, as with Celery's JSON serializer.

A worker tells the two formats apart by the first byte: a JSON envelope
starts with ``{``, a msgpack map with a map marker (0x80-0x8f, 0xde, 0xdf),
never ``{`` (which msgpack reads as the integer 123). The ``content-type``
Kafka header says the same for tools that do not decode.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgpack

JSON = "json"
MSGPACK = "msgpack"
SERIALIZERS = (JSON, MSGPACK)
"""Names accepted by ``serializer=`` and the ``task_serializer`` setting."""

CONTENT_TYPES = {JSON: "application/json", MSGPACK: "application/x-msgpack"}
"""The ``content-type`` Kafka header of each format."""

TYPE_KEY = "__type__"
VALUE_KEY = "__value__"


def _bytes_value(value: bytes) -> tuple[str, str]:
    try:
        return "bytes", value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(value).decode("ascii")


_ENCODERS: tuple[tuple[Any, Callable[[Any], tuple[str, str]]], ...] = (
    # datetime before date: a datetime is a date too.
    (dt.datetime, lambda v: ("datetime", v.isoformat())),
    (dt.date, lambda v: ("date", v.isoformat())),
    (dt.time, lambda v: ("time", v.isoformat())),
    (Decimal, lambda v: ("decimal", str(v))),
    (uuid.UUID, lambda v: ("uuid", str(v))),
    ((bytes, bytearray, memoryview), lambda v: _bytes_value(bytes(v))),
)

_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v, validate=True),
}


def tagged(value: Any) -> dict[str, str]:
    """The tagged form of a value JSON has no type for (the encoder's
    ``default`` hook); TypeError for anything else."""
    for kind, encode in _ENCODERS:
        if isinstance(value, kind):
            name, text = encode(value)
            return {TYPE_KEY: name, VALUE_KEY: text}
    raise TypeError(f"Object of type {type(value).__name__} is not serializable")


def untagged(obj: dict[str, Any]) -> Any:
    """The value a tagged object stands for (the decoder's ``object_hook``);
    any other object unchanged. A tag with a malformed value raises ValueError."""
    if len(obj) != 2 or TYPE_KEY not in obj or VALUE_KEY not in obj:
        return obj
    decode = _DECODERS.get(obj[TYPE_KEY]) if isinstance(obj[TYPE_KEY], str) else None
    text = obj[VALUE_KEY]
    if decode is None or not isinstance(text, str):
        return obj
    try:
        return decode(text)
    except (ValueError, InvalidOperation, binascii.Error) as exc:
        raise ValueError(f"tagged {obj[TYPE_KEY]} value {text!r} is malformed: {exc}") from None


def tagged_data(value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, strings, numbers), its
    dates, decimals, UUIDs and bytes as tagged objects: the form a result is
    stored in (Redis, MongoDB) and handed to links and chords.

    TypeError (or ValueError, for a cycle) for a value JSON cannot hold.
    NaN and the infinities pass, as they always did for results.
    """
    return json.loads(json.dumps(value, default=tagged))


def load_tagged(text: str) -> Any:
    """The value of JSON ``text`` written from :func:`tagged_data`, tags decoded."""
    return json.loads(text, object_hook=untagged)


def is_msgpack(data: bytes) -> bool:
    """Whether an envelope's bytes are msgpack (a map), not JSON (an object)."""
    first = data[0]
    return 0x80 <= first <= 0x8F or first in (0xDE, 0xDF)


def _pack_default(value: Any) -> Any:
    # bytes are native in msgpack (bin type); other types are tagged as in JSON.
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return tagged(value)


def pack(doc: dict[str, Any]) -> bytes:
    """msgpack bytes of an envelope; TypeError for a value it cannot carry."""
    try:
        return msgpack.packb(doc, default=_pack_default, use_bin_type=True, datetime=False)
    except (OverflowError, ValueError) as exc:  # an int past 64 bits, nesting too deep
        raise TypeError(str(exc)) from exc


def unpack(data: bytes) -> Any:
    """An envelope from msgpack bytes; ValueError when they are malformed."""
    try:
        return msgpack.unpackb(data, raw=False, object_hook=untagged, strict_map_key=True)
    except ValueError:
        raise
    except Exception as exc:  # msgpack's own errors (ExtraData, FormatError, ...)
        raise ValueError(f"body is not msgpack: {exc}") from None


def check_serializer(name: str) -> str:
    """``name`` if it is a serializer here, else a ValueError saying which are."""
    if name not in SERIALIZERS:
        raise ValueError(
            f"serializer {name!r} is not supported: use one of {', '.join(SERIALIZERS)} "
            "(pickle and yaml are never accepted: decoding them can run the sender's code)"
        )
    return name
