"""Shared by the commands that wrap the framework's command line."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError


def app_spec() -> str:
    spec = getattr(settings, "TASKQUEUE_APP", "")
    if not spec:
        raise CommandError(
            "TASKQUEUE_APP is not set: name the module defining your TaskQueue app "
            "in settings, e.g. TASKQUEUE_APP = 'config.taskqueue:app'"
        )
    return spec


def run_cli(argv: list[str]) -> None:
    from taskqueue.cli import main

    status = main(argv)
    if status:
        raise CommandError(f"taskqueue {argv[0]} exited with status {status}", returncode=status)
