"""Admin for job inspection: list, filters, search, detail with live status, actions."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs import live, services
from jobs.live_progress import job_progress
from jobs.models import ApiToken, Job, PeriodicSchedule
from jobs.requeue import Filters, dead_letters, requeue
from jobs.taskapp import get_app
from providers.registry import PROVIDERS


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    return format_html(
        '<pre style="white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>', text
    )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "owner",
        "state",
        "progress",
        "attempts",
        "runtime",
        "created_at",
    )
    list_filter = ("state", "provider", "priority", "owner", "created_at")
    search_fields = ("id", "params", "owner__username", "error")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    actions = ("requeue_selected", "cancel_selected", "replay_dead_letters")
    readonly_fields = (
        "id",
        "owner",
        "provider",
        "priority",
        "params_json",
        "state",
        "attempts",
        "error",
        "live_status",
        "result_or_error",
        "attempt_history",
        "retry_of",
        "idempotency_key",
        "worker",
        "result_ref",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
    )
    exclude = ("params", "progress_current", "progress_total", "progress_message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are submitted through the API, validated by their provider

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        percent = job.percent
        label = f"{percent:.0f}%" if percent is not None else "-"
        return f"{label} {job.progress_message}".strip()

    @admin.display(description="runtime (s)")
    def runtime(self, job: Job) -> str:
        seconds = job.runtime_seconds
        return "-" if seconds is None else f"{seconds:.1f}"

    @admin.display(description="params")
    def params_json(self, job: Job) -> str:
        return _pre(job.params)

    @admin.display(description="live status")
    def live_status(self, job: Job) -> str:
        """Progress from the worker holding the job (RabbitMQ), else Redis, else the row."""
        try:
            answer = job_progress(job)
        except Exception as exc:
            return f"live status unavailable: {exc}"
        shown: dict[str, Any] = {
            "source": answer.source,
            "state": answer.state,
            "attempt": answer.attempt,
            "worker": answer.worker,
            "progress": answer.progress,
        }
        if answer.source != "worker":
            try:
                meta = get_app().state_backend.read(str(job.pk)) or {}
            except Exception as exc:
                meta = {"redis": f"unavailable: {exc}"}
            shown["redis"] = {
                k: v for k, v in meta.items() if k not in ("payload", "traceback", "progress")
            }
        return format_html("<p>answered by <strong>{}</strong></p>{}", answer.source, _pre(shown))

    @admin.display(description="result or error (Mongo)")
    def result_or_error(self, job: Job) -> str:
        doc = live.result_document(job)
        if not doc:
            return "no result document"
        if doc.get("state") == "SUCCESS":
            return _pre(doc.get("result"))
        return _pre({"state": doc.get("state"), "error": doc.get("error")}) + _pre(
            doc.get("traceback") or "(no traceback)"
        )

    @admin.display(description="attempts")
    def attempt_history(self, job: Job) -> str:
        rows = live.attempt_history(live.result_document(job))
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th>#</th><th>state</th><th>worker</th><th>started</th>"
            "<th>runtime</th><th>error</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        r["attempt"],
                        r["state"],
                        r["worker"] or "",
                        r["started_at"] or "",
                        f"{r['runtime']:.2f}s" if r["runtime"] is not None else "",
                        r["error"] or "",
                    )
                    for r in rows
                ),
            ),
        )

    def has_manage_all_jobs_permission(self, request: HttpRequest) -> bool:
        """Actions that act on anyone's jobs need the same permission as the API."""
        return request.user.has_perm("jobs.manage_all_jobs")

    @admin.action(
        description="Requeue selected jobs (republish unfinished, retry failed/revoked)",
        permissions=["manage_all_jobs"],
    )
    def requeue_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        try:
            report = requeue(queryset.order_by("created_at"))
        except Exception as exc:
            self.message_user(request, f"requeue failed: {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            f"republished {len(report.republished)}, retried {len(report.retried)}, "
            f"skipped {len(report.skipped)}",
        )

    @admin.action(
        description="Send dead-lettered jobs back (replay from the dead-letter topic)",
        permissions=["manage_all_jobs"],
    )
    def replay_dead_letters(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        by_queue: dict[str, list[str]] = {}
        for job in queryset:
            by_queue.setdefault(job.priority, []).append(str(job.pk))
        replayed: list[str] = []
        try:
            for queue, ids in by_queue.items():
                report = dead_letters([queue], Filters(ids=ids))
                replayed += [job_id for _, job_id in report.replayed]
        except Exception as exc:
            self.message_user(request, f"replay failed: {exc}", messages.ERROR)
            return
        missing = queryset.count() - len(set(replayed))
        self.message_user(
            request,
            f"replayed {len(set(replayed))} dead-lettered job(s)"
            + (f"; {missing} not in a dead-letter topic" if missing else ""),
            messages.SUCCESS if replayed else messages.WARNING,
        )

    @admin.action(description="Cancel selected jobs", permissions=["manage_all_jobs"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = sum(services.cancel(job, request.user) for job in queryset)
        self.message_user(request, f"cancelled {cancelled} of {queryset.count()} job(s)")


_ISSUED = "_jobs_issued_api_token"
"""Request attribute carrying a new token's plain value from save to response."""


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed, created and revoked here. Adding one generates its
    value and shows it once on the next page (only its digest is stored);
    revoking deletes it, which closes its open websockets."""

    fields = ("user", "name", "read_only", "expires_at", "created_at", "last_used_at")
    list_display = ("__str__", "user", "read_only", "expires_at", "status", "last_used_at")
    list_filter = ("read_only", "expires_at", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name")
    autocomplete_fields = ("user",)
    actions = ("revoke_selected",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A token's owner never changes: that would hand a live secret over.
        fixed = ("created_at", "last_used_at")
        return ("user", *fixed) if obj is not None else fixed

    @admin.display(description="status")
    def status(self, token: ApiToken) -> str:
        return "expired" if token.is_expired() else "active"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            plain, obj.digest = ApiToken.new_value()
            setattr(request, _ISSUED, plain)
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        plain = getattr(request, _ISSUED, None)
        if plain is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "plain": plain,
            "changelist_url": reverse("admin:jobs_apitoken_changelist"),
        }
        response = TemplateResponse(request, "admin/jobs/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"  # a secret: never kept by a cache
        return response

    @admin.action(
        description="Revoke selected tokens (their websockets close)", permissions=["delete"]
    )
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset:
            token.delete()  # one by one: post_delete closes each token's sockets
            revoked += 1
        self.message_user(request, f"revoked {revoked} token(s)")


class PeriodicScheduleForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=())

    class Meta:
        model = PeriodicSchedule
        fields = (
            "name",
            "provider",
            "params",
            "owner",
            "priority",
            "interval_seconds",
            "crontab",
            "enabled",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider = self.fields["provider"]
        assert isinstance(provider, forms.ChoiceField)
        provider.choices = [(name, name) for name in sorted(PROVIDERS)]


@admin.register(PeriodicSchedule)
class PeriodicScheduleAdmin(admin.ModelAdmin):
    """Schedules beat reads on every loop (jobs/schedules.py): edits apply at once."""

    form = PeriodicScheduleForm
    list_display = ("name", "provider", "owner", "every", "priority", "enabled", "last_run_at")
    list_filter = ("enabled", "provider", "priority")
    search_fields = ("name", "params", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("last_run_at", "last_job", "created_at")
    actions = ("enable_selected", "disable_selected")

    @admin.display(description="schedule")
    def every(self, schedule: PeriodicSchedule) -> str:
        return schedule.every

    @admin.action(description="Enable selected schedules")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
        self.message_user(request, f"enabled {queryset.update(enabled=True)} schedule(s)")

    @admin.action(description="Disable selected schedules")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[PeriodicSchedule]) -> None:
        self.message_user(request, f"disabled {queryset.update(enabled=False)} schedule(s)")
