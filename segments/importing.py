"""Bulk import of users (or companies) from CSV or JSON Lines: identify's rules, a million
rows at a time.

Every row is checked by ``actions.end_user_clean`` (identify's own checks) and merged with
identify's semantics (``segments.merge``: omitted traits are kept, null removes one, at most
``MAX_TRAITS`` after the merge). A bad row is rejected with its line number and reason and the
others go on. Unknown trait keys are auto-discovered as identify does. Re-running a file
changes nothing: a user whose stored traits already hold the row's values is not written.

Unlike identify, an import does not move ``last_seen``: loading a file is not the user being
seen. New users get ``first_seen`` = ``last_seen`` = the time of the import.

CSV cells are text; how a cell becomes a trait value (``cell_value``) is decided per column:
the type of the trait's definition (existing, or declared with ``--type key=type``) says; a
column with no definition stays text. So ``02134`` stays the text "02134" unless the trait is
declared a number. Text is safe: rules coerce by the definition's type at query time, so text
"12" still matches ``teamSize > 10`` once the trait is a number; declaring the type only makes
the stored JSON typed and lets a number column reject "n/a". An empty cell leaves the trait as it
is (a CSV cannot remove a trait; JSON Lines can, with null).

A user's company (identify's ``company``) is a CSV column named by the caller
(``company_column``: ``import_users --company-column``) or JSON Lines' ``"company"``: the
company's id puts the user in it (created, without traits, if new), JSON's null takes the user
out of theirs, an empty cell or no key leaves it as it is. Companies themselves, with their
traits, come from ``companies_import`` (``import_companies``): the same reading, checks and
merge on the companies, whose new keys are discovered as company traits.

PostgreSQL: each batch is COPYed into a temporary table and merged by one
``INSERT ... ON CONFLICT DO UPDATE`` (``traits || new``). SQLite: the same merge in Python,
batch by batch (``merge.merge`` itself).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from . import coerce, merge
from .actions import (
    _discover_traits,
    _new_trait_keys,
    end_user_clean,
    trait_keys_over_limit,
    trait_limit_message,
)
from .coerce import BOOLEAN, DATE, NUMBER, STRING
from .companies import KEEP, company_id_clean
from .models import Application, Company, EndUser, TraitDefinition
from .traits import MAX_ID, MAX_INT, MAX_STRING, MAX_TRAITS, TraitError, check_key, check_traits

ID_COLUMN = "id"
BATCH_SIZE = {"postgresql": 50_000, "sqlite": 2_000}
_INTEGER = re.compile(r"[+-]?[0-9]{1,25}")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no id column, a bad header); nothing was."""


class Row(NamedTuple):  # a tuple: a million of them are built per import
    line: int
    external_id: str
    changes: dict[str, Any]  # validated by end_user_clean; None removes a trait
    company: Any = KEEP  # a user's: their company's id, None (none) or KEEP (as it is)


class Reject(NamedTuple):
    line: int
    external_id: str | None
    reason: str


def write_rejects(rejected: Iterable[Reject], path: str, say: Callable[[str], Any]) -> int:
    """The rejected lines, in line order, into a CSV at ``path`` (line, id, reason), the first
    20 also through ``say``; how many. Nothing is written when there are none."""
    rejected = sorted(rejected, key=lambda r: r.line)
    if rejected:
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "id", "reason"])
            writer.writerows((r.line, r.external_id or "", r.reason) for r in rejected)
        for reject in rejected[:20]:
            shown = f" ({reject.external_id})" if reject.external_id else ""
            say(f"line {reject.line}{shown}: {reject.reason}")
        if len(rejected) > 20:
            say(f"... and {len(rejected) - 20:,} more")
    return len(rejected)


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Reject] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- Reading -------------------------------------------------------------------------------


def _reason(error: ValidationError) -> str:
    return "; ".join(message for messages in error.message_dict.values() for message in messages)


def clean_row(line: int, external_id: Any, traits: Any, company: Any = KEEP) -> Row | Reject:
    """One user's row through identify's checks (``company``: the id of the user's company,
    None or KEEP)."""
    try:
        changes = end_user_clean(external_id=external_id, traits=traits)
        if company is not KEEP and company is not None:
            company = company_id_clean(company, "company")
    except ValidationError as error:
        shown = external_id if isinstance(external_id, str) else None
        return Reject(line, shown, _reason(error))
    return Row(line, external_id, changes, company)


