"""Admin for job inspection (list, filters, search)."""

from __future__ import annotations

from django.contrib import admin

from jobs.models import ApiToken, Job


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
    readonly_fields = (
        "id",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "attempts",
        "worker",
        "result_ref",
    )
    list_select_related = ("owner",)

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        percent = job.percent
        label = f"{percent:.0f}%" if percent is not None else "-"
        return f"{label} {job.progress_message}".strip()

    @admin.display(description="runtime (s)")
    def runtime(self, job: Job) -> str:
        seconds = job.runtime_seconds
        return "-" if seconds is None else f"{seconds:.1f}"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "created_at", "last_used_at")
    readonly_fields = ("digest", "created_at", "last_used_at")
    search_fields = ("user__username", "name")
