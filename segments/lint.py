"""Warnings about a segment's definition, shown while editing and returned by the API; they
never block a save. Each is (path in the definition, message for a product manager):

- a group that can never match: two rules on one trait that contradict each other in an
  ``all`` group (``plan equals "free"`` and ``plan equals "pro"``; ``teamSize > 50`` and
  ``teamSize < 10``; day windows that do not overlap); an ``any`` group whose every node never
  matches;
- a node that is always true in its group (``is set`` beside another rule on the same trait
  in an ``all`` group: the other rule already needs a value);
- a trait no user has; a referenced segment that has no members (``empty``);
- a node repeated in one group;
- an event rule that is always true (``at least 0 times``); an event rule on a name the
  application has never tracked nor defined (a typo, or tracking not wired yet), saying whether
  that leaves the rule true for everyone or for nobody; event rules on one event that
  contradict each other in an ``all`` group (``at least 5 times`` and ``at most 2 times``;
  ``for the first time within the last 7 days`` and ``for the first time more than 30 days
  ago``; any time rule beside ``exactly 0 times``);
- company trait rules as trait rules, on the company's traits (kept apart from the user's:
  ``plan`` may be both): contradictions, ``is set`` made redundant, a company trait no
  company has;
- a company count that is always true (``at least 0 users``); one on a segment that has no
  members today (every company counts 0 in it); company counts on one segment that
  contradict each other in an ``all`` group (``at least 5`` and ``at most 2``);
- a company rule that a user without a company passes (``at most 2 users``, ``plan is not
  "pro"``: such a user counts 0 and has no company trait), said with how many users have no
  company today, when some have none.

The contradiction check reads each rule as the set of values it admits (an interval of
numbers, or a finite set of texts) and intersects them per trait: exact for equals / in /
ranges, and silent (no warning) for anything it cannot read that way. An event rule is read the
same way, per event: a count rule as an interval of counts (per window), a first / last time
rule as an interval of instants; a rule that needs the event at least once (``at least N``
in a window, a first / last time) also bounds the event's count ever from below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .accounts import CompanyTraitCondition, CompanyUsersCondition
from .behaviour import COUNT_EVER, COUNT_WINDOW, EventCondition
from .coerce import NUMBER, STRING
from .evaluator import Condition, compile_condition
from .tree import ALL, ANY, Group, Leaf, Node, Ref


@dataclass(frozen=True)
class Warning_:
    path: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class _Span:
    """The numbers (or instants) a rule admits: low..high, each end open or closed."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def meet(self, other: _Span) -> _Span:
        low, low_open = max((self.low, self.low_open), (other.low, other.low_open))
        high, high_open = min((self.high, not self.high_open), (other.high, not other.high_open))
        return _Span(low, high, low_open, not high_open)

    @property
    def empty(self) -> bool:
        if self.low > self.high:
            return True
        return self.low == self.high and (self.low_open or self.high_open)


def _span(c: Condition, now: float) -> _Span | None:
    """The interval of a positive numeric or date rule (None: not an interval rule)."""
    if not c.valid or c.op is None or c.op.negates:
        return None
    name, o = c.operator, None
    if c.type == NUMBER or name in ("before", "after", "between") or c.op.clock:
        bounds = c.bounds(now)
        o = bounds.get("o")
        if name in ("equals",) and c.type == NUMBER:
            return _Span(o, o)
        if name == "greater_than" or name == "after":
            return _Span(low=o, low_open=True)
        if name == "greater_than_or_equal":
            return _Span(low=o)
        if name == "less_than" or name == "before":
            return _Span(high=o, high_open=True)
        if name == "less_than_or_equal":
            return _Span(high=o)
        if name == "between":
            return _Span(bounds["lo"], bounds["hi"])
        if name in ("within_last_days", "within_next_days"):
            return _Span(bounds["lo"], bounds["hi"], high_open=True)
        if name == "more_than_days_ago":
            return _Span(high=bounds["hi"], high_open=True)
    return None


def _texts(c: Condition) -> frozenset[Any] | None:
    """The finite set of values an equals / in rule admits (folded when it ignores case)."""
    if not c.valid or c.op is None or c.op.negates:
        return None
    if c.operator == "equals" and c.type == STRING:
        return frozenset([c.operand])
    if c.operator == "in":
        return frozenset(c.operand)
    return None


