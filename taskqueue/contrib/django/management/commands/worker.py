"""manage.py worker: `python -m taskqueue worker` for the project's app."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._cli import app_spec, run_cli


class Command(BaseCommand):
    help = "Start a taskqueue worker for the project's app (TASKQUEUE_APP)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("-Q", "--queues", help="comma-separated queues")
        parser.add_argument("-c", "--concurrency", type=int, help="pool size")
        parser.add_argument("-P", "--pool", choices=("threads", "processes"))
        parser.add_argument("-n", "--name", help="worker name (default host:pid)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, **options) -> None:
        argv = ["worker", "-A", app_spec(), "--loglevel", options["loglevel"]]
        for flag in ("queues", "concurrency", "pool", "name"):
            if options[flag] is not None:
                argv += [f"--{flag}", str(options[flag])]
        run_cli(argv)
