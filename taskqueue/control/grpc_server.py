"""The worker's gRPC service (``taskqueue.control.v1.Worker``, see protos/).

Served by a small thread pool, on loopback unless configured, to callers
that present the shared ``control_token`` (:mod:`.auth`). Unary calls answer from memory
(the in-flight registry, the loop's counters) except Stats with lag, which
asks Kafka with a bounded timeout. A WatchProgress stream holds one server
thread while it lasts, so concurrent watches are capped (``MAX_WATCHES``);
one more is refused with RESOURCE_EXHAUSTED rather than starving Ping.

Commands that change the worker (pool size, queues) run in the poll loop's
thread (:mod:`taskqueue.worker.mailbox`); a refused one comes back as
INVALID_ARGUMENT (a bad argument) or FAILED_PRECONDITION (not possible on
this worker now), with details that say what was wrong.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from ..exceptions import ConfigurationError
from ..policies.revoke import revoke
from ..worker.mailbox import BadArgument, CommandRefused
from ..worker.snapshot import ActiveJob
from .auth import TokenAuth, check_bind
from .inflight import FINAL_STATES, Held, InFlight, progress_of
from .lag import LagProbe
from .proto import pb, pb_grpc

if TYPE_CHECKING:
    from ..app import TaskQueue

logger = logging.getLogger("taskqueue.control")

THREADS = 16
"""Server threads: unary calls and watch streams share them."""

MAX_WATCHES = THREADS - 4
"""Concurrent WatchProgress streams; the rest of the threads stay for unary calls."""

WATCH_TICK = 1.0
"""Seconds a watch waits for a change before checking the client is still there."""


class WorkerView(Protocol):
    """What the service reads of the worker (adapter in :mod:`taskqueue.control.plane`)."""

    name: str
    pool: str
    started_at: float

    @property
    def concurrency(self) -> int: ...

    @property
    def queues(self) -> list[str]: ...

    def scheduled(self) -> list[ActiveJob]: ...

    def shutdown(self, reason: str) -> str: ...

    def pool_grow(self, n: int) -> str: ...

    def pool_shrink(self, n: int) -> str: ...

    def autoscale(self, max_size: int, min_size: int) -> str: ...

    def add_consumer(self, queue: str) -> str: ...

    def cancel_consumer(self, queue: str) -> str: ...

    def in_flight(self) -> int: ...

    def processed(self) -> int: ...

    def partitions(self) -> list[tuple[str, int]]: ...

    def problem(self) -> tuple[str, float | None]:
        """Why the worker is unhealthy ("" when healthy), and since when."""
        ...


def _progress(held: Held) -> Any:
    p = progress_of(held)
    if held.progress is None:
        return pb.Progress(known=False, percent=-1)
    return pb.Progress(
        known=True,
        current=float(p["current"] or 0),
        total=float(p["total"] or 0),
        percent=float(p["percent"]) if p["percent"] is not None else -1,
        message=str(p["message"] or ""),
    )


def job_progress(held: Held, worker: str) -> Any:
    return pb.JobProgress(
        job_id=held.job_id,
        state=held.state,
        attempt=held.attempt,
        progress=_progress(held),
        worker=worker,
        updated_at=held.updated_at,
        final=held.final or held.state in FINAL_STATES,
    )


class WorkerService(pb_grpc.WorkerServicer):
    def __init__(
        self,
        app: TaskQueue,
        view: WorkerView,
        inflight: InFlight,
        lag: LagProbe | None,
    ) -> None:
        self.app = app
        self.view = view
        self.inflight = inflight
        self.lag = lag
        self._watches = threading.BoundedSemaphore(MAX_WATCHES)

    def Ping(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        problem, since = self.view.problem()
        return pb.PingReply(
            worker=self.view.name,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            uptime_seconds=time.time() - self.view.started_at,
            healthy=not problem,
            problem=problem,
            problem_seconds=time.time() - since if since is not None else 0.0,
        )

    def Stats(self, request: Any, context: Any) -> Any:  # noqa: N802
        v, c = self.view, self.inflight.counters
        assigned = sorted(v.partitions())
        if request.with_lag and self.lag is not None:
            lags = self.lag.measure(assigned)
        else:
            from .lag import PartitionLag

            lags = [PartitionLag(t, p, -1, -1, -1) for t, p in assigned]
        known = [x.lag for x in lags if x.lag >= 0]
        return pb.StatsReply(
            worker=v.name,
            pool=v.pool,
            concurrency=v.concurrency,
            in_flight=v.in_flight(),
            processed=max(v.processed(), c.processed),
            succeeded=c.succeeded,
            failed=c.failed,
            retried=c.retried,
            queues=v.queues,
            partitions=[
                pb.PartitionLag(
                    topic=x.topic,
                    partition=x.partition,
                    committed=x.committed,
                    high_watermark=x.high_watermark,
                    lag=x.lag,
                )
                for x in lags
            ],
            total_lag=sum(known) if known and len(known) == len(lags) else -1,
            rate_limits=self.app.rate_limiter.limits(),
            uptime_seconds=time.time() - v.started_at,
        )

    def ActiveJobs(self, request: Any, context: Any) -> Any:  # noqa: N802
        jobs = sorted(self.inflight.snapshot(), key=lambda h: h.received_at)
        return pb.ActiveJobsReply(
            jobs=[
                pb.ActiveJob(
                    id=h.job_id,
                    task=h.task,
                    attempt=h.attempt,
                    state=h.state,
                    received_at=h.received_at,
                    started_at=h.started_at,
                    progress=_progress(h),
                )
                for h in jobs
            ]
        )

    def GetProgress(self, request: Any, context: Any) -> Any:  # noqa: N802
        held = self.inflight.get(request.job_id)
        if held is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} is not held here")
            raise AssertionError("abort raises")
        return job_progress(held, self.view.name)

    def WatchProgress(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
        held = self.inflight.get(request.job_id)
        if held is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} is not held here")
            raise AssertionError("abort raises")
        if not self._watches.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{MAX_WATCHES} watches running")
        try:
            yield job_progress(held, self.view.name)
            version = held.version
            while context.is_active() and not held.final:
                current = self.inflight.watch(request.job_id, version, WATCH_TICK)
                if current is None:  # gone without a final state here (released)
                    return
                if current.version != version:
                    version = current.version
                    held = current
                    yield job_progress(held, self.view.name)
        finally:
            self._watches.release()

    def Revoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        if not request.job_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_id is required")
        held = self.inflight.get(request.job_id) is not None
        result = revoke(self.app, request.job_id, request.terminate, request.reason)
        return pb.RevokeReply(
            revoked=result.revoked, held=held, terminated=result.terminated, detail=result.detail
        )

    def SetRateLimit(self, request: Any, context: Any) -> Any:  # noqa: N802
        if not request.task:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task is required")
        try:
            rate, previous = self.app.control.rate_limit(request.task, request.rate)
        except ConfigurationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        logger.info("rate limit of %s: %r (was %r)", request.task, rate, previous)
        return pb.SetRateLimitReply(task=request.task, rate=rate, previous=previous)

    def Registered(self, request: Any, context: Any) -> Any:  # noqa: N802
        # The framework's own tasks are left out, as Celery leaves out ``celery.*``.
        names = sorted(n for n in self.app.tasks if not n.startswith("taskqueue."))
        return pb.RegisteredReply(tasks=names)

    def Revoked(self, request: Any, context: Any) -> Any:  # noqa: N802
        # The shared set of the state store: every worker answers the same.
        return pb.RevokedReply(ids=sorted(self.app.state.active_revocations()))

    def Scheduled(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ScheduledReply(
            jobs=[
                pb.ScheduledJob(
                    id=j.id,
                    task=j.task,
                    eta=j.eta or 0.0,
                    priority=-1,
                    attempt=j.attempt,
                    topic=j.topic,
                    partition=j.partition,
                    offset=j.offset,
                )
                for j in self.view.scheduled()
            ]
        )

    def Shutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.shutdown(request.reason))

    def PoolGrow(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.pool_grow(request.n))

    def PoolShrink(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.pool_shrink(request.n))

    def Autoscale(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.autoscale(request.max, request.min))

    def AddConsumer(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.add_consumer(request.queue))

    def CancelConsumer(self, request: Any, context: Any) -> Any:  # noqa: N802
        return _command(context, lambda: self.view.cancel_consumer(request.queue))


def _command(context: Any, command: Callable[[], str]) -> Any:
    """Run a control command; a refusal aborts the call with what was wrong."""
    try:
        return pb.ControlReply(ok=command())
    except (BadArgument, ValueError) as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except CommandRefused as exc:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    except Exception as exc:  # a failure (Kafka away while adding a queue...), not a bug to hide
        logger.exception("control command failed")
        context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
    raise AssertionError("abort raises")


def serve(service: WorkerService, host: str, port: int, token: str = "") -> tuple[grpc.Server, str]:
    """Start the server on ``host:port`` (0 = a free port); returns it and its address.

    With ``token``, every call must present it (:mod:`.auth`); without one,
    only a loopback ``host`` is accepted.
    """
    check_bind(host, token)
    server = grpc.server(
        ThreadPoolExecutor(THREADS, thread_name_prefix="taskqueue-grpc"),
        interceptors=[TokenAuth(token)] if token else None,
        options=[("grpc.so_reuseport", 0)],
    )
    pb_grpc.add_WorkerServicer_to_server(service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise ConfigurationError(f"cannot bind the control plane's gRPC server to {host}:{port}")
    server.start()
    return server, f"{host}:{bound}"
