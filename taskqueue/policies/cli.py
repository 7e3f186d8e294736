"""``python -m taskqueue dlq list|replay|purge`` and ``python -m taskqueue beat``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import TaskQueue


def add_parsers(sub: Any, with_app: Callable[[argparse.ArgumentParser], None]) -> None:
    dlq = sub.add_parser("dlq", help="dead-letter topics: list, replay, purge")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "show entries not yet replayed or purged"),
        ("replay", "republish entries to their queue (same job ids)"),
        ("purge", "mark entries handled without running them"),
    ):
        p = actions.add_parser(name, help=text)
        with_app(p)
        p.add_argument("--queue", default=None, help="queue (default: the default queue)")
        p.add_argument("--ids", nargs="*", default=None, help="only these job ids")
        p.add_argument("--limit", type=int, default=None, help="at most N entries")
        if name == "replay":
            p.add_argument(
                "--keep-retries",
                action="store_true",
                help="continue the attempt count (default: a full retry budget again)",
            )
        if name == "list":
            p.add_argument("--json", action="store_true", help="one JSON object per line")

    beat = sub.add_parser("beat", help="run the periodic-task scheduler (leader-elected)")
    with_app(beat)
    beat.add_argument("--name", default=None, help="this beat's name (default host:pid)")


def run(app: TaskQueue, args: argparse.Namespace) -> int:
    if args.command == "beat":
        from ..beat import run_beat

        return run_beat(app, name=args.name)
    letters = app.dead_letters(args.queue)
    if args.dlq_command == "list":
        entries = letters.list(limit=args.limit, ids=args.ids)
        for e in entries:
            if args.json:
                print(json.dumps(e.to_dict()))
            else:
                when = dt.datetime.fromtimestamp(e.dead_at, dt.UTC).isoformat(timespec="seconds")
                print(
                    f"{e.partition}@{e.offset} {e.id} {e.task} {e.reason} "
                    f"attempts={e.attempts} at={when}: {e.error}"
                )
        if not args.json:
            print(f"{len(entries)} dead letter(s) in {letters.topic}")
        return 0
    if args.dlq_command == "replay":
        ids = letters.replay(ids=args.ids, limit=args.limit, keep_retries=args.keep_retries)
        print(f"replayed {len(ids)} job(s) to queue {letters.queue}: {' '.join(ids)}")
        return 0
    count = letters.purge(ids=args.ids, limit=args.limit)
    print(f"purged {count} dead letter(s) from {letters.topic}")
    return 0
