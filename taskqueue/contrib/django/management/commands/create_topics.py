"""manage.py create_topics: create the Kafka topics of the project's queues."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._cli import app_spec, run_cli


class Command(BaseCommand):
    help = "Create the queue and dead-letter topics of the project's app (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("-Q", "--queues", help="comma-separated queues (default: all known)")

    def handle(self, *args, **options) -> None:
        argv = ["topics", "create", "-A", app_spec()]
        if options["queues"]:
            argv += ["--queues", options["queues"]]
        run_cli(argv)
