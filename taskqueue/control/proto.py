"""The generated gRPC modules, or an error that says how to generate them."""

from __future__ import annotations

try:
    from taskqueue.control.v1 import worker_pb2 as pb
    from taskqueue.control.v1 import worker_pb2_grpc as pb_grpc
except ImportError as exc:  # pragma: no cover - depends on the checkout
    raise ImportError(
        "the gRPC code of taskqueue's control plane is not generated: run "
        "`python -m taskqueue.control.codegen` (scripts/install does) "
        f"[{exc}]"
    ) from exc

__all__ = ["pb", "pb_grpc"]
