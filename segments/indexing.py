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

Each index has a statistics object of the same name on the same expression (``CREATE
STATISTICS``, over the whole table), analysed when it is created. The planner does not read a
partial index's statistics, so without it every rule on a trait was guessed to match 0.5% of
the users: "plan equals pro" (30%) went to a single-process index scan instead of a parallel
scan (docs/scale.md, Behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from callout.db import without_statement_timeout

from .coerce import DATE, NUMBER, SQL_READ, STRING
from .models import Application, Rule, TraitDefinition
from .traits import check_key

TABLE = "segments_enduser"
PREFIX = "callout_ti_"
INDEXED_TYPES = (STRING, NUMBER, DATE)


@dataclass(frozen=True)
class TraitIndex:
    name: str
    expression: str
    application_id: int

    def create_sql(self, concurrently: bool) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        return (
            f'CREATE INDEX {how}IF NOT EXISTS "{self.name}" ON {TABLE} ({self.expression}) '
            f"WHERE application_id = {int(self.application_id)}"
        )

    def statistics_sql(self) -> str:
        return f'CREATE STATISTICS IF NOT EXISTS "{self.name}" ON {self.expression} FROM {TABLE}'


def trait_index(trait: TraitDefinition) -> TraitIndex | None:
    """The index that serves ``trait``'s rules, or None for a type that gets none."""
    if trait.type not in INDEXED_TYPES:
        return None
    key = check_key(trait.key)  # letters, digits, _ . - only: safe inside a literal
    read = SQL_READ["postgresql"][trait.type].format(t="traits").replace("%s", f"'{key}'")
    # Text rules fold case unless "match case" is ticked, the default being the common case.
    expression = f"callout_fold({read})" if trait.type == STRING else read
    name = f"{PREFIX}{trait.application_id}_{trait.pk}_{trait.type[0]}"
    return TraitIndex(name, f"({expression})", trait.application_id)


def wanted(application: Application) -> dict[str, TraitIndex]:
    traits = TraitDefinition.objects.filter(
        pk__in=Rule.objects.filter(segment__application=application).values("trait_id")
    )
    indexes = (trait_index(trait) for trait in traits)
    return {index.name: index for index in indexes if index is not None}


def _pattern(application_id: int | None) -> str:
    return PREFIX.replace("_", r"\_") + ("%" if application_id is None else f"{application_id}\\_%")


def existing(application_id: int | None = None) -> dict[str, bool]:
    """Index name -> valid (a failed concurrent build leaves an invalid one behind)."""
    pattern = _pattern(application_id)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.indisvalid FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass AND c.relname LIKE %s
            """,
            [TABLE, pattern],
        )
        return dict(cursor.fetchall())


def existing_statistics(application_id: int | None = None) -> set[str]:
    """The names of the indexes' statistics objects."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxrelid = %s::regclass "
            "AND stxname LIKE %s",
            [TABLE, _pattern(application_id)],
        )
        return {name for (name,) in cursor.fetchall()}


def sync(application: Application) -> tuple[list[str], list[str]]:
    """Create the indexes the application's rules need and drop the rest; PostgreSQL only.

    Returns (created, dropped) index names. Outside a transaction the DDL runs CONCURRENTLY
    (writes go on meanwhile); inside one (tests) it runs plainly. The statistics objects
    follow the indexes (those missing are created too, as after an upgrade), and the table
    is analysed (application_id and traits) when one was created: about a second over a
    million users, a fraction of building the index.
    """
    if connection.vendor != "postgresql":
        return [], []
    want = wanted(application)
    have = existing(application.pk)
    have_statistics = existing_statistics(application.pk)
    drop = [name for name, valid in have.items() if name not in want or not valid]
    create = [index for name, index in want.items() if not have.get(name)]
    concurrently = not connection.in_atomic_block
    how = "CONCURRENTLY " if concurrently else ""
    with connection.cursor() as cursor, without_statement_timeout(cursor):
        for name in drop:
            cursor.execute(f'DROP INDEX {how}IF EXISTS "{name}"')
        for index in create:
            cursor.execute(index.create_sql(concurrently))
        for name in have_statistics - set(want):
            cursor.execute(f'DROP STATISTICS IF EXISTS "{name}"')
        missing = [index for name, index in want.items() if name not in have_statistics]
        for index in missing:
            cursor.execute(index.statistics_sql())
        if missing:
            cursor.execute(f"ANALYZE {TABLE} (application_id, traits)")
    return [index.name for index in create], drop


def drop_orphans() -> list[str]:
    """Drop the indexes of applications that no longer exist."""
    if connection.vendor != "postgresql":
        return []
    alive = set(Application.objects.values_list("pk", flat=True))

    def orphaned(names: Iterable[str]) -> list[str]:
        return [n for n in names if int(n.removeprefix(PREFIX).split("_")[0]) not in alive]

    orphans = orphaned(existing())
    how = "" if connection.in_atomic_block else "CONCURRENTLY "
    with connection.cursor() as cursor:
        for name in orphans:
            cursor.execute(f'DROP INDEX {how}IF EXISTS "{name}"')
        for name in orphaned(existing_statistics()):
            cursor.execute(f'DROP STATISTICS IF EXISTS "{name}"')
    return orphans