def _key(node: Node) -> Any:
    if isinstance(node, Condition):
        return ("rule", node.trait, node.type, node.operator, repr(node.value), node.case_sensitive)
    if isinstance(node, Ref):
        return ("segment", node.segment)
    if isinstance(node, Leaf):
        return (node.KEY, repr(sorted(node.as_json().items())))
    return ("group", node.match, tuple(_key(n) for n in node.nodes))


def _event_spans(node: EventCondition, now: float) -> list[tuple[Any, _Span]]:
    """What an event rule admits, as spans keyed by what they bound: the count ever or in its
    window (``("count", event, days)``), the first or last time (``("first", event)``)."""
    op = node.op
    if op is None or not node.valid:
        return []
    if node.reads in (COUNT_EVER, COUNT_WINDOW):
        n = float(node.value)
        span = {"at_least": _Span(low=n), "at_most": _Span(high=n), "exactly": _Span(n, n)}
        out = [(("count", node.event, node.within_days), span[op.name])]
        if node.within_days and op.name != "at_most" and n >= 1:
            out.append((("count", node.event, None), _Span(low=n)))  # the window's are some
        return out
    bounds = node.bounds(now)
    when = "first" if op.name.startswith("first") else "last"
    if op.name.endswith("within_last_days"):
        span = _Span(bounds["lo"], bounds["hi"])
    else:
        span = _Span(high=bounds["lo"], high_open=True)
    # A first or last time needs the event at least once.
    return [((when, node.event), span), (("count", node.event, None), _Span(low=1.0))]


def _always(node: EventCondition) -> bool:
    """Whether an event rule holds for every user, whatever they did (at least 0 times)."""
    return node.valid and node.operator == "at_least" and node.value == 0


def _holds_without_events(node: EventCondition) -> bool:
    """Whether a user who never did the event passes the rule (at most N, exactly 0)."""
    if not node.valid or node.reads not in (COUNT_EVER, COUNT_WINDOW):
        return False
    return node.operator == "at_most" or node.value == 0


def _members_span(node: CompanyUsersCondition) -> list[tuple[Any, _Span]]:
    """What a company count admits, keyed by the segment it counts."""
    if not node.valid:
        return []
    n = float(node.value)
    span = {"at_least": _Span(low=n), "at_most": _Span(high=n), "exactly": _Span(n, n)}
    return [(("members", node.segment), span[node.operator])]


def _holds_without_company(node: Node, now: float) -> bool:
    """Whether a user without a company passes a company rule: no company trait is set, and
    every count is 0."""
    if isinstance(node, CompanyUsersCondition):
        return node.zero_matches
    if isinstance(node, CompanyTraitCondition):
        return node.valid and compile_condition(node.condition)({}, now)
    return False


def _never(group: Group, now: float) -> bool:
    """Whether an ``all`` group's rules contradict each other on some trait (a company
    trait's kept apart from the user's), event or company count."""
    spans: dict[Any, _Span] = {}
    texts: dict[Any, frozenset[Any]] = {}
    for node in group.nodes:
        if isinstance(node, EventCondition | CompanyUsersCondition):
            found = (
                _event_spans(node, now) if isinstance(node, EventCondition) else _members_span(node)
            )
            for key, span in found:
                spans[key] = spans.get(key, _Span()).meet(span)
                if spans[key].empty:
                    return True
            continue
        scope = "user"
        if isinstance(node, CompanyTraitCondition):
            node, scope = node.condition, "company"
        if not isinstance(node, Condition):
            continue
        span = _span(node, now)
        if span is not None:
            key = (scope, node.trait)
            spans[key] = spans.get(key, _Span()).meet(span)
            if spans[key].empty:
                return True
        values = _texts(node)
        if values is not None:
            key = (scope, node.trait, node.folds)
            texts[key] = texts[key] & values if key in texts else values
            if not texts[key]:
                return True
    return False


def _redundant_is_set(node: Condition, siblings: Iterable[Condition]) -> bool:
    """``is set`` beside another positive rule on the same trait: that rule needs a value."""
    return node.operator == "is_set" and any(
        o is not node and o.trait == node.trait and o.op is not None and not o.op.negates
        for o in siblings
    )


