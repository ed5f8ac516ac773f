"""Per-trait expression indexes on PostgreSQL, for the traits that segment rules use.

A rule reads a trait through the same coercion functions everywhere (``segments/sql.py``):
``callout_fold(traits ->> 'plan')``, ``callout_num(traits -> 'teamSize')``,
``callout_date(traits -> 'signupDate')``. An index on exactly that expression, partial on the
trait's application, lets PostgreSQL answer equality, ranges and day windows from the index
instead of coercing every user's traits; for dates that is the difference between minutes and
milliseconds over a million users (the coercion parses ISO text). See docs/scale.md.

Why not a GIN index on ``traits``: GIN serves ``@>`` containment of exact JSON values, but rules
compare coerced values (``"12"`` equals ``12``, ``FREE`` equals ``free``, dates as instants,
numbers as ranges), which containment cannot express; the planner never picks it for our
queries and every write pays for it.

Which traits: those that at least one rule uses, and of a type whose comparisons a B-tree can
serve (text folded for the case-insensitive default, numbers, dates). Every index costs each
identify a little (benchmarks/identify_cost.py), so traits nobody segments on get none.
Indexes are named ``callout_ti_<application>_<trait>_<type>``; ``sync`` makes the set in the
database match the rules, building CONCURRENTLY when not inside a transaction so that identify
calls are never blocked.

Every such trait also gets statistics (``CREATE STATISTICS`` on the same expression,
PostgreSQL 14+, named ``callout_ts_...``), on the users table or, for a company trait, the
companies table (which gets no index: it is small and read through a join). PostgreSQL takes
no statistics from a partial index, so without them it guesses that any condition on a trait
keeps 0.5% of the rows, and a segment joining companies then walks a quarter of them to their
users one by one (docs/scale.md, "Companies"). Statistics cost nothing on writes, only at
ANALYZE, which ``sync`` runs on a table it gave new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from callout.db import without_statement_timeout

from .coerce import DATE, NUMBER, SQL_READ, STRING
from .models import Application, Rule, TraitDefinition
from .traits import check_key

TABLE = "segments_enduser"
COMPANY_TABLE = "segments_company"
PREFIX = "callout_ti_"
STATISTICS_PREFIX = "callout_ts_"
INDEXED_TYPES = (STRING, NUMBER, DATE)


@dataclass(frozen=True)
class TraitIndex:
    name: str
    expression: str
    application_id: int
    table: str = TABLE
    statistics: bool = False  # statistics on the expression, not an index

    def create_sql(self, concurrently: bool) -> str:
        if self.statistics:
            return (
                f'CREATE STATISTICS IF NOT EXISTS "{self.name}" ON ({self.expression}) '
                f"FROM {self.table}"
            )
        how = "CONCURRENTLY " if concurrently else ""
        return (
            f'CREATE INDEX {how}IF NOT EXISTS "{self.name}" ON {TABLE} ({self.expression}) '
            f"WHERE application_id = {int(self.application_id)}"
        )


def trait_index(trait: TraitDefinition) -> TraitIndex | None:
    """The index that serves ``trait``'s rules (statistics for a company trait), or None for a
    type that gets none."""
    if trait.type not in INDEXED_TYPES:
        return None
    key = check_key(trait.key)  # letters, digits, _ . - only: safe inside a literal
    read = SQL_READ["postgresql"][trait.type].format(t="traits").replace("%s", f"'{key}'")
    # Text rules fold case unless "match case" is ticked, the default being the common case.
    expression = f"callout_fold({read})" if trait.type == STRING else read
    suffix = f"{trait.application_id}_{trait.pk}_{trait.type[0]}"
    if trait.scope == TraitDefinition.Scope.COMPANY:
        return TraitIndex(f"{STATISTICS_PREFIX}{suffix}", expression, trait.application_id,
                          COMPANY_TABLE, statistics=True)  # fmt: skip
    return TraitIndex(f"{PREFIX}{suffix}", f"({expression})", trait.application_id)


def trait_statistics(index: TraitIndex) -> TraitIndex:
    """Statistics on a user trait index's expression (the index gives the planner none)."""
    name = index.name.replace(PREFIX, STATISTICS_PREFIX, 1)
    return TraitIndex(name, index.expression[1:-1], index.application_id, TABLE, statistics=True)


def wanted(application: Application) -> dict[str, TraitIndex]:
    traits = TraitDefinition.objects.filter(
        pk__in=Rule.objects.filter(segment__application=application).values("trait_id")
    )
    out: dict[str, TraitIndex] = {}
    for trait in traits:
        index = trait_index(trait)
        if index is None:
            continue
        found = [index] if not index.statistics else []
        if _expression_statistics():
            found.append(index if index.statistics else trait_statistics(index))
        out |= {one.name: one for one in found}
    return out


def _expression_statistics() -> bool:
    """Statistics on an expression: PostgreSQL 14 and later."""
    return connection.pg_version >= 140000


def existing(application_id: int | None = None) -> dict[str, bool]:
    """Index (and company statistics) name -> valid (a failed concurrent build leaves an
    invalid index behind)."""
    tail = "%" if application_id is None else f"{application_id}\\_%"
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.indisvalid FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass AND c.relname LIKE %s
            UNION ALL
            SELECT stxname, true FROM pg_statistic_ext WHERE stxname LIKE %s
            """,
            [TABLE, _like(PREFIX) + tail, _like(STATISTICS_PREFIX) + tail],
        )
        return dict(cursor.fetchall())


def _like(prefix: str) -> str:
    return prefix.replace("_", r"\_")


def sync(application: Application) -> tuple[list[str], list[str]]:
    """Create the indexes the application's rules need and drop the rest; PostgreSQL only.

    Returns (created, dropped) index names. Outside a transaction the DDL runs CONCURRENTLY
    (writes go on meanwhile); inside one (tests) it runs plainly.
    """
    if connection.vendor != "postgresql":
        return [], []
    want = wanted(application)
    have = existing(application.pk)
    drop = [name for name, valid in have.items() if name not in want or not valid]
    create = [index for name, index in want.items() if not have.get(name)]
    concurrently = not connection.in_atomic_block
    how = "CONCURRENTLY " if concurrently else ""
    with connection.cursor() as cursor, without_statement_timeout(cursor):
        for name in drop:
            cursor.execute(_drop_sql(name, how))
        for index in create:
            cursor.execute(index.create_sql(concurrently))
        for table in sorted({index.table for index in create if index.statistics}):
            cursor.execute(f"ANALYZE {table}")  # what statistics are for
    return [index.name for index in create], drop


def _drop_sql(name: str, how: str) -> str:
    if name.startswith(STATISTICS_PREFIX):
        return f'DROP STATISTICS IF EXISTS "{name}"'
    return f'DROP INDEX {how}IF EXISTS "{name}"'


def drop_orphans() -> list[str]:
    """Drop the indexes of applications that no longer exist."""
    if connection.vendor != "postgresql":
        return []
    alive = set(Application.objects.values_list("pk", flat=True))
    orphans = [
        name
        for name in existing()
        if int(name.removeprefix(PREFIX).removeprefix(STATISTICS_PREFIX).split("_")[0]) not in alive
    ]
    how = "" if connection.in_atomic_block else "CONCURRENTLY "
    with connection.cursor() as cursor:
        for name in orphans:
            cursor.execute(_drop_sql(name, how))
    return orphans