def clean_company_row(line: int, external_id: Any, traits: Any) -> Row | Reject:
    """One company's row through identify's checks of a company (errors worded for a row)."""
    try:
        external_id = company_id_clean(external_id, "id")
        try:
            changes = check_traits({} if traits is None else traits, noun="Company trait")
        except TraitError as error:
            raise ValidationError({error.field: [error.message]}) from None
        if sum(1 for value in changes.values() if value is not None) > MAX_TRAITS:
            raise ValidationError({"traits": [merge.COMPANY_TOO_MANY]})
    except ValidationError as error:
        shown = external_id if isinstance(external_id, str) else None
        return Reject(line, shown, _reason(error))
    return Row(line, external_id, changes)


def _number(text: str) -> int | float:
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)  # identify's range check applies next
    number = coerce.coerce_number(stripped)
    if number is None or not math.isfinite(number):
        raise ValueError(f"{text!r} is not a number")
    return number


def _boolean(text: str) -> bool:
    value = coerce.coerce_boolean(text.strip())
    if value is None:
        raise ValueError(f"{text!r} is not true or false")
    return value


def _date(text: str) -> str | int | float:
    stripped = text.strip()
    if coerce.parse_iso(stripped) is not None:
        return stripped
    number = coerce.coerce_number(stripped)
    if number is None or not math.isfinite(number):
        raise ValueError(f"{text!r} is not a date (2026-11-20, 2026-11-20T14:30:00Z, or Unix)")
    return int(number) if number.is_integer() else number  # a Unix timestamp


# How a cell becomes a typed value; text (a string trait, or no definition) stays as it is.
CONVERTERS: dict[str, Callable[[str], Any]] = {NUMBER: _number, BOOLEAN: _boolean, DATE: _date}


def cell_value(text: str, trait_type: str | None) -> Any:
    """A CSV cell as the value to store, by the trait's type; ValueError when it is not one."""
    convert = CONVERTERS.get(trait_type or STRING)
    return convert(text) if convert else text


