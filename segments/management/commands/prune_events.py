"""manage.py prune_events: delete raw events past the retention and fold the past days' shards
of the daily counts (run it daily from cron)."""

from __future__ import annotations

import sys
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from segments import rollup, tracking

HELP = """Delete the raw events (segments.TrackedEvent) older than the retention,
CALLOUT_EVENT_RETENTION_DAYS (the EVENT_RETENTION_DAYS environment variable, default 400 days),
in batches, each its own transaction. Every user's activity summary keeps what the events
counted, so rules on counts and first/last times are unchanged; the Events page's charts and a
rebuild of a rule needing more recent times no longer see them.

It also sums the shards of each day before yesterday (UTC) of the daily counts
(segments.EventDay, written per user shard by /api/v1/track) into one row: the Events page
reads one row per name and past day. Safe to run while the API serves; run it daily, e.g. from
cron:

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
        # Yesterday's rows stay sharded: calls around midnight and late events still add to them.
        yesterday = timezone.now().astimezone(UTC).date() - timedelta(days=1)
        folded = rollup.rollup_fold(before=yesterday)
        self.stdout.write(
            f"Folded {folded:,} daily count {'row' if folded == 1 else 'rows'} of the days "
            f"before {yesterday:%Y-%m-%d} into one per name and day."
        )