def lint(
    tree: Group,
    *,
    now: float,
    traits_in_use: Callable[[Iterable[str]], set[str]] = lambda keys: set(keys),
    segment_empty: Callable[[int], bool] = lambda segment: False,
    events_known: Callable[[Iterable[str]], set[str]] = lambda names: set(names),
    company_traits_in_use: Callable[[Iterable[str]], set[str]] = lambda keys: set(keys),
    users_without_company: Callable[[], int] = lambda: 0,
    path: str = "definition",
) -> list[Warning_]:
    """The warnings of a tree; ``traits_in_use(keys)`` answers which of the keys some user
    has, ``segment_empty(id)`` whether a segment has no members, ``events_known(names)`` which
    of the event names the application has tracked or defined, ``company_traits_in_use(keys)``
    which of the company trait keys some user's company has, ``users_without_company()`` how
    many users have no company (all may query; the last is asked only when a company rule
    passes without a company)."""
    warnings: list[Warning_] = []
    keys = {c.trait for c in _conditions(tree)}
    used = traits_in_use(sorted(keys)) if keys else set()
    names = {e.event for e in _events(tree)}
    known = events_known(sorted(names)) if names else set()
    company_keys = {c.condition.trait for c in _company_rules(tree)}
    company_used = company_traits_in_use(sorted(company_keys)) if company_keys else set()
    without: list[int] = []  # users_without_company(), once asked

    def companyless() -> int:
        if not without:
            without.append(users_without_company())
        return without[0]

    def without_company_warning(node: Node, here: str, what: str) -> None:
        if _holds_without_company(node, now) and companyless():
            n = companyless()
            users = "1 user has" if n == 1 else f"{n:,} users have"
            warnings.append(
                Warning_(
                    here,
                    f"Users without a company {what}, so they pass this rule ({users} no "
                    "company today).",
                )
            )

    def company_trait_warnings(node: CompanyTraitCondition, here: str, group: Group) -> None:
        key = node.condition.trait
        if key not in company_used:
            warnings.append(Warning_(here, f"No company has the trait {key} yet."))
        others = [n.condition for n in group.nodes if isinstance(n, CompanyTraitCondition)]
        if group.match == ALL and _redundant_is_set(node.condition, others):
            warnings.append(
                Warning_(
                    here,
                    f"Always true here: the other rules on company {key} need a value already.",
                )
            )
        without_company_warning(node, here, "have no company traits")

    def company_users_warnings(node: CompanyUsersCondition, here: str) -> None:
        if not node.valid:
            return
        if node.operator == "at_least" and node.value == 0:
            warnings.append(
                Warning_(
                    here,
                    "Always true: every company has at least 0 users in the segment (a user "
                    "without a company counts 0), so this rule lets everyone through. Did "
                    "you mean at least 1?",
                )
            )
            return
        if segment_empty(node.segment):
            outcome = "every user passes this rule" if node.zero_matches else "nobody passes it"
            warnings.append(
                Warning_(
                    here,
                    "The segment it counts has no members today: every company counts 0 "
                    f"users in it, so {outcome} for now.",
                )
            )
            return
        without_company_warning(node, here, "count 0")

    def event_warnings(node: EventCondition, here: str) -> None:
        if _always(node):
            warnings.append(
                Warning_(
                    here,
                    f"Always true: every user has done {node.event} at least 0 times, so this "
                    "rule lets everyone through. Did you mean at least 1 time?",
                )
            )
        if node.event not in known:
            outcome = (
                "every user passes this rule"
                if _holds_without_events(node)
                else "nobody passes this rule"
            )
            warnings.append(
                Warning_(
                    here,
                    f"No event named {node.event} has been tracked or defined in this "
                    f"application: check its spelling. Until it is tracked, {outcome}.",
                )
            )

    def visit(group: Group, where: str) -> bool:
        """Lints ``group``; answers whether it can never match."""
        never = False
        if group.match == ALL and _never(group, now):
            warnings.append(
                Warning_(where, "This group can never match: its rules contradict each other.")
            )
            never = True
        seen: dict[Any, int] = {}
        children_never = []
        for i, node in enumerate(group.nodes):
            here = f"{where}.rules[{i}]"
            key = _key(node)
            if key in seen:
                warnings.append(Warning_(here, f"Repeats rule {seen[key] + 1} of this group."))
            seen.setdefault(key, i)
            if isinstance(node, Group):
                children_never.append(visit(node, here))
            elif isinstance(node, Ref):
                empty = segment_empty(node.segment)
                if empty:
                    warnings.append(Warning_(here, "This segment has no members today."))
                children_never.append(False)
            elif isinstance(node, EventCondition):
                children_never.append(not node.valid)
                event_warnings(node, here)
            elif isinstance(node, CompanyTraitCondition):
                children_never.append(not node.valid)
                company_trait_warnings(node, here, group)
            elif isinstance(node, CompanyUsersCondition):
                children_never.append(not node.valid)
                company_users_warnings(node, here)
            elif isinstance(node, Leaf):
                children_never.append(not node.valid)
            else:
                children_never.append(not node.valid)
                if node.trait not in used:
                    warnings.append(Warning_(here, f"No user has the trait {node.trait} yet."))
                others = [o for o in group.nodes if isinstance(o, Condition)]
                if group.match == ALL and _redundant_is_set(node, others):
                    warnings.append(
                        Warning_(
                            here,
                            f"Always true here: the other rules on {node.trait} need a value "
                            "already.",
                        )
                    )
        if group.match == ANY and group.nodes and all(children_never):
            warnings.append(Warning_(where, "This group can never match: none of its rules can."))
            never = True
        return never

    visit(tree, path)
    return warnings


