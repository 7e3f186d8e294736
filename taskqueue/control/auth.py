"""Who may call a worker's gRPC control service: a shared token.

Every call carries ``authorization: Bearer <control_token>`` as gRPC
metadata (:class:`TokenMetadata`, put on every channel the
:class:`~taskqueue.control.client.ControlClient` opens); the server
(:class:`TokenAuth`) refuses any other call with ``UNAUTHENTICATED`` before
the method runs. The comparison is constant-time.

Without a token the service is open to whoever reaches its port, so it may
then listen on loopback only (:func:`check_bind`): the local stack works
with no configuration, and a cluster cannot expose an open control plane by
forgetting a setting. In a cluster, set ``control_token`` from a Secret for
workers and the site alike, and put mTLS between pods (a service mesh) to
encrypt the calls and the token (docs/security.md, "Control plane").
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

from ..config import is_loopback
from ..exceptions import ConfigurationError

METADATA_KEY = "authorization"
"""gRPC metadata key of the token (lower case: gRPC metadata keys are)."""

SCHEME = "Bearer "


def check_bind(host: str, token: str) -> None:
    """Refuse to serve an unauthenticated control plane beyond loopback."""
    if not token and not is_loopback(host):
        raise ConfigurationError(
            f"control_host={host!r} is not a loopback address and control_token is empty: "
            "anyone reaching the port could revoke jobs and change rate limits. Set "
            "TASKQUEUE_CONTROL_TOKEN (the same value for workers, the site and the CLI), "
            "or bind to 127.0.0.1"
        )


def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong control token")


_REFUSAL = grpc.unary_unary_rpc_method_handler(_refuse)
"""The handler of a refused call: it aborts before reading anything. One
unary handler serves streaming methods too, since it never answers."""


class TokenAuth(grpc.ServerInterceptor):
    """Server side: lets a call through only with the right token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("TokenAuth needs a non-empty token")
        self._expected = (SCHEME + token).encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        presented = ""
        for key, value in handler_call_details.invocation_metadata or ():  # type: ignore[attr-defined]
            if key == METADATA_KEY and isinstance(value, str):
                presented = value
        if hmac.compare_digest(presented.encode(), self._expected):
            return continuation(handler_call_details)
        return _REFUSAL


class TokenMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Client side: adds the token to every unary and server-streaming call."""

    def __init__(self, token: str) -> None:
        self._pair = (METADATA_KEY, SCHEME + token)

    def _with_token(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self._pair]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)


class _CallDetails(grpc.ClientCallDetails):
    """grpc.ClientCallDetails is abstract; interceptors build their own."""

    def __init__(
        self,
        method: str,
        timeout: float | None,
        metadata: Any,
        credentials: Any,
        wait_for_ready: bool | None,
        compression: Any,
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def channel(address: str, token: str) -> grpc.Channel:
    """A channel to a worker that presents ``token`` on every call (if any)."""
    plain = grpc.insecure_channel(address)
    return grpc.intercept_channel(plain, TokenMetadata(token)) if token else plain
