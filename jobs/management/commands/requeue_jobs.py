"""manage.py requeue_jobs: send jobs back to their queues (see jobs/requeue.py)."""

from __future__ import annotations

import sys
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.durations import parse_duration
from jobs.requeue import Filters, Report, dead_letters, requeue, select
from jobs.taskapp import QUEUES
from taskqueue import TaskQueueError
from taskqueue.states import State

BAR_FROM = 50
"""Batches at least this large show a progress bar."""


class Command(BaseCommand):
    help = (
        "Requeue jobs: republish unfinished ones under their id, retry failed or revoked ones "
        "as new linked jobs, never touch successful ones. Idempotent when run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        states = ", ".join(s.value for s in State)
        parser.add_argument(
            "--state", action="append", default=[], help=f"one of {states}; repeatable"
        )
        parser.add_argument("--provider", action="append", default=[], help="repeatable")
        parser.add_argument(
            "--older-than", help="last queued (or created) longer ago than this: 90s, 10m, 2h, 1d"
        )
        parser.add_argument("--ids", help="comma-separated job ids")
        parser.add_argument(
            "--stuck",
            action="store_true",
            help="PENDING jobs Kafka never acknowledged (older than --older-than, "
            "default settings.JOBS_STUCK_AFTER)",
        )
        parser.add_argument(
            "--from-dlq",
            action="store_true",
            help="replay dead-lettered jobs (framework dead-letter API); applies --ids, "
            "--provider, --limit, --dry-run",
        )
        parser.add_argument(
            "--queue",
            action="append",
            default=[],
            help=f"with --from-dlq: queue(s) to read ({', '.join(QUEUES)} by default); repeatable",
        )
        parser.add_argument("--dry-run", action="store_true", help="print what would be done")
        parser.add_argument("--limit", type=int, help="at most this many jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = self._filters(options)
        if options["from_dlq"]:
            self._from_dlq(filters, options)
            return
        if options["queue"]:
            raise CommandError("--queue goes with --from-dlq")
        jobs = list(select(filters))
        dry = options["dry_run"]
        self.stdout.write(
            f"{len(jobs)} job(s) selected{' (dry run: nothing is sent)' if dry else ''}"
        )
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if len(jobs) >= BAR_FROM:
                filled = int(30 * done[0] / len(jobs))
                self.stdout.write(
                    f"\r[{'#' * filled}{'.' * (30 - filled)}] {done[0]}/{len(jobs)}", ending=""
                )
                self.stdout.flush()

        report = requeue(jobs, dry_run=dry, on_chunk=tick)
        if len(jobs) >= BAR_FROM:
            self.stdout.write("")
        self._print(report, dry)

    def _from_dlq(self, filters: Filters, options: dict[str, Any]) -> None:
        if filters.states or filters.older_than is not None or filters.stuck:
            raise CommandError(
                "--from-dlq takes --ids, --provider, --limit, --queue and --dry-run only"
            )
        dry = options["dry_run"]
        queues = options["queue"] or list(QUEUES)
        try:
            report = dead_letters(queues, filters, dry_run=dry)
        except TaskQueueError as exc:
            raise CommandError(f"dead letters: {exc}") from None
        self.stdout.write(
            f"{len(report.listed)} dead letter(s) selected in {', '.join(queues)}"
            f"{' (dry run: nothing is sent)' if dry else ''}"
        )
        replayed = {job_id for _, job_id in report.replayed}
        for queue, e in report.listed:
            if dry:
                done = "would replay"
            elif e.id in replayed:
                done = "replayed"
            else:
                done = "skipped (undecodable: purge it instead)"
            self.stdout.write(
                f"{e.id or '-'} {e.task or '-'} [{queue}] {e.reason}, "
                f"{e.attempts} attempt(s): {done}"
            )
        verb = "would replay" if dry else "replayed"
        count = len(report.listed) if dry else len(report.replayed)
        self.stdout.write(f"{verb} {count}")

    def _filters(self, options: dict[str, Any]) -> Filters:
        valid = {s.value for s in State}
        states = [s.upper() for s in options["state"]]
        bad = [s for s in states if s not in valid]
        if bad:
            raise CommandError(
                f"--state {bad[0]} is not a state; use one of {', '.join(sorted(valid))}"
            )
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        older = None
        if options["older_than"]:
            try:
                older = parse_duration(options["older_than"])
            except ValueError as exc:
                raise CommandError(f"--older-than: {exc}") from None
        ids = [i.strip() for i in (options["ids"] or "").split(",") if i.strip()]
        for value in ids:
            try:
                uuid.UUID(value)
            except ValueError:
                raise CommandError(f"--ids: {value!r} is not a job id (a UUID)") from None
        return Filters(states, options["provider"], older, ids, options["stuck"], options["limit"])

    def _print(self, report: Report, dry: bool) -> None:
        verb = "would " if dry else ""
        for job in report.republished:
            self.stdout.write(f"{job.pk} {job.provider} {job.state}: {verb}republish")
        for old, new in report.retried:
            target = "" if dry else f" as {new.pk}"
            self.stdout.write(f"{old.pk} {old.provider} {old.state}: {verb}retry{target}")
        for job, why in report.skipped:
            self.stdout.write(f"{job.pk} {job.provider} {job.state}: skipped ({why})")
        self.stdout.write(
            f"{verb}republished {len(report.republished)}, {verb}retried {len(report.retried)}, "
            f"skipped {len(report.skipped)}"
        )
        sys.stdout.flush()
