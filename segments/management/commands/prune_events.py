"""manage.py prune_events: delete raw events past the retention (run it daily from cron)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from segments import tracking

HELP = """Delete the raw events (segments.TrackedEvent) older than the retention,
CALLOUT_EVENT_RETENTION_DAYS (the EVENT_RETENTION_DAYS environment variable, default 400 days),
in batches, each its own transaction. Every user's activity summary keeps what the events
counted, so rules on counts and first/last times are unchanged; the Events page's charts and a
rebuild of a rule needing more recent times no longer see them. Safe to run while the API
serves; run it daily, e.g. from cron:

    15 3 * * *  cd /srv/callout && .venv/bin/python manage.py prune_events --no-progress
"""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="keep this many days instead of CALLOUT_EVENT_RETENTION_DAYS",
        )
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        days = settings.CALLOUT_EVENT_RETENTION_DAYS if days is None else days
        if days < 1 or options["batch_size"] < 1:
            raise CommandError("--days and --batch-size are whole numbers from 1.")
        before = tracking.retention_cutoff(days=days)
        show = not options["no_progress"] and sys.stderr.isatty()

        def progress(deleted: int) -> None:
            if show:
                sys.stderr.write(f"\r{deleted:>12,} deleted")
                sys.stderr.flush()

        deleted = tracking.events_prune(
            before=before, batch_size=options["batch_size"], on_batch=progress
        )
        if show:
            sys.stderr.write("\n")
        noun = "event" if deleted == 1 else "events"
        self.stdout.write(
            f"Deleted {deleted:,} {noun} older than {days} days (before {before:%Y-%m-%d %H:%M} "
            "UTC); activity summaries are unchanged."
        )
