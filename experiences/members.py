"""What ``company_users`` nodes read on a serve: how many users of the user's company are in
each counted segment, exact at the moment of the serve.

The count is made only when a generated function first asks for it (a serve whose URL lets no
experience with such a node through, or whose user fails an earlier rule of the group, costs
nothing), in one query over the company's users (the ``company_id`` index), with the same SQL
compiler that counts segments (``segments.sql``) on the targeting's own trees
(``segments.selectors.company_members``). Its cost grows
with the size of the company, not of the application: docs/scale.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from segments.selectors import company_members


class CompanyCounts(Mapping[int, int]):
    """``segments.selectors.company_members`` of one user's company, made on first read;
    empty without a company (every count 0)."""

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
        return company_members(
            self.application_id, self.company_id, self.segment_ids, self.now, trees=self.trees
        )

    def __getitem__(self, key: int) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
