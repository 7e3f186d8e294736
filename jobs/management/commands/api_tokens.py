"""manage.py api_tokens list|revoke: see and revoke API tokens (their values are never shown).

    manage.py api_tokens list [--user alice]
    manage.py api_tokens revoke 12 15          # by id, as listed
    manage.py api_tokens revoke --user alice   # every token of alice

Revoking deletes the token: requests with it get 401 and its open websockets
close (progress.credentials).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs.models import ApiToken


class Command(BaseCommand):
    help = "List or revoke API tokens."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|revoke")
        listing = actions.add_parser("list", help="one line per token")
        listing.add_argument("--user", help="only this person's tokens")
        revoke = actions.add_parser("revoke", help="delete tokens: they stop working at once")
        revoke.add_argument("ids", nargs="*", type=int, help="token ids, as `list` shows them")
        revoke.add_argument("--user", help="every token of this person")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "pk")
        if options.get("user"):
            tokens = tokens.filter(user__username=options["user"])
        if action == "list":
            self._list(list(tokens))
        else:
            self._revoke(tokens, options["ids"], options.get("user"))

    def _list(self, tokens: list[ApiToken]) -> None:
        now = timezone.now()

        def moment(value: Any) -> str:
            return f"{value:%Y-%m-%d %H:%M}" if value else "-"

        self.stdout.write("id\tuser\tname\tscope\texpires\tlast used\tstatus")
        for t in tokens:
            scope = "read-only" if t.read_only else "read-write"
            status = "expired" if t.is_expired(now) else "active"
            row = (t.pk, t.user.get_username(), t.name or "-", scope)
            self.stdout.write(
                "\t".join(map(str, row))
                + f"\t{moment(t.expires_at)}\t{moment(t.last_used_at)}\t{status}"
            )

    def _revoke(self, tokens: Any, ids: list[int], username: str | None) -> None:
        if not ids and not username:
            raise CommandError("name the tokens to revoke: ids, or --user USERNAME")
        if ids:
            tokens = tokens.filter(pk__in=ids)
            missing = sorted(set(ids) - set(tokens.values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"no token with id {', '.join(map(str, missing))}")
        revoked = 0
        for token in tokens:
            token.delete()  # one by one: post_delete closes each token's websockets
            revoked += 1
        self.stdout.write(f"revoked {revoked} token(s)")
