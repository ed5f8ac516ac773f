"""Bulk import of users from CSV or JSON Lines: identify's rules, a million rows at a time.

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
from .merge import TOO_MANY
from .models import Application, EndUser
from .traits import MAX_ID, MAX_INT, MAX_STRING, MAX_TRAITS, TraitError, check_key

ID_COLUMN = "id"
BATCH_SIZE = {"postgresql": 50_000, "sqlite": 2_000}
_INTEGER = re.compile(r"[+-]?[0-9]{1,25}")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no id column, a bad header); nothing was."""


class Row(NamedTuple):  # a tuple: a million of them are built per import
    line: int
    external_id: str
    changes: dict[str, Any]  # validated by end_user_clean; None removes a trait


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


def clean_row(line: int, external_id: Any, traits: Any) -> Row | Reject:
    """One row through identify's checks."""
    try:
        changes = end_user_clean(external_id=external_id, traits=traits)
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


def read_csv(file: IO[str], trait_types: Mapping[str, str]) -> Iterator[Row | Reject]:
    """CSV with a header: an ``id`` column and one column per trait (``trait_types``: key ->
    type of the definitions, which decide how cells convert; see ``cell_value``).

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
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ImportFileError(f'The header names "{name}" twice.')
        seen.add(name)
        if name != ID_COLUMN:
            try:
                check_key(name)
            except TraitError as error:
                raise ImportFileError(f"Column {name!r}: {error.message}") from None
    id_at = header.index(ID_COLUMN)
    columns = [
        (i, name, trait_types.get(name), CONVERTERS.get(trait_types.get(name) or STRING))
        for i, name in enumerate(header)
        if i != id_at
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
        elif valid and _valid_text(record, record[id_at]):
            yield Row(start, record[id_at], traits)
        else:
            yield clean_row(start, record[id_at], traits)


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


def read_jsonl(file: IO[str]) -> Iterator[Row | Reject]:
    """JSON Lines: one ``{"id": "...", "traits": {...}}`` object per line."""
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
        unknown = sorted(set(data) - {"id", "traits"})
        if unknown:
            yield Reject(number, None, f"unknown field {unknown[0]!r} (expected id and traits)")
            continue
        yield clean_row(number, data.get("id"), data.get("traits"))


# --- Writing -------------------------------------------------------------------------------


Progress = Callable[[ImportResult], None]


def users_import(
    *,
    application: Application,
    rows: Iterable[Row | Reject],
    batch_size: int | None = None,
    on_batch: Progress | None = None,
) -> ImportResult:
    """Create or merge every good row's user; collect the rejected ones. Each batch commits on
    its own, so an interrupted import keeps what it wrote and a re-run completes it."""
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
                samples = _within_limit(application, batch, samples=_samples(batch), result=result)
                write(application, batch, result)
                _discover_traits(application, samples)
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
        # One user once per batch, so that a later line merges onto the earlier one, in order.
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
            cursor.execute("ANALYZE segments_enduser")
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
    application: Application, batch: list[Row], *, samples: dict[str, Any], result: ImportResult
) -> dict[str, Any]:
    """Reject the rows carrying a new key past the application's limit of trait definitions
    (as identify refuses such a call), removing them from ``batch``; the samples of the keys
    left to discover."""
    over = set(
        trait_keys_over_limit(application=application, keys=_new_trait_keys(application, samples))
    )
    if not over:
        return samples
    kept = []
    for row in batch:
        key = next((k for k, v in row.changes.items() if v is not None and k in over), None)
        if key is None:
            kept.append(row)
        else:
            result.rejected.append(Reject(row.line, row.external_id, trait_limit_message(key)))
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


def _write_sqlite(application: Application, batch: list[Row], result: ImportResult) -> None:
    """identify's merge, row by row in memory, then one bulk write per batch."""
    users: dict[str, EndUser] = {}
    for start in range(0, len(batch), 500):  # SQLite's limit on query parameters
        chunk = [row.external_id for row in batch[start : start + 500]]
        users.update(
            (user.external_id, user)
            for user in EndUser.objects.filter(application=application, external_id__in=chunk)
        )
    new: list[EndUser] = []
    changed: list[EndUser] = []
    for row in batch:
        user = users.get(row.external_id)
        stored = user.traits if user is not None else {}
        try:
            merged = merge.merge(stored, row.changes)
        except TraitError as error:
            result.rejected.append(Reject(row.line, row.external_id, error.message))
            continue
        if user is None:
            new.append(EndUser(application=application, external_id=row.external_id, traits=merged))
        elif merged != stored:
            user.traits = merged
            changed.append(user)
        else:
            result.unchanged += 1
    EndUser.objects.bulk_create(new, batch_size=500)
    EndUser.objects.bulk_update(changed, ["traits"], batch_size=500)
    result.created += len(new)
    result.updated += len(changed)


