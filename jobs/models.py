"""The system of record for submissions: who asked for what, and where it stands.

Hot-path progress lives in Redis; a Job row is written on state
transitions only (queued, started, retried, final), so the relational
database never sees progress ticks.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from taskqueue.beat import Entry
from taskqueue.contrib.django.schedules import ScheduleRow, schedule_of
from taskqueue.states import READY_STATES, State, may_replace

STATE_CHOICES = [(s.value, s.value) for s in State]


class Priority(models.TextChoices):
    """Kafka has no priorities: each priority is a queue (topic) polled by weight."""

    HIGH = "high", "High"
    DEFAULT = "default", "Default"
    LOW = "low", "Low"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    provider = models.CharField(max_length=32, db_index=True)
    params = models.JSONField(default=dict)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.DEFAULT)
    state = models.CharField(
        max_length=16, choices=STATE_CHOICES, default=State.PENDING.value, db_index=True
    )
    progress_current = models.PositiveIntegerField(null=True, blank=True)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Short, human-readable error summary.")
    result_ref = models.CharField(max_length=64, blank=True, help_text="Id of the Mongo result.")
    worker = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When Kafka acknowledged the message."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retried_as",
        help_text="The failed or revoked job this one retries (a retry is a new job).",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_idempotency_key_per_owner",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # requeue_jobs --stuck: PENDING rows Kafka never acknowledged.
            models.Index(fields=["state", "queued_at"]),
        ]
        # Power over other people's jobs is granted, not implied by is_staff
        # (jobs/api/access.py). Superusers hold every permission.
        permissions = [
            ("view_all_jobs", "Can see every person's jobs"),
            ("manage_all_jobs", "Can cancel and retry every person's jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return State(self.state) in READY_STATES

    @property
    def percent(self) -> float | None:
        if not self.progress_total:
            return 100.0 if self.state == State.SUCCESS.value else None
        return round(100.0 * (self.progress_current or 0) / self.progress_total, 1)

    @property
    def runtime_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def accepts(self, state: State, attempt: int) -> bool:
        """Whether an event may move this job (final states never regress)."""
        return may_replace(State(self.state), self.attempts, state, attempt)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


token_authenticated = Signal()
"""Sent with ``token=`` each time an :class:`ApiToken` authenticates a request
or a websocket (progress.credentials arms the close at its expiry)."""

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is written at most this often: a busy client must not turn
every request into a database write."""


class ApiToken(models.Model):
    """A bearer token for programmatic clients. Only its SHA-256 is stored.

    Revoking a token deletes it (``manage.py api_tokens revoke``, admin): its
    open websockets close at once (progress.credentials). An expired token is
    refused exactly like an unknown one. A read-only token runs queries and
    subscriptions, never mutations (jobs.api.operation_rules).
    """

    PREFIX = "tq_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Refused from this moment on (empty: never expires)."
    )
    read_only = models.BooleanField(
        default=False, help_text="Queries and subscriptions only: every mutation is refused."
    )

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"token {self.name or self.pk} of {self.user}"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @classmethod
    def new_value(cls) -> tuple[str, str]:
        """A fresh ``(plain, digest)`` pair; only the digest is ever stored."""
        plain = cls.PREFIX + secrets.token_urlsafe(32)
        return plain, _token_digest(plain)

    @classmethod
    def issue(
        cls,
        user,
        name: str = "",
        expires_in: timedelta | None = None,
        read_only: bool = False,
    ) -> tuple[ApiToken, str]:
        """Create a token; the plain value is returned once and never stored."""
        plain, digest = cls.new_value()
        expires_at = timezone.now() + expires_in if expires_in is not None else None
        token = cls.objects.create(
            user=user, name=name, digest=digest, expires_at=expires_at, read_only=read_only
        )
        return token, plain

    @classmethod
    def verify(cls, plain: str, now: datetime | None = None) -> ApiToken | None:
        """The live token whose value is ``plain`` (its active user loaded), or None
        when it is unknown, revoked, expired, or its user is inactive."""
        now = now or timezone.now()
        token = cls.objects.select_related("user").filter(digest=_token_digest(plain)).first()
        if token is None or token.is_expired(now) or not token.user.is_active:
            return None
        if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
            # The condition again in SQL: concurrent requests write once.
            stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOKEN_TOUCH_INTERVAL)
            cls.objects.filter(stale, pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        token_authenticated.send(sender=cls, token=token)
        return token

    @classmethod
    def authenticate(cls, plain: str, now: datetime | None = None):
        """The active user owning the live token ``plain``, or None."""
        token = cls.verify(plain, now)
        return token.user if token is not None else None


class PeriodicSchedule(ScheduleRow, models.Model):
    """A provider job submitted on a schedule by beat, for ``owner`` (see jobs/schedules.py).

    Exactly one of ``interval_seconds`` and ``crontab`` (UTC, five fields,
    parsed by ``taskqueue.beat.Crontab``). ``params`` are validated and
    normalized by the provider's schema on clean and on save.
    """

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules"
    )
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.DEFAULT)
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Run every this many seconds (or give a crontab)."
    )
    crontab = models.CharField(
        max_length=100,
        blank=True,
        help_text="UTC: minute hour day month weekday, e.g. */15 9-17 * * 1-5",
    )
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}, {self.every})"

    @property
    def every(self) -> str:
        return f"every {self.interval_seconds}s" if self.interval_seconds else self.crontab

    @property
    def beat_name(self) -> str:
        """The beat entry name: stable per row, so renaming does not refire a tick."""
        return f"jobs.schedule.{self.pk}"

    def beat_entry(self) -> Entry:
        """Beat fires ``jobs.run_schedule`` for this row (jobs/schedules.py); its
        crontab is UTC whatever the app's ``timezone``, as the form says."""
        every = schedule_of(self.interval_seconds, self.crontab, "UTC")
        return Entry(
            self.beat_name,
            "jobs.run_schedule",
            every,
            kwargs={"schedule_id": self.pk},
            options={"queue": self.priority},
        )

    def clean(self) -> None:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from providers.registry import UnknownProvider, get_provider
        from providers.schema import ValidationError
        from taskqueue.beat import Crontab
        from taskqueue.exceptions import ConfigurationError

        errors: dict[str, list[str]] = {}
        try:
            self.params = get_provider(self.provider).normalize(
                {} if self.params is None else self.params
            )
        except UnknownProvider as exc:
            errors["provider"] = [str(exc)]
        except ValidationError as exc:
            errors["params"] = [
                f"{e['path'] or '(document)'}: {e['message']} ({e['rule']})"
                for e in exc.to_dict()["errors"]
            ]
        self.crontab = (self.crontab or "").strip()
        if bool(self.interval_seconds) == bool(self.crontab):
            errors["interval_seconds"] = ["give an interval in seconds (at least 1) or a crontab"]
        if self.crontab:
            try:
                Crontab(self.crontab)
            except (ConfigurationError, ValueError) as exc:
                errors["crontab"] = [str(exc)]
        if errors:
            raise DjangoValidationError(errors)

    RUN_FIELDS = ("last_run_at", "last_job")
    """Written by the run task only: an edit never overwrites them with stale values."""

    def save(self, *args: object, **kwargs: object) -> None:
        if not kwargs.get("update_fields"):
            self.clean()  # no schedule beat cannot run, whoever saves it
            if self.pk is not None and not self._state.adding:
                kwargs["update_fields"] = [
                    f.name
                    for f in self._meta.concrete_fields
                    if not f.primary_key and f.name not in self.RUN_FIELDS
                ]
        super().save(*args, **kwargs)  # type: ignore[arg-type]
