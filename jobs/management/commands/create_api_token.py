"""manage.py create_api_token <username> [--expires 30d] [--read-only]: print a new bearer token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs.durations import parse_duration
from jobs.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell tokens apart")
        parser.add_argument(
            "--expires",
            metavar="DURATION",
            help="refuse the token after this long: 90m, 12h, 30d, 1w (default: never)",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="queries and subscriptions only: every mutation is refused",
        )

    def handle(
        self,
        *args,
        username: str,
        name: str,
        expires: str | None,
        read_only: bool,
        **options,
    ) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        expires_in = None
        if expires is not None:
            try:
                expires_in = parse_duration(expires)
            except ValueError as exc:
                raise CommandError(f"--expires: {exc}") from None
            if expires_in.total_seconds() <= 0:
                raise CommandError("--expires: give a duration longer than zero")
        token, plain = ApiToken.issue(user, name=name, expires_in=expires_in, read_only=read_only)
        scope = "read-only" if read_only else "read-write"
        until = f"until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
        self.stderr.write(
            f"API token {token.pk} for {username} ({scope}, {until}); "
            "store it now, it is not shown again:"
        )
        self.stdout.write(plain)
