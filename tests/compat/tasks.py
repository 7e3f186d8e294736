"""The tasks of Celery's user guide examples (``add``, ``mul``, ``xsum``),
registered under the names the guide's ``tasks`` module gives them."""

from __future__ import annotations

from typing import Any

from taskqueue import TaskQueue


def register(app: TaskQueue) -> dict[str, Any]:
    @app.task(name="tasks.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="tasks.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(name="tasks.xsum")
    def xsum(numbers: list[int]) -> int:
        return sum(numbers)

    @app.task(name="tasks.fail", max_retries=0)
    def fail(message: str) -> None:
        raise ValueError(message)

    @app.task(name="tasks.error_handler")
    def error_handler(task_id: str) -> str:
        return f"handled {task_id}"

    return {"add": add, "mul": mul, "xsum": xsum, "fail": fail, "error_handler": error_handler}
