"""Creates the demo accounts the README's run command prints (idempotent).

Their passwords are in the README, so the command refuses to run with DEBUG
off: a production site must never have them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_ACCOUNTS = (
    # username, password, is_superuser
    ("demo", "demo-password", False),
    ("admin", "admin-password", True),
)


class Command(BaseCommand):
    help = "Create the local demo accounts (demo for the UI, admin for Django admin)."

    def handle(self, *args, **options) -> None:
        # The configured DEBUG (the test runner turns settings.DEBUG off).
        if not settings.ENV.debug:
            raise CommandError(
                "refusing to create the demo accounts with DEBUG off: their passwords "
                "are public. Set DEBUG=true for a local site."
            )
        users = get_user_model()
        for username, password, superuser in DEMO_ACCOUNTS:
            user, created = users.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = superuser
                user.save()
            verb = "created" if created else "exists"
            self.stdout.write(f"{username}: {verb}")
