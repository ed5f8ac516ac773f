"""manage.py import_users FILE: bulk identify from CSV or JSON Lines (segments/importing.py)."""

from __future__ import annotations

import io
import os
import sys
import time
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from callout.actor import Actor, acting
from segments import actions, audit, coerce, importing
from segments.models import Application, TraitDefinition

HELP = """Import users into an application, exactly as identify would: every row is validated
like an identify call and merged into the stored traits (omitted traits are kept). Bad rows are
reported by line number and written to a rejects file; the good rows are imported. Re-running
the same file changes nothing.

CSV: a header with an "id" column and one column per trait. Cells are text; the type of the
trait's definition decides the stored value: number ("12", "-3.5"), boolean (true/false), date
(ISO 8601 or a Unix timestamp); a cell that is not one rejects its row. Columns without a
definition stay text and are auto-discovered (text, or date for ISO dates), so "02134" keeps its
zero. Declare types with --type teamSize=number. An empty cell leaves the trait unchanged.

JSON Lines: {"id": "u1", "traits": {"plan": "pro", "teamSize": 12}} per line; values are
stored as given, null removes a trait.

Companies: a JSON line's "company" is the id of the user's company ("company": "acme"; null
takes the user out of theirs; no key leaves it as it is); in CSV, the column named company
holds it (an empty cell leaves it as it is): --company-column names another column, and
--company-column "" reads a company column as a user trait. A company not stored yet is created
without traits; import them, with their traits, with import_companies.
"""


class Command(BaseCommand):
    help = HELP
    scope = TraitDefinition.Scope.USER  # the definitions --type declares
    noun = "users"  # what the audit log says it imported

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="a .csv or .jsonl file (- for standard input)")
        parser.add_argument(
            "--app", required=True, help="the application: its id, public key or exact name"
        )
        parser.add_argument(
            "--format", choices=["csv", "jsonl"], help="default: from the file's extension"
        )
        parser.add_argument(
            "--type",
            action="append",
            default=[],
            metavar="KEY=TYPE",
            help="declare a trait's type (string, number, boolean, date) before importing; "
            "creates the definition when there is none",
        )
        if self.scope == TraitDefinition.Scope.USER:
            parser.add_argument(
                "--company-column",
                metavar="COLUMN",
                help='CSV: the column holding each user\'s company id (default: "company", when '
                'the header has it; "" for none: every column but id is a trait)',
            )
        parser.add_argument("--rejects", help="where rejected rows go (default: FILE.rejects.csv)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--no-progress", action="store_true")

    def execute(self, *args: Any, **options: Any) -> Any:
        with acting(Actor(via="import")):  # what it writes is the import's (the audit log)
            return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        application = self._application(options["app"])
        path = options["file"]
        fmt = options["format"] or ("jsonl" if path.endswith((".jsonl", ".ndjson")) else "csv")
        if fmt == "jsonl" and options.get("company_column"):
            raise CommandError("--company-column is for CSV: a JSON line's company is its key.")
        trait_types = self._declare_types(application, options["type"])
        rejects_path = options["rejects"] or (
            "rejects.csv" if path == "-" else f"{path}.rejects.csv"
        )
        # newline="": the csv module reads line breaks inside quoted cells itself.
        stream: IO[str] = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            if path == "-"
            else open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
        )
        progress = _Progress(None if path == "-" else stream, enabled=not options["no_progress"])
        try:
            result = self.run(stream, fmt, application, trait_types, progress, options)
        except importing.ImportFileError as error:
            raise CommandError(str(error)) from None
        finally:
            if path == "-":
                stream.detach()  # leaves standard input open
            else:
                stream.close()
            progress.done()

        rejected = importing.write_rejects(result.rejected, rejects_path, self.stderr.write)
        self.stdout.write(
            f"{result.rows:,} rows in {result.seconds:.1f} s ({result.rate:,.0f} rows/s): "
            f"{result.created:,} created, {result.updated:,} updated, "
            f"{result.unchanged:,} unchanged, {rejected:,} rejected"
            + (f" (see {rejects_path})" if rejected else "")
        )
        audit.record(
            application=application,
            action=f"{self.noun}.imported",
            summary=audit.imported(self.noun, path, result, rejected),
        )

    def run(
        self,
        stream: IO[str],
        fmt: str,
        application: Application,
        trait_types: dict[str, str],
        progress: _Progress,
        options: dict[str, Any],
    ) -> importing.ImportResult:
        """The file read and imported (import_companies reads and writes companies)."""
        rows = (
            importing.read_jsonl(stream)
            if fmt == "jsonl"
            else importing.read_csv(stream, trait_types, **_company_column(options))
        )
        return importing.users_import(
            application=application,
            rows=rows,
            batch_size=options["batch_size"],
            on_batch=progress.update,
        )

    def _application(self, ref: str) -> Application:
        return application_of(ref)

    def _declare_types(self, application: Application, declared: list[str]) -> dict[str, str]:
        definitions = {t.key: t for t in application.trait_definitions.filter(scope=self.scope)}
        for item in declared:
            key, _, type_ = item.partition("=")
            if type_ not in coerce.TRAIT_TYPES:
                raise CommandError(
                    f"--type {item}: the type is one of {', '.join(coerce.TRAIT_TYPES)}."
                )
            existing = definitions.get(key)
            if existing is None:
                try:
                    definitions[key] = actions.trait_definition_create(
                        application=application, key=key, type=type_, scope=self.scope
                    )
                except ValidationError as error:
                    raise CommandError(f"--type {item}: {error.messages[0]}") from None
            elif existing.type != type_:
                raise CommandError(
                    f"--type {item}: the trait is already a {existing.type}; change its type "
                    "in the application first."
                )
        return {key: t.type for key, t in definitions.items()}


