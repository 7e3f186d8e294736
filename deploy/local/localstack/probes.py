"""Protocol-level health probes, standard library only.

A listening port proves little (Kafka opens its port before it can serve);
each probe speaks the first exchange of the service's own protocol and
checks the answer, with a short timeout.
"""

from __future__ import annotations

import socket
import struct


class ProbeFailed(Exception):
    """The service did not answer its protocol's greeting correctly."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _exchange(port: int, request: bytes, expect: int, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while len(data) < expect:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def kafka(port: int, timeout: float = 2.0) -> None:
    """ApiVersions v0 request; a broker ready to serve answers error code 0."""
    correlation_id = 7
    client_id = b"localstack"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    reply = _exchange(port, struct.pack(">i", len(body)) + body, 10, timeout)
    if len(reply) < 10:
        raise ProbeFailed("no ApiVersions reply")
    _size, got_id, error_code = struct.unpack(">iih", reply[:10])
    if got_id != correlation_id or error_code != 0:
        raise ProbeFailed(f"ApiVersions error code {error_code}")


def redis(port: int, timeout: float = 2.0) -> None:
    reply = _exchange(port, b"PING\r\n", 7, timeout)
    if not reply.startswith(b"+PONG"):
        raise ProbeFailed(f"PING answered {reply[:40]!r}")


def amqp(port: int, timeout: float = 2.0) -> None:
    """The AMQP 0-9-1 protocol header; a broker answers with Connection.Start."""
    reply = _exchange(port, b"AMQP\x00\x00\x09\x01", 7, timeout)
    # Frame type 1 (method) on channel 0 is the Connection.Start frame.
    if len(reply) < 7 or reply[0] != 1 or reply[1:3] != b"\x00\x00":
        raise ProbeFailed(f"AMQP greeting answered {reply[:16]!r}")


def _bson_ping() -> bytes:
    ping = b"\x10ping\x00" + struct.pack("<i", 1)
    db = b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    elements = ping + db
    return struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"


def mongo(port: int, timeout: float = 2.0) -> None:
    """An OP_MSG {ping: 1} command; the reply document must say ok: 1.0."""
    payload = struct.pack("<i", 0) + b"\x00" + _bson_ping()
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)
    reply = _exchange(port, header + payload, 21, timeout)
    ok_double = b"\x01ok\x00" + struct.pack("<d", 1.0)
    if ok_double not in reply:
        raise ProbeFailed(f"ping answered {reply[:60]!r}")


def postgres(port: int, user: str, database: str, timeout: float = 2.0) -> None:
    """A protocol 3.0 StartupMessage; a server ready for queries answers
    AuthenticationOk and then ReadyForQuery (trust authentication on loopback).
    While it starts or recovers it answers an ErrorResponse instead."""
    params = b"user\x00" + user.encode() + b"\x00database\x00" + database.encode() + b"\x00\x00"
    startup = struct.pack(">ii", 8 + len(params), 196608) + params
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(startup)
        data = b""
        while True:
            # Each message: a type byte, then its length (counting itself).
            while len(data) >= 5 and len(data) >= 1 + struct.unpack(">i", data[1:5])[0]:
                kind, size = data[:1], struct.unpack(">i", data[1:5])[0]
                body, data = data[5 : 1 + size], data[1 + size :]
                if kind == b"E":
                    raise ProbeFailed(_postgres_error(body))
                if kind == b"R" and body[:4] != b"\x00\x00\x00\x00":
                    raise ProbeFailed("the server asks for a password (trust expected)")
                if kind == b"Z":
                    sock.sendall(b"X\x00\x00\x00\x04")  # Terminate
                    return
            chunk = sock.recv(4096)
            if not chunk:
                raise ProbeFailed("connection closed before ReadyForQuery")
            data += chunk


def _postgres_error(body: bytes) -> str:
    """The message field ('M') of an ErrorResponse."""
    for field in body.split(b"\x00"):
        if field[:1] == b"M":
            return field[1:].decode(errors="replace")
    return "error response"


PROBES = {"kafka": kafka, "redis": redis, "rabbitmq": amqp, "mongo": mongo}