_TEMP = """
CREATE TEMPORARY TABLE callout_import (
    line integer NOT NULL,
    external_id text NOT NULL,
    traits jsonb NOT NULL,
    removes text[] NOT NULL
) ON COMMIT DROP
"""

_MERGED_REMOVING = merge.pg_merged("u.traits", "t.traits", "t.removes")
_MERGED = merge.pg_merged("u.traits", "EXCLUDED.traits")

# Removals (JSON null) first, with the trait limit checked on the full merge; the upsert below
# then finds these users already merged. Only batches with a null run it; a user the row would
# not change is not written, as in the upsert.
_REMOVE = f"""
UPDATE segments_enduser AS u SET traits = {_MERGED_REMOVING}
FROM callout_import AS t
WHERE u.application_id = %(application)s AND u.external_id = t.external_id
  AND cardinality(t.removes) > 0
  AND (u.traits ?| t.removes OR NOT (u.traits @> t.traits))
  AND {merge.pg_fits(_MERGED_REMOVING)}
"""

# One statement per batch inserts the new users and merges into the existing ones that change
# (a user whose traits already hold the row's values is not written: a re-run is a no-op).
_UPSERT = f"""
WITH written AS (
    INSERT INTO segments_enduser AS u (application_id, external_id, traits, first_seen, last_seen)
    SELECT %(application)s, t.external_id, t.traits, %(now)s, %(now)s FROM callout_import AS t
    ON CONFLICT (application_id, external_id) DO UPDATE SET traits = {_MERGED}
    WHERE NOT (u.traits @> EXCLUDED.traits) AND {merge.pg_fits(_MERGED)}
    RETURNING (u.xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written
"""

# After the two above every row's user holds the row's values, except where the merge would
# have exceeded the trait limit: those lines are rejected (neither written nor unchanged).
_FULL = """
SELECT t.line, t.external_id FROM callout_import AS t
JOIN segments_enduser AS u ON u.application_id = %(application)s AND u.external_id = t.external_id
WHERE NOT ((u.traits - t.removes) @> t.traits)
"""


def _write_postgresql(application: Application, batch: list[Row], result: ImportResult) -> None:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    has_removals = False
    with connection.cursor() as cursor:
        # Dropped on commit; inside a caller's transaction the previous batch's is still here.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.callout_import")
        cursor.execute(_TEMP)
        with cursor.copy(
            "COPY callout_import (line, external_id, traits, removes) FROM STDIN"
        ) as copy:
            for line, external_id, changes in batch:
                removes: str | list[str] = "{}"  # text[]'s literal: cheaper than an empty list
                if None in changes.values():  # JSON Lines' null removes a trait
                    removes = [key for key, value in changes.items() if value is None]
                    changes = {key: value for key, value in changes.items() if value is not None}
                    has_removals = True
                copy.write_row((line, external_id, dumps(changes), removes))
        params = {"application": application.pk, "now": timezone.now()}
        removed = 0
        if has_removals:
            cursor.execute(_REMOVE, params)
            removed = cursor.rowcount
        cursor.execute(_UPSERT, params)
        created, updated = cursor.fetchone()
        updated += removed  # the upsert found these users already merged
        full = []
        if created + updated < len(batch):  # some rows unchanged, or too many traits
            cursor.execute(_FULL, params)
            full = [Reject(line, external_id, TOO_MANY) for line, external_id in cursor]
    result.created += created
    result.updated += updated
    result.unchanged += len(batch) - created - updated - len(full)
    result.rejected += full
