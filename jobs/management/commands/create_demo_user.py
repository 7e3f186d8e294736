"""Creates the demo accounts the README's run command prints (idempotent)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_ACCOUNTS = (
    # username, password, is_superuser
    ("demo", "demo-password", False),
    ("admin", "admin-password", True),
)


class Command(BaseCommand):
    help = "Create the local demo accounts (demo for the UI, admin for Django admin)."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        for username, password, superuser in DEMO_ACCOUNTS:
            user, created = users.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = superuser
                user.save()
            verb = "created" if created else "exists"
            self.stdout.write(f"{username}: {verb}")