def read_csv(
    file: IO[str],
    trait_types: Mapping[str, str],
    *,
    company_column: str | None = None,
    company_column_required: bool = True,
    clean: Callable[..., Row | Reject] = clean_row,
) -> Iterator[Row | Reject]:
    """CSV with a header: an ``id`` column and one column per trait (``trait_types``: key ->
    type of the definitions, which decide how cells convert; see ``cell_value``), and for
    users the ``company_column`` if given (the id of each user's company; an empty cell leaves
    it as it is; a header without it is refused, unless not ``company_column_required``).
    ``clean``: a row's checks, ``clean_row`` (a user's) or ``clean_company_row``.

    A row is refused exactly when identify would refuse it, but identify's checks
    (``end_user_clean``) need not run value by value: the keys were checked once, in the
    header; the id and the text are checked on the whole record at once; a converted value is
    a finite number, true/false or text cut from its cell, so only an integer's range is left
    to check. A row that fails any of these goes through ``clean_row``, which finds identify's
    own reason (the first failing check, in identify's order)."""
    reader = csv.reader(file)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty: expected a header with an id column.") from None
    header = [name.strip() for name in header]
    if ID_COLUMN not in header:
        raise ImportFileError(f'The header has no "{ID_COLUMN}" column: {", ".join(header)}')
    if company_column not in header and not company_column_required:
        company_column = None
    if company_column is not None and company_column not in header:
        raise ImportFileError(
            f'The header has no "{company_column}" column (the company column named): '
            + ", ".join(header)
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ImportFileError(f'The header names "{name}" twice.')
        seen.add(name)
        if name not in (ID_COLUMN, company_column):
            try:
                check_key(name)
            except TraitError as error:
                raise ImportFileError(f"Column {name!r}: {error.message}") from None
    id_at = header.index(ID_COLUMN)
    company_at = -1 if company_column is None else header.index(company_column)
    columns = [
        (i, name, trait_types.get(name), CONVERTERS.get(trait_types.get(name) or STRING))
        for i, name in enumerate(header)
        if i not in (id_at, company_at)
    ]
    # More columns than a user may have traits: the count is identify's to check, row by row.
    countable = len(columns) <= MAX_TRAITS
    width = len(header)
    line = reader.line_num + 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if not record:
            continue  # a blank line
        if len(record) != width:
            shown = record[id_at] if len(record) > id_at else None
            yield Reject(start, shown, f"expected {width} fields, found {len(record)}")
            continue
        traits: dict[str, Any] = {}
        problem = None
        valid = countable
        for i, name, trait_type, convert in columns:
            text = record[i]
            if not text:
                continue
            if convert is None:  # text: checked below, with the whole record
                traits[name] = text
                continue
            try:
                value = traits[name] = convert(text)
            except ValueError as error:
                problem = f"{name}: {error} (the trait is a {trait_type})"
                break
            if type(value) is int and not -MAX_INT <= value <= MAX_INT:
                valid = False  # clean_row says why, unless a later cell does not convert
        if problem:
            yield Reject(start, record[id_at], problem)
            continue
        if company_at < 0:
            if valid and _valid_text(record, record[id_at]):
                yield Row(start, record[id_at], traits)
            else:
                yield clean(start, record[id_at], traits)
            continue
        company = record[company_at] or KEEP
        if valid and _valid_text(record, record[id_at]) and len(record[company_at]) <= MAX_ID:
            yield Row(start, record[id_at], traits, company)
        else:
            yield clean(start, record[id_at], traits, company)


def _valid_text(record: list[str], external_id: str) -> bool:
    """Whether identify would accept the id and every cell as text (``check_value``'s limits),
    checked on the whole record at once."""
    joined = "".join(record)
    return (
        0 < len(external_id) <= MAX_ID
        and "\x00" not in joined
        and max(map(len, record)) <= MAX_STRING
        and (joined.isascii() or _encodable(joined))
    )


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, as from stdin's surrogateescape
        return False
    return True


def read_jsonl(
    file: IO[str], *, clean: Callable[..., Row | Reject] = clean_row
) -> Iterator[Row | Reject]:
    """JSON Lines: one ``{"id": "...", "traits": {...}}`` object per line; a user's may also
    carry ``"company"``, the id of their company (null: none; no key: as it is). ``clean``: a
    row's checks, ``clean_row`` (a user's) or ``clean_company_row``."""
    users = clean is clean_row
    fields = {"id", "traits", "company"} if users else {"id", "traits"}
    expected = "id, traits and company" if users else "id and traits"
    for number, text in enumerate(file, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as error:
            yield Reject(number, None, f"not JSON: {error}")
            continue
        if not isinstance(data, dict):
            yield Reject(number, None, 'expected an object {"id": ..., "traits": {...}}')
            continue
        unknown = sorted(set(data) - fields)
        if unknown:
            yield Reject(number, None, f"unknown field {unknown[0]!r} (expected {expected})")
            continue
        if users:
            yield clean(number, data.get("id"), data.get("traits"), data.get("company", KEEP))
        else:
            yield clean(number, data.get("id"), data.get("traits"))


# --- Writing -------------------------------------------------------------------------------


Progress = Callable[[ImportResult], None]


@dataclass(frozen=True)
class _Kind:
    """What an import writes: users, or companies (the same columns but the user's
    company_id, the same merge; their own trait definitions)."""

    model: type[EndUser] | type[Company]
    scope: str
    too_many: str

    @property
    def users(self) -> bool:
        return self.model is EndUser

    @property
    def table(self) -> str:
        return self.model._meta.db_table


USERS = _Kind(EndUser, TraitDefinition.Scope.USER, merge.TOO_MANY)
COMPANIES = _Kind(Company, TraitDefinition.Scope.COMPANY, merge.COMPANY_TOO_MANY)


def users_import(
    *,
    application: Application,
    rows: Iterable[Row | Reject],
    batch_size: int | None = None,
    on_batch: Progress | None = None,
) -> ImportResult:
    """Create or merge every good row's user (and put them in their company, if the row names
    one); collect the rejected ones. Each batch commits on its own, so an interrupted import
    keeps what it wrote and a re-run completes it."""
    return _import(application, rows, USERS, batch_size, on_batch)


def companies_import(
    *,
    application: Application,
    rows: Iterable[Row | Reject],
    batch_size: int | None = None,
    on_batch: Progress | None = None,
) -> ImportResult:
    """``users_import`` for companies (rows read with ``clean=clean_company_row``): each row's
    company created or its traits merged, new keys discovered as company traits."""
    return _import(application, rows, COMPANIES, batch_size, on_batch)


def _import(
    application: Application,
    rows: Iterable[Row | Reject],
    kind: _Kind,
    batch_size: int | None,
    on_batch: Progress | None,
) -> ImportResult:
    vendor = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    size = batch_size or BATCH_SIZE[vendor]
    write = _write_postgresql if vendor == "postgresql" else _write_sqlite
    result = ImportResult()
    started = time.perf_counter()
    batch: list[Row] = []
    ids: set[str] = set()

    def flush() -> None:
        if batch:
            with transaction.atomic():
                rows = len(batch)
                samples = _within_limit(
                    application, batch, samples=_samples(batch), result=result, kind=kind
                )
                write(application, batch, result, kind)
                _discover_traits(application, samples, kind.scope)
            result.rows += rows
            batch.clear()
            ids.clear()
        result.seconds = time.perf_counter() - started
        if on_batch:
            on_batch(result)

    for row in _read_ahead(rows):
        if isinstance(row, Reject):
            result.rejected.append(row)
            result.rows += 1
            continue
        # One row once per batch, so that a later line merges onto the earlier one, in order.
        if len(batch) >= size or row.external_id in ids:
            flush()
        batch.append(row)
        ids.add(row.external_id)
    flush()
    if (
        vendor == "postgresql"
        and (result.created or result.updated)
        and not connection.in_atomic_block
    ):
        # Fresh statistics at once, not when autovacuum gets to it: with a new application's
        # users unknown to the planner, identify's lookup by (application, id) was seen to pick
        # the application_id index and filter a million rows (227 ms instead of 0.06 ms).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(kind.table)}")
        result.seconds = time.perf_counter() - started
    return result


def _read_ahead(rows: Iterable[Row | Reject], chunk: int = 5_000) -> Iterator[Row | Reject]:
    """``rows``, read and validated in a second thread while this one waits on the database
    (which releases the GIL): parsing and writing overlap instead of taking turns."""
    chunks: queue.Queue[list[Row | Reject] | BaseException | None] = queue.Queue(maxsize=20)
    stop = threading.Event()

    def produce() -> None:
        try:
            buffer: list[Row | Reject] = []
            for row in rows:
                buffer.append(row)
                if len(buffer) >= chunk:
                    chunks.put(buffer)
                    buffer = []
                    if stop.is_set():
                        return
            chunks.put(buffer)
            chunks.put(None)
        except BaseException as error:  # handed to the consumer, raised there
            chunks.put(error)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        thread.join()


def _within_limit(
    application: Application,
    batch: list[Row],
    *,
    samples: dict[str, Any],
    result: ImportResult,
    kind: _Kind = USERS,
) -> dict[str, Any]:
    """Reject the rows carrying a new key past the application's limit of trait definitions
    (as identify refuses such a call), removing them from ``batch``; the samples of the keys
    left to discover."""
    new = _new_trait_keys(application, samples, kind.scope)
    over = set(trait_keys_over_limit(application=application, keys=new, scope=kind.scope))
    if not over:
        return samples
    kept = []
    for row in batch:
        key = next((k for k, v in row.changes.items() if v is not None and k in over), None)
        if key is None:
            kept.append(row)
        else:
            reason = trait_limit_message(key, kind.scope)
            result.rejected.append(Reject(row.line, row.external_id, reason))
    batch[:] = kept
    return {key: value for key, value in samples.items() if key not in over}


def _samples(batch: list[Row]) -> dict[str, Any]:
    """Each key's first non-null value in the batch: what auto-discovery infers a type from."""
    samples: dict[str, Any] = {}
    for row in batch:
        if row.changes.keys() <= samples.keys():
            continue
        for key, value in row.changes.items():
            if value is not None and key not in samples:
                samples[key] = value
    return samples


def _write_sqlite(
    application: Application, batch: list[Row], result: ImportResult, kind: _Kind
) -> None:
    """identify's merge, row by row in memory, then one bulk write per batch."""
    stored_rows: dict[str, Any] = {}
    for chunk in _chunks([row.external_id for row in batch]):
        stored_rows.update(
            (found.external_id, found)
            for found in kind.model.objects.filter(application=application, external_id__in=chunk)
        )
    accepted = []
    for row in batch:
        found = stored_rows.get(row.external_id)
        stored = found.traits if found is not None else {}
        try:
            merged = merge.merge(stored, row.changes, company=not kind.users)
        except TraitError as error:
            result.rejected.append(Reject(row.line, row.external_id, error.message))
            continue
        accepted.append((row, found, stored, merged))
    # The companies the accepted rows name, created without traits when new (a rejected row's
    # is not): their ids.
    companies = _companies(application, {row.company for row, *_ in accepted}) if kind.users else {}
    new: list[Any] = []
    changed: list[Any] = []
    for row, found, stored, merged in accepted:
        fields: dict[str, Any] = {}
        if kind.users and row.company is not KEEP:
            fields["company_id"] = companies.get(row.company)  # None: no company
        if found is None:
            new.append(
                kind.model(
                    application=application, external_id=row.external_id, traits=merged, **fields
                )
            )
        elif merged != stored or any(getattr(found, f) != v for f, v in fields.items()):
            found.traits = merged
            for name, value in fields.items():
                setattr(found, name, value)
            changed.append(found)
        else:
            result.unchanged += 1
    kind.model.objects.bulk_create(new, batch_size=500)
    kind.model.objects.bulk_update(
        changed, ["traits", "company"] if kind.users else ["traits"], batch_size=500
    )
    result.created += len(new)
    result.updated += len(changed)


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """SQLite's limit on query parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _companies(application: Application, named: set[Any]) -> dict[str, int]:
    """{company id: its primary key} for the ids in ``named`` (KEEP and None are no id); the
    ones not stored yet are created, without traits (SQLite)."""
    wanted = [name for name in named if isinstance(name, str)]
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        companies = Company.objects.filter(application=application, external_id__in=chunk)
        found.update(companies.values_list("external_id", "pk"))
    missing = [name for name in wanted if name not in found]
    if missing:
        Company.objects.bulk_create(
            [Company(application=application, external_id=name) for name in missing],
            batch_size=500,
            ignore_conflicts=True,
        )
        for chunk in _chunks(missing):
            companies = Company.objects.filter(application=application, external_id__in=chunk)
            found.update(companies.values_list("external_id", "pk"))
    return found


_TEMP = """
CREATE TEMPORARY TABLE callout_import (
    line integer NOT NULL,
    external_id text NOT NULL,
    traits jsonb NOT NULL,
    removes text[] NOT NULL,
    company text,
    sets_company boolean NOT NULL
) ON COMMIT DROP
"""

_MERGED_REMOVING = merge.pg_merged("u.traits", "t.traits", "t.removes")
_MERGED = merge.pg_merged("u.traits", "EXCLUDED.traits")

# A users' import naming companies creates the new ones first, without traits (their ids are
# the users' company_id); those the batch's rejected rows alone named are deleted at the end.
_NEW_COMPANIES = """
INSERT INTO segments_company AS c (application_id, external_id, traits, first_seen, last_seen)
SELECT DISTINCT %(application)s, t.company, '{}'::jsonb, %(now)s, %(now)s
FROM callout_import AS t WHERE t.company IS NOT NULL
ON CONFLICT (application_id, external_id) DO NOTHING
RETURNING c.id
"""
_UNUSED_COMPANIES = """
DELETE FROM segments_company AS c WHERE c.id = ANY(%(new)s)
AND NOT EXISTS (SELECT 1 FROM segments_enduser AS u WHERE u.company_id = c.id)
"""
_COMPANY_OF_ROW = """LEFT JOIN segments_company AS c
    ON c.application_id = %(application)s AND c.external_id = t.company"""

# Removals (JSON null), and a user's move to another company or out of theirs, first, with
# the trait limit checked on the full merge; the upsert below then finds these rows already
# merged. Only batches with either run it; a row it would not change is not written, as in the
# upsert. {table}: the users' or the companies' (which have no company).
_FIRST = """
UPDATE {table} AS u SET traits = {merged}{set_company}
FROM callout_import AS t {company_of_row}
WHERE u.application_id = %(application)s AND u.external_id = t.external_id
  AND (cardinality(t.removes) > 0{or_sets})
  AND (u.traits ?| t.removes OR NOT (u.traits @> t.traits){or_moves})
  AND {fits}
"""

# One statement per batch inserts the new rows and merges into the existing ones that change
# (a row whose traits already hold the row's values is not written: a re-run is a no-op). A
# new user goes into the company its row names.
_UPSERT = """
WITH written AS (
    INSERT INTO {table} AS u (application_id, external_id, traits, first_seen, last_seen{company})
    SELECT %(application)s, t.external_id, t.traits, %(now)s, %(now)s{company_id}
    FROM callout_import AS t {company_of_row}
    ON CONFLICT (application_id, external_id) DO UPDATE SET traits = {merged}
    WHERE NOT (u.traits @> EXCLUDED.traits) AND {fits}
    RETURNING (u.xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written
"""

# After the two above every row's user holds the row's values, except where the merge would
# have exceeded the trait limit: those lines are rejected (neither written nor unchanged).
_FULL = """
SELECT t.line, t.external_id FROM callout_import AS t
JOIN {table} AS u ON u.application_id = %(application)s AND u.external_id = t.external_id
WHERE NOT ((u.traits - t.removes) @> t.traits)
"""


@lru_cache(maxsize=2)
def _statements(kind: _Kind) -> dict[str, str]:
    """``_FIRST``, ``_UPSERT`` and ``_FULL`` for users or companies."""
    table = kind.table
    users = kind.users
    return {
        "first": _FIRST.format(
            table=table,
            merged=_MERGED_REMOVING,
            set_company=(
                ", company_id = CASE WHEN t.sets_company THEN c.id ELSE u.company_id END"
                if users
                else ""
            ),
            company_of_row=_COMPANY_OF_ROW if users else "",
            or_sets=" OR t.sets_company" if users else "",
            or_moves=" OR (t.sets_company AND u.company_id IS DISTINCT FROM c.id)" if users else "",
            fits=merge.pg_fits(_MERGED_REMOVING),
        ),
        "upsert": _UPSERT.format(
            table=table,
            company=", company_id" if users else "",
            company_id=", c.id" if users else "",
            company_of_row=_COMPANY_OF_ROW if users else "",
            merged=_MERGED,
            fits=merge.pg_fits(_MERGED),
        ),
        "full": _FULL.format(table=table),
    }


def _write_postgresql(
    application: Application, batch: list[Row], result: ImportResult, kind: _Kind
) -> None:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    sql = _statements(kind)
    has_removals = names_companies = moves = False
    with connection.cursor() as cursor:
        # Dropped on commit; inside a caller's transaction the previous batch's is still here.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.callout_import")
        cursor.execute(_TEMP)
        with cursor.copy(
            "COPY callout_import (line, external_id, traits, removes, company, sets_company) "
            "FROM STDIN"
        ) as copy:
            for line, external_id, changes, company in batch:
                removes: str | list[str] = "{}"  # text[]'s literal: cheaper than an empty list
                if None in changes.values():  # JSON Lines' null removes a trait
                    removes = [key for key, value in changes.items() if value is None]
                    changes = {key: value for key, value in changes.items() if value is not None}
                    has_removals = True
                sets = company is not KEEP
                if sets:
                    moves = True
                    names_companies = names_companies or company is not None
                copy.write_row(
                    (line, external_id, dumps(changes), removes, company if sets else None, sets)
                )
        params: dict[str, Any] = {"application": application.pk, "now": timezone.now()}
        new_companies = []
        if names_companies:
            cursor.execute(_NEW_COMPANIES, params)
            new_companies = [row[0] for row in cursor.fetchall()]
        updated_first = 0
        if has_removals or moves:
            cursor.execute(sql["first"], params)
            updated_first = cursor.rowcount
        cursor.execute(sql["upsert"], params)
        created, updated = cursor.fetchone()
        updated += updated_first  # the upsert found these rows already merged
        full = []
        if created + updated < len(batch):  # some rows unchanged, or too many traits
            cursor.execute(sql["full"], params)
            full = [Reject(line, external_id, kind.too_many) for line, external_id in cursor]
        if full and new_companies:
            cursor.execute(_UNUSED_COMPANIES, {"new": new_companies})
    result.created += created
    result.updated += updated
    result.unchanged += len(batch) - created - updated - len(full)
    result.rejected += full
