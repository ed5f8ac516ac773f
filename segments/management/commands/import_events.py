"""manage.py import_events FILE: event history from JSON Lines (segments/import_events.py)."""

from __future__ import annotations

import io
import sys
from typing import IO, Any

from django.core.management.base import BaseCommand

from callout.actor import Actor, acting
from segments import audit, import_events, importing
from segments.management.commands.import_users import _Progress, application_of

HELP = """Import events into an application, each checked as POST /api/v1/track checks it: one
JSON object per line, {"id": USER ID, "name": EVENT NAME, "timestamp": ISO 8601 or Unix
seconds or milliseconds, "properties": {...}, "event_id": YOUR ID}, properties and event_id
optional. Unknown users are created; each event counts into its user's activity summary, which
the rules read. A timestamp may go back as far as raw events are kept
(CALLOUT_EVENT_RETENTION_DAYS, default 400 days). Bad lines are reported by number and written
to a rejects file; the good ones are imported. Re-running a file skips every event whose
event_id the application already has (and counts nothing twice): give event_id to make
re-runs safe.
"""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="a .jsonl file (- for standard input)")
        parser.add_argument(
            "--app", required=True, help="the application: its id, public key or exact name"
        )
        parser.add_argument("--rejects", help="where rejected lines go (default: FILE.rejects.csv)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--writers",
            type=int,
            default=None,
            help="PostgreSQL: connections writing each batch together, each a share of the "
            f"users (default {import_events.WRITERS}; 1: one at a time)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def execute(self, *args: Any, **options: Any) -> Any:
        with acting(Actor(via="import")):  # what it writes is the import's (the audit log)
            return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        application = application_of(options["app"])
        path = options["file"]
        rejects_path = options["rejects"] or (
            "rejects.csv" if path == "-" else f"{path}.rejects.csv"
        )
        stream: IO[str] = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
            if path == "-"
            else open(path, encoding="utf-8-sig")  # noqa: SIM115
        )
        progress = _Progress(None if path == "-" else stream, enabled=not options["no_progress"])
        try:
            result = import_events.events_import(
                application=application,
                rows=import_events.read_jsonl(stream),
                batch_size=options["batch_size"],
                writers=options["writers"],
                on_batch=progress.update,
            )
        finally:
            if path == "-":
                stream.detach()  # leaves standard input open
            else:
                stream.close()
            progress.done()

        rejected = importing.write_rejects(result.rejected, rejects_path, self.stderr.write)
        self.stdout.write(
            f"{result.rows:,} lines in {result.seconds:.1f} s ({result.rate:,.0f} lines/s): "
            f"{result.imported:,} events imported, {result.duplicates:,} already there "
            f"(event_id), {result.users_created:,} users created, {rejected:,} rejected"
            + (f" (see {rejects_path})" if rejected else "")
        )
        audit.record(
            application=application,
            action="events.imported",
            summary=audit.events_imported(path, result, rejected),
        )
