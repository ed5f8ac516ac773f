"""What ``company_users`` nodes read on a serve: how many users of the user's company are in
each counted segment, exact at the moment of the serve.

The count is made only when a generated function first asks for it (a serve whose URL lets no
experience with such a node through, or whose user fails an earlier rule of the group, costs
nothing), in one query over the company's users (the ``company_id`` index), with the same SQL
compiler that counts segments (``segments.selectors.company_members_query``) on the
targeting's own trees. Its cost grows with the size of the company, not of the application:
docs/scale.md.

The query is compiled once per targeting when its SQL does not depend on the time (no date or
event rule in the counted segments), and run as a prepared statement: building it through the
ORM and planning it cost about ten times its run.

Why not in the serve's one query (a lateral join on the user's company)? Measured in process on
``benchmarks/serve.py``'s data (100,000 users in 5,000 companies, 5 of 100 segments counting):
serves with company rules ran at 0.83x the speed of the same serves without them, against
0.89x counting here only when a rule reads the count. Counting a company's users costs the
database more than the round trip it would save, so it is made only when needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from callout.db import fetchone_prepared
from segments.selectors import MembersQuery, company_members_query

# A day and a second: two compilations this far apart in time give different parameters
# whenever any parameter depends on the time (every bound of a day window moves by a day).
_APART = 86_401.0


class CountQuery:
    """The targeting's count query: ``at(now)``, compiled once when it does not depend on the
    time, else for each serve that counts."""

    def __init__(self, *, application_id: int, trees: Mapping[int, Any], segment_ids: frozenset):
        self.application_id, self.trees, self.segment_ids = application_id, trees, segment_ids
        self._timeless: tuple[MembersQuery | None] | None = None
        self._checked = False

    def _compile(self, now: float) -> MembersQuery | None:
        return company_members_query(self.application_id, self.segment_ids, now, trees=self.trees)

    def at(self, now: float) -> MembersQuery | None:
        if self._timeless is not None:
            return self._timeless[0]
        query = self._compile(now)
        if not self._checked:
            self._checked = True
            if self._compile(now + _APART) == query:
                self._timeless = (query,)
        return query


class CompanyCounts(Mapping[int, int]):
    """The counts of one user's company, made on first read."""

    def __init__(self, *, company_id: int, query: CountQuery, now: float):
        self.company_id, self.query, self.now = company_id, query, now

    @cached_property
    def _data(self) -> dict[int, int]:
        query = self.query.at(self.now)
        if query is None:
            return {}
        return query.read(fetchone_prepared(query.sql, query.for_company(self.company_id)))

    def __getitem__(self, key: int) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
