from django.contrib import admin

from .models import PeriodicTask


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    """Periodic tasks beat reads on every loop: edits apply at once."""

    list_display = ("name", "task", "every", "enabled", "last_run_at", "total_run_count")
    list_filter = ("enabled", "task")
    search_fields = ("name", "task", "description")
    readonly_fields = ("last_run_at", "total_run_count", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "task", "args", "kwargs", "queue", "enabled", "description")}),
        ("Schedule", {"fields": ("interval_seconds", "crontab", "timezone")}),
        ("Runs", {"fields": ("last_run_at", "total_run_count", "created_at")}),
    )