def _conditions(node: Node) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Group):
        return [c for n in node.nodes for c in _conditions(n)]
    return []


def _company_rules(node: Node) -> list[CompanyTraitCondition]:
    if isinstance(node, CompanyTraitCondition):
        return [node]
    if isinstance(node, Group):
        return [c for n in node.nodes for c in _company_rules(n)]
    return []


def _events(node: Node) -> list[EventCondition]:
    if isinstance(node, EventCondition):
        return [node]
    if isinstance(node, Group):
        return [e for n in node.nodes for e in _events(n)]
    return []


def lint_segment_tree(application: Any, tree: Group, now: float | None = None) -> list[Warning_]:
    """``lint`` against the application's users (see ``lint_segment_trees``)."""
    return lint_segment_trees(application, {0: tree}, now)[0]


def lint_segment_trees(
    application: Any, trees: Mapping[int, Group], now: float | None = None
) -> dict[int, list[Warning_]]:
    """``lint`` of many trees against the application's users, in a number of queries that
    does not grow with theirs: which of all their traits (user and company) someone has
    (one); when any of them has an event rule, which of their event names the application
    knows (one); when any of them references or counts a segment, every segment's member
    count (``trees_of``, and one count); and, when a company rule passes without a company,
    how many users have none (one)."""
    from .coerce import now_seconds
    from .models import EventDefinition, trees_of
    from .selectors import count_users

    when = now_seconds(now)
    keys = sorted({c.trait for tree in trees.values() for c in _conditions(tree)})
    company_keys = sorted(
        {c.condition.trait for tree in trees.values() for c in _company_rules(tree)}
    )
    has: dict[Any, Any] = {key: [Condition(key, STRING, "is_set")] for key in keys}
    for key in company_keys:
        has[("company", key)] = Group(
            ALL, (CompanyTraitCondition(Condition(key, STRING, "is_set")),)
        )
    counted = count_users(application, has, when) if has else {}
    used = {key for key in keys if counted[key]}
    company_used = {key for key in company_keys if counted[("company", key)]}
    names = sorted({e.event for tree in trees.values() for e in _events(tree)})
    known = set(
        EventDefinition.objects.filter(application=application, name__in=names).values_list(
            "name", flat=True
        )
        if names
        else ()
    )
    empties: dict[int, bool] = {}

    def segment_empty(segment_id: int) -> bool:
        if not empties:
            every = trees_of(application.pk)
            counts = count_users(application, every, when)
            empties.update({sid: count == 0 for sid, count in counts.items()})
        return empties.get(segment_id, False)

    without: list[int] = []

    def users_without_company() -> int:
        if not without:
            without.append(application.end_users.filter(company__isnull=True).count())
        return without[0]

    return {
        key: lint(
            tree,
            now=when,
            traits_in_use=lambda wanted: used & set(wanted),
            segment_empty=segment_empty,
            events_known=lambda wanted: known & set(wanted),
            company_traits_in_use=lambda wanted: company_used & set(wanted),
            users_without_company=users_without_company,
        )
        for key, tree in trees.items()
    }
