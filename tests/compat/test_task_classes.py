"""Celery's "Tasks" guide on custom task classes, hooks, ``self.request`` and
``shared_task``, with only ``celery`` replaced by ``taskqueue`` in the imports."""

from __future__ import annotations

from typing import Any

import pytest

from taskqueue import Task, TaskQueue, shared_task
from taskqueue.exceptions import ConfigurationError
from taskqueue.worker.main import Worker

from .conftest import BOTH_STACKS

pytestmark = pytest.mark.timeout(120)

T = 30
"""Seconds any single result may take."""


class Recorder(Task):
    """Celery's example hooks, recording what they were called with."""

    calls: list[tuple[Any, ...]] = []

    def before_start(self, task_id: Any, args: Any, kwargs: Any) -> None:
        self.calls.append(("before_start", task_id, tuple(args)))

    def on_success(self, retval: Any, task_id: Any, args: Any, kwargs: Any) -> None:
        self.calls.append(("on_success", retval, task_id))

    def on_failure(self, exc: Any, task_id: Any, args: Any, kwargs: Any, einfo: Any) -> None:
        self.calls.append(("on_failure", type(exc).__name__, task_id, "boom" in einfo.traceback))

    def on_retry(self, exc: Any, task_id: Any, args: Any, kwargs: Any, einfo: Any) -> None:
        self.calls.append(("on_retry", type(exc).__name__, task_id))

    def after_return(
        self, status: Any, retval: Any, task_id: Any, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        self.calls.append(("after_return", str(status), task_id))


@pytest.fixture
def recorder() -> type[Recorder]:
    class Fresh(Recorder):
        calls: list[tuple[Any, ...]] = []

    return Fresh


@BOTH_STACKS
def test_a_base_class_hooks_run_in_the_worker_in_celerys_order(
    capp: TaskQueue, recorder: type[Recorder], worker: Worker
) -> None:
    @capp.task(base=recorder)
    def add(x: int, y: int) -> int:
        return x + y

    @capp.task(base=recorder, bind=True, max_retries=1)
    def flaky(self: Task) -> str:
        if self.request.retries == 0:
            raise self.retry(exc=OSError("boom"), countdown=0)
        raise ValueError("boom")

    ok = add.delay(2, 2)
    assert ok.get(timeout=T) == 4
    bad = flaky.delay()
    bad.get(timeout=T, propagate=False)
    assert recorder.calls[:3] == [
        ("before_start", ok.id, (2, 2)),
        ("on_success", 4, ok.id),
        ("after_return", "SUCCESS", ok.id),
    ]
    assert recorder.calls[3:] == [
        ("before_start", bad.id, ()),
        ("on_retry", "OSError", bad.id),
        ("after_return", "RETRY", bad.id),
        ("before_start", bad.id, ()),
        ("on_failure", "ValueError", bad.id, True),
        ("after_return", "FAILURE", bad.id),
    ]


@pytest.mark.fast
def test_class_attributes_are_task_options_and_the_decorator_wins(capp: TaskQueue) -> None:
    class BaseTaskWithRetry(capp.Task):  # type: ignore[name-defined,misc]
        autoretry_for = (TypeError,)
        max_retries = 5
        retry_backoff = True
        retry_backoff_max = 700
        retry_jitter = False
        rate_limit = "10/m"
        queue = "low"

    @capp.task(base=BaseTaskWithRetry)
    def a() -> None: ...

    @capp.task(base=BaseTaskWithRetry, max_retries=1, rate_limit="1/s")
    def b() -> None: ...

    assert isinstance(a, BaseTaskWithRetry)
    assert (a.autoretry_for, a.max_retries, a.queue) == ((TypeError,), 5, "low")
    assert (a.retry_backoff, a.retry_backoff_max, a.retry_jitter) == (True, 700, False)
    assert a.options["rate_limit"] == "10/m", "the rate-limit policy reads it"
    assert (b.max_retries, b.rate_limit) == (1, "1/s")


@pytest.mark.fast
def test_calling_a_bound_task_directly_runs_it_with_called_directly(capp: TaskQueue) -> None:
    @capp.task(bind=True)
    def whoami(self: Task, x: int) -> tuple[Any, ...]:
        return self.request.id, self.request.called_directly, self.request.is_eager, x

    assert whoami(1) == (None, True, False, 1)
    eager = whoami.apply((2,)).get()
    assert eager[1:] == (False, True, 2) and eager[0]


@BOTH_STACKS
def test_self_request_has_celerys_fields_in_the_worker(
    capp: TaskQueue, tasks: dict[str, Any], worker: Worker
) -> None:
    @capp.task(bind=True)
    def show(self: Task) -> dict[str, Any]:
        r = self.request
        return {
            "expires": r.expires,
            "callbacks": r.callbacks,
            "errbacks": r.errbacks,
            "chord": r.chord,
            "called_directly": r.called_directly,
            "is_eager": r.is_eager,
        }

    seen = show.apply_async(
        expires=600, link=tasks["add"].s(1), link_error=tasks["error_handler"].s()
    ).get(timeout=T)
    assert seen["expires"] and seen["expires"].endswith("+00:00"), "ISO 8601 in UTC"
    assert [s["task"] for s in seen["callbacks"]] == ["tasks.add"]
    assert [s["task"] for s in seen["errbacks"]] == ["tasks.error_handler"]
    assert (seen["chord"], seen["called_directly"], seen["is_eager"]) == (None, False, False)


@BOTH_STACKS
def test_a_class_with_its_own_call_wraps_the_body_in_the_worker(
    capp: TaskQueue, worker: Worker
) -> None:
    class Announcing(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return ("started", self.request.id, self.run(*args, **kwargs))

    @capp.task(base=Announcing)
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(1, 1)
    assert result.get(timeout=T) == ["started", result.id, 2]


@pytest.mark.fast
def test_tasks_of_a_script_are_named_after_the_app(capp: TaskQueue) -> None:
    def add(x: int, y: int) -> int:
        return x + y

    add.__module__, add.__qualname__ = "__main__", "add"  # as defined in a script
    assert capp.task(add).name == "compat.add"


@pytest.mark.fast
def test_shared_task_registers_on_every_app_and_uses_the_current_one(
    capp: TaskQueue, unique_name: str
) -> None:
    @shared_task(name=f"{unique_name}.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    assert f"{unique_name}.mul" in capp.tasks, "an app that existed already"
    later = TaskQueue("later", broker_url="memory://", redis_url="memory://", mongo_url="memory://")
    assert later.tasks[f"{unique_name}.mul"].fn is mul.__wrapped__, "an app created later"
    assert mul.app is later, "the newest app is current"
    capp.set_current()
    assert mul.app is capp and mul(3, 4) == 12
    later.close()


@BOTH_STACKS
def test_a_registered_class_based_task_runs_on_a_worker_and_in_canvases(
    capp: TaskQueue, tasks: dict[str, Any], worker: Worker
) -> None:
    class CustomTask(capp.Task):  # type: ignore[name-defined,misc]
        name = "custom"

        def run(self, x: int, y: int) -> int:
            return x + y + self.request.retries

    custom = capp.register_task(CustomTask())
    assert isinstance(custom, CustomTask) and capp.tasks["custom"] is custom
    assert custom.delay(2, 2).get(timeout=T) == 4
    assert capp.send_task("custom", (1, 2)).get(timeout=T) == 3
    assert (custom.s(2, 2) | tasks["mul"].s(10))().get(timeout=T) == 40
    assert custom(1, 1) == 2, "called directly, as a function"


@pytest.mark.fast
def test_a_class_without_a_name_gets_celerys_automatic_name(capp: TaskQueue) -> None:
    class CustomTask(Task):
        max_retries = 7
        rate_limit = "5/m"

        def run(self) -> str:
            return "running"

    custom = capp.register_task(CustomTask())
    assert custom.name == f"{__name__}.CustomTask" and capp.tasks[custom.name] is custom
    assert (custom.max_retries, custom.rate_limit) == (7, "5/m"), "class attributes are options"
    assert custom.apply().get() == "running"
    assert capp.register_task(CustomTask).name == custom.name, "the class itself, instantiated"

    class NoBody(Task):
        pass

    with pytest.raises(ConfigurationError, match="run"):
        capp.register_task(NoBody())
