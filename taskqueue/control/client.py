"""Calling workers' control services: discovery, deadlines, failures reported.

Workers are found through their heartbeats in the state store (the ``grpc``
field holds ``host:port``). Every call carries a deadline; calls to several
workers run concurrently (``future()``), so the slowest worker bounds the
wait, and a worker that does not answer comes back as an :class:`Answer`
with its error, never as a hang or an exception. Every call presents the
app's ``control_token`` (:mod:`.auth`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from . import auth
from .plane import HEARTBEAT_FIELD
from .proto import pb, pb_grpc

if TYPE_CHECKING:
    from ..app import TaskQueue

DEFAULT_TIMEOUT = 1.0
"""Seconds a control call may take before the worker is reported unreachable."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One worker's answer to one call: ``reply``, or why there is none."""

    worker: str
    address: str | None
    reply: Any = None
    error: str | None = None
    code: str | None = None  # gRPC status name (NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED...)
    details: str = ""  # the worker's own words about a refusal

    @property
    def ok(self) -> bool:
        return self.error is None


class ControlClient:
    """Talks to the workers of ``app``; channels are cached per address."""

    def __init__(self, app: TaskQueue, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def workers(self) -> dict[str, dict[str, str]]:
        """Live workers (heartbeat hashes) by name."""
        return self.app.state_backend.workers()

    def stub(self, address: str) -> Any:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                token = self.app.settings.control_token
                channel = self._channels[address] = auth.channel(address, token)
        return pb_grpc.WorkerStub(channel)

    def call(
        self,
        worker: str,
        address: str | None,
        method: str,
        request: Any,
        timeout: float | None = None,
    ) -> Answer:
        return self.call_many([(worker, address)], method, request, timeout)[0]

    def call_many(
        self,
        targets: list[tuple[str, str | None]],
        method: str,
        request: Any,
        timeout: float | None = None,
    ) -> list[Answer]:
        """Call ``method`` on every target at once; one :class:`Answer` each, in order."""
        deadline = self.timeout if timeout is None else timeout
        pending: list[tuple[str, str | None, Any]] = []
        for name, address in targets:
            if not address:
                pending.append((name, address, None))
                continue
            rpc = getattr(self.stub(address), method)
            pending.append((name, address, rpc.future(request, timeout=deadline)))
        answers = []
        for name, address, future in pending:
            if future is None:
                answers.append(
                    Answer(name, None, error="no control address in its heartbeat", code="NONE")
                )
                continue
            try:
                answers.append(Answer(name, address, reply=future.result()))
            except grpc.RpcError as exc:
                answers.append(_failed(name, address, exc))
        return answers

    def broadcast(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        destination: Sequence[str] | None = None,
    ) -> list[Answer]:
        """Call every live worker, or only those named in ``destination``
        (chosen before calling: a command never reaches the others)."""
        targets = [
            (n, info.get(HEARTBEAT_FIELD))
            for n, info in sorted(self.workers().items())
            if destination is None or n in destination
        ]
        return self.call_many(targets, method, request, timeout)

    # --- the service's calls ------------------------------------------------------
    def ping(self) -> list[Answer]:
        return self.broadcast("Ping", pb.PingRequest())

    def stats(self, with_lag: bool = False) -> list[Answer]:
        return self.broadcast("Stats", pb.StatsRequest(with_lag=with_lag))

    def active(self) -> list[Answer]:
        return self.broadcast("ActiveJobs", pb.ActiveJobsRequest())

    def registered(self) -> list[Answer]:
        return self.broadcast("Registered", pb.RegisteredRequest())

    def holder(self, job_id: str) -> tuple[str, str | None] | None:
        """The worker the state store says runs ``job_id`` and its address, if live."""
        name = self.app.state_backend.read(job_id).get("worker")
        if not name:
            return None
        info = self.workers().get(name)
        return (name, info.get(HEARTBEAT_FIELD)) if info else None

    def progress(self, job_id: str) -> Answer | None:
        """Progress from the worker holding the job (None when no worker holds it)."""
        holder = self.holder(job_id)
        if holder is not None:
            answer = self.call(*holder, "GetProgress", pb.GetProgressRequest(job_id=job_id))
            if answer.ok:
                return answer
        for answer in self.broadcast("GetProgress", pb.GetProgressRequest(job_id=job_id)):
            if answer.ok:
                return answer
        return None

    def watch(self, address: str, job_id: str, timeout: float) -> Iterator[Any]:
        """Stream a job's progress until it ends (``timeout`` bounds the whole stream)."""
        stub = self.stub(address)
        yield from stub.WatchProgress(pb.GetProgressRequest(job_id=job_id), timeout=timeout)

    def revoke(self, job_id: str, terminate: bool = False, reason: str = "") -> list[Answer]:
        """Revoke on the worker holding the job, or on every worker when none is known.

        The first worker stores the REVOKED state; the others find it final
        already, and only the holder can interrupt the running attempt.
        """
        request = pb.RevokeRequest(job_id=job_id, terminate=terminate, reason=reason)
        holder = self.holder(job_id)
        if holder is not None and holder[1]:
            answer = self.call(*holder, "Revoke", request)
            if answer.ok:
                return [answer]
        return self.broadcast("Revoke", request)

    def revoked(self) -> list[Answer]:
        return self.broadcast("Revoked", pb.RevokedRequest())

    def scheduled(self) -> list[Answer]:
        return self.broadcast("Scheduled", pb.ScheduledRequest())

    # --- commands that change workers: only those in ``destination`` (None: all) ---
    def shutdown(self, destination: Sequence[str] | None = None, reason: str = "") -> list[Answer]:
        return self.broadcast(
            "Shutdown", pb.ShutdownRequest(reason=reason), destination=destination
        )

    def pool_grow(self, n: int = 1, destination: Sequence[str] | None = None) -> list[Answer]:
        return self.broadcast("PoolGrow", pb.PoolResizeRequest(n=n), destination=destination)

    def pool_shrink(self, n: int = 1, destination: Sequence[str] | None = None) -> list[Answer]:
        return self.broadcast("PoolShrink", pb.PoolResizeRequest(n=n), destination=destination)

    def autoscale(
        self, max: int, min: int, destination: Sequence[str] | None = None
    ) -> list[Answer]:
        return self.broadcast(
            "Autoscale", pb.AutoscaleRequest(max=max, min=min), destination=destination
        )

    def add_consumer(self, queue: str, destination: Sequence[str] | None = None) -> list[Answer]:
        return self.broadcast(
            "AddConsumer", pb.ConsumerRequest(queue=queue), destination=destination
        )

    def cancel_consumer(self, queue: str, destination: Sequence[str] | None = None) -> list[Answer]:
        return self.broadcast(
            "CancelConsumer", pb.ConsumerRequest(queue=queue), destination=destination
        )

    def set_rate_limit(self, task: str, rate: str) -> list[Answer]:
        return self.broadcast("SetRateLimit", pb.SetRateLimitRequest(task=task, rate=rate))

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


def _failed(worker: str, address: str | None, exc: grpc.RpcError) -> Answer:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    text = "unreachable" if name in ("UNAVAILABLE", "DEADLINE_EXCEEDED") else "failed"
    return Answer(
        worker,
        address,
        error=f"{text}: {name} {details or ''}".strip(),
        code=name,
        details=details or "",
    )
