"""manage.py beat: `python -m taskqueue beat` for the project's app.

The schedule comes from the app's ``beat_source`` when it has one (the jobs
app installs its database-backed ``PeriodicSchedule`` source), else from
``app.beat_schedule`` in code.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ._cli import app_spec, run_cli


class Command(BaseCommand):
    help = "Start the periodic-task scheduler for the project's app (TASKQUEUE_APP)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("-n", "--name", help="this beat's name (default host:pid)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, **options) -> None:
        argv = ["beat", "-A", app_spec(), "--loglevel", options["loglevel"]]
        if options["name"] is not None:
            argv += ["--name", options["name"]]
        run_cli(argv)
