"""The ``graphql-transport-ws`` protocol: message types, close codes, validation.

The subset we speak (the whole protocol the ``graphql-ws`` npm client uses):
``connection_init``/``connection_ack``, ``ping``/``pong`` both ways,
``subscribe``/``next``/``error``/``complete``. A message that breaks a rule
closes the socket with the protocol's code, as the reference server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

SUBPROTOCOL = "graphql-transport-ws"


class Close(IntEnum):
    """Close codes the protocol defines, and the reasons we send with them."""

    INTERNAL_ERROR = 4500
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    INIT_TIMEOUT = 4408
    SUBSCRIBER_EXISTS = 4409
    TOO_MANY_INIT = 4429


CLIENT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})


class ProtocolError(Exception):
    """A message that breaks the protocol: close with ``code`` and ``reason``."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # a close reason must fit in 123 bytes


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    id: str | None = None
    payload: Any = None


def parse(text: str | None) -> Message:
    """A client message, or :class:`ProtocolError` (4400) saying what is wrong."""
    if text is None:
        raise ProtocolError(Close.BAD_REQUEST, "Binary frames are not part of the protocol")
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError(Close.BAD_REQUEST, "Invalid message received: not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError(Close.BAD_REQUEST, "Invalid message received: no type")
    kind = data["type"]
    if kind not in CLIENT_TYPES:
        raise ProtocolError(Close.BAD_REQUEST, f"Invalid message received: unknown type {kind!r}")
    payload = data.get("payload")
    if kind in ("subscribe", "complete"):
        op_id = data.get("id")
        if not isinstance(op_id, str) or not op_id:
            raise ProtocolError(Close.BAD_REQUEST, f"Invalid message received: {kind} needs an id")
        if kind == "subscribe" and (
            not isinstance(payload, dict) or not isinstance(payload.get("query"), str)
        ):
            raise ProtocolError(
                Close.BAD_REQUEST, "Invalid message received: subscribe needs payload.query"
            )
        if (
            kind == "subscribe"
            and isinstance(payload, dict)
            and not isinstance(payload.get("variables") or {}, dict)
        ):
            raise ProtocolError(
                Close.BAD_REQUEST, "Invalid message received: variables must be an object"
            )
        return Message(kind, op_id, payload)
    if payload is not None and not isinstance(payload, dict):
        raise ProtocolError(Close.BAD_REQUEST, f"Invalid message received: {kind} payload")
    return Message(kind, None, payload)


def encode(kind: str, op_id: str | None = None, payload: Any = None) -> str:
    message: dict[str, Any] = {"type": kind}
    if op_id is not None:
        message["id"] = op_id
    if payload is not None:
        message["payload"] = payload
    return json.dumps(message, separators=(",", ":"), default=str)
