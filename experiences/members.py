"""What ``company_users`` nodes read on a serve: how many users of the user's company are in
each counted segment, exact at the moment of the serve.

The count is made only when a generated function first asks for it (a serve whose URL lets no
experience with such a node through, or whose user fails an earlier rule of the group, costs
nothing), in one query over the company's users (the ``company_id`` index), with the same SQL
compiler that counts segments (``segments.sql``) on the targeting's own trees. Its cost grows
with the size of the company, not of the application: docs/scale.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from django.db.models import Count

from segments import tree
from segments.models import EndUser
from segments.selectors import group_q


def counted_segments(trees: Mapping[int, Any]) -> frozenset[int]:
    """The segments that some ``company_users`` node of these trees counts."""
    return frozenset(
        node.segment
        for definition in trees.values()
        for node in tree.walk(definition)
        if isinstance(node, tree.CompanyUsersCondition) and node.segment in trees
    )


def count_company_members(
    *,
    application_id: int,
    company_id: int,
    trees: Mapping[int, Any],
    segment_ids: frozenset[int] | set[int],
    now: Any = None,
) -> dict[int, int]:
    """{segment id: users of the company in it} for ``segment_ids`` (each a tree of
    ``trees``, which references and counts resolve in): one aggregate query."""
    wanted = sorted(sid for sid in segment_ids if sid in trees)
    if not wanted:
        return {}
    aggregates = {
        f"n{sid}": Count("pk", filter=group_q(trees[sid], now, trees.get, application_id))
        for sid in wanted
    }
    row = EndUser.objects.filter(application_id=application_id, company_id=company_id).aggregate(
        **aggregates
    )
    return {sid: row[f"n{sid}"] for sid in wanted}


class CompanyCounts(Mapping[int, int]):
    """``count_company_members`` of one user's company, made on first read; empty without a
    company (every count 0)."""

    def __init__(
        self,
        *,
        application_id: int,
        company_id: int | None,
        trees: Mapping[int, Any],
        segment_ids: frozenset[int],
        now: Any = None,
    ):
        self.application_id, self.company_id = application_id, company_id
        self.trees, self.segment_ids, self.now = trees, segment_ids, now

    @cached_property
    def _data(self) -> dict[int, int]:
        if self.company_id is None or not self.segment_ids:
            return {}
        return count_company_members(
            application_id=self.application_id,
            company_id=self.company_id,
            trees=self.trees,
            segment_ids=self.segment_ids,
            now=self.now,
        )

    def __getitem__(self, key: int) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
