"""manage.py import_companies FILE: companies and their traits from CSV or JSON Lines, as
identify's ``company`` writes them (segments/importing.py)."""

from __future__ import annotations

from typing import IO, Any

from segments import importing
from segments.models import Application, TraitDefinition

from .import_users import Command as ImportUsers
from .import_users import _Progress

HELP = """Import companies (the accounts your users belong to) into an application, exactly as
identify's "company" would: every row is validated like a company in an identify call and
merged into the company's stored traits (omitted traits are kept). Bad rows are reported by
line number and written to a rejects file; the good rows are imported. Re-running the same
file changes nothing. Put users in their companies with identify or import_users.

CSV: a header with an "id" column (the company's id) and one column per company trait. Cells
are text; the type of the company trait's definition decides the stored value: number,
boolean (true/false), date (ISO 8601 or a Unix timestamp); a cell that is not one rejects its
row. Columns without a definition stay text and are auto-discovered as company traits.
Declare types with --type seats=number. An empty cell leaves the trait unchanged.

JSON Lines: {"id": "acme", "traits": {"plan": "enterprise", "seats": 40}} per line; values are
stored as given, null removes a trait.
"""


class Command(ImportUsers):
    help = HELP
    scope = TraitDefinition.Scope.COMPANY
    noun = "companies"

    def run(
        self,
        stream: IO[str],
        fmt: str,
        application: Application,
        trait_types: dict[str, str],
        progress: _Progress,
        options: dict[str, Any],
    ) -> importing.ImportResult:
        clean = importing.clean_company_row
        rows = (
            importing.read_jsonl(stream, clean=clean)
            if fmt == "jsonl"
            else importing.read_csv(stream, trait_types, clean=clean)
        )
        return importing.companies_import(
            application=application,
            rows=rows,
            batch_size=options["batch_size"],
            on_batch=progress.update,
        )