def application_of(ref: str) -> Application:
    """The application ``--app`` names: its id, public key or exact name (import_events too)."""
    query = Q(public_key=ref) | Q(name=ref)
    if ref.isdigit():
        query |= Q(pk=int(ref))
    matches = list(Application.objects.filter(query)[:2])
    if len(matches) != 1:
        raise CommandError(f"No application {ref!r}." if not matches else f"{ref!r} names several.")
    return matches[0]


class _Progress:
    """A progress bar on stderr: share of the file read, rows per second, time left."""

    def __init__(self, stream: IO[str] | None, enabled: bool):
        # The share read is the file's offset, asked of the OS when the bar is drawn: it moves
        # a buffer at a time as the reader goes, which costs nothing per line. Standard input
        # (None) and pipes have no size, so no share.
        self.fd = None if stream is None else stream.fileno()
        self.total = os.fstat(self.fd).st_size if self.fd is not None else 0
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = 0.0

    def update(self, result: importing.ImportResult) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.shown < (0.2 if self.tty else 5):
            return
        self.shown = now
        elapsed = now - self.started
        rate = result.rows / elapsed if elapsed else 0
        if self.total and self.fd is not None:
            share = min(os.lseek(self.fd, 0, os.SEEK_CUR) / self.total, 1.0)
            left = elapsed * (1 - share) / share if share else 0
            bar = "#" * int(share * 30)
            text = (
                f"[{bar:<30}] {share:4.0%} {result.rows:>12,} rows {rate:>9,.0f}/s "
                f"ETA {time.strftime('%H:%M:%S', time.gmtime(left))}"
            )
        else:
            text = f"{result.rows:>12,} rows {rate:>9,.0f}/s"
        text += f"  {len(result.rejected):,} rejected"
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty and self.shown:
            sys.stderr.write("\n")


def _company_column(options: dict[str, Any]) -> dict[str, Any]:
    """read_csv's company column: the one named (required in the header), none for "", else
    the column named company when the header has one."""
    named = options.get("company_column")
    if named is None:
        return {"company_column": "company", "company_column_required": False}
    return {"company_column": named or None}
