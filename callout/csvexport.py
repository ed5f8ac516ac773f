"""What every CSV download shares (the audit log, a segment's members, an experience's
results): rows streamed as they are written, and cells a spreadsheet will not run."""

from __future__ import annotations

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets: text typed by people (names, summaries, trait values) is quoted (OWASP, "CSV
# Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text, never runs."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


class Echo:
    """csv.writer's file: each row written is returned, to be streamed."""

    def write(self, value: str) -> str:
        return value
