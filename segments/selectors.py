"""Reads for the Engage screens: member counts, the live preview, the traits' statistics and
the per-user explanations. No writes here (those go through ``actions.py``).

Every count of users goes through ``count_users``: one query, however many groups are counted,
so a list of 50 segments or a funnel of 10 rules costs one scan of the users table. When
``segments/counting.py`` (a count with a statement timeout) lands, it replaces that function's
body and nothing else.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from callout.db import fetchone_prepared

from . import coerce, explaining, tree
from .accounts import CompanyTraitCondition, CompanyUsersCondition
from .behaviour import EventCondition, ExperienceCondition
from .codegen import compile_segments
from .coerce import now_seconds
from .counting import DeadlineExceeded, MemberCount, count_members, deadline
from .evaluator import Condition
from .models import (
    Application,
    Company,
    EndUser,
    ExperienceRule,
    Rule,
    Segment,
    TraitDefinition,
    tree_prefetches,
    trees_of,
)
from .operators import case_applies
from .sql import MATCH_NONE, TraitFits, conditions_q, tree_q

SAMPLE_USERS = 10
# The live preview never keeps the form waiting longer than about this (segments/counting.py).
PREVIEW_TIMEOUT_MS = 800


# --- Counting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnyOf:
    """A group of users in any of several segments (trees, or conditions AND'd): an
    experience's audience, its segments OR'd. None of no group (an audience without a segment
    is nobody)."""

    groups: tuple[tree.Group | tuple[Condition, ...], ...]

    @classmethod
    def segments(cls, segments: Iterable[Segment]) -> AnyOf:
        return cls(tuple(segment.tree for segment in segments))


Group = Sequence[Condition] | tree.Group | AnyOf


def group_q(
    group: Group,
    now: Any = None,
    resolve: tree.Resolve | None = None,
    application_id: int | None = None,
) -> Q:
    """The filter of one group: its conditions AND'd, a tree (references read through
    ``resolve``; ``application_id``: the users' application, for company counts), or for
    ``AnyOf`` each OR'd."""
    when = now_seconds(now)
    if isinstance(group, AnyOf):
        q = MATCH_NONE
        for one in group.groups:
            q |= group_q(one, when, resolve, application_id)
        return q
    if isinstance(group, tree.Group):
        return tree_q(
            _hashable_tree(group), when, lambda sid: _resolved(resolve, sid), application_id
        )
    return conditions_q([_hashable(c) for c in group], when)


def _resolved(resolve: tree.Resolve | None, segment_id: int) -> tree.Group | None:
    found = resolve(segment_id) if resolve is not None else None
    return _hashable_tree(found) if found is not None else None


def _hashable_tree(node: Any) -> Any:
    if isinstance(node, Condition):
        return _hashable(node)
    if isinstance(node, CompanyTraitCondition):
        return CompanyTraitCondition(_hashable(node.condition))
    if isinstance(node, tree.Group):
        return tree.Group(node.match, tuple(_hashable_tree(n) for n in node.nodes))
    return node


def _references(group: Any) -> bool:
    if isinstance(group, AnyOf):
        return any(_references(g) for g in group.groups)
    return isinstance(group, tree.Group) and bool(tree.references_of(group))


def count_users(
    application: Application | int,
    groups: Mapping[Hashable, Group],
    now: Any = None,
) -> dict[Hashable, int]:
    """How many of the application's users are in each group (conditions AND'd, or ``AnyOf``
    several such): one query."""
    if not groups:
        return {}
    when = now_seconds(now)
    keys = list(groups)
    application_id = application if isinstance(application, int) else application.pk
    # References read the other segments' current trees (4 queries), only when there are any.
    trees = trees_of(application_id) if any(_references(g) for g in groups.values()) else {}
    aggregates = {
        f"n{i}": Count("pk", filter=group_q(groups[key], when, trees.get, application_id))
        for i, key in enumerate(keys)
    }
    row = EndUser.objects.filter(application=application).aggregate(**aggregates)
    return {key: row[f"n{i}"] for i, key in enumerate(keys)}


def segment_members(segment: Segment, now: Any = None) -> QuerySet[EndUser]:
    """The segment's users as ``count_users`` counts them: the same filter, so that an
    export and the segment's count agree."""
    application_id = segment.application_id
    group = segment.tree
    trees = trees_of(application_id) if _references(group) else {}
    q = group_q(group, now_seconds(now), trees.get, application_id)
    return EndUser.objects.filter(application_id=application_id).filter(q)


def _hashable(condition: Condition) -> Condition:
    """Aggregates hash their expressions: a list value (``in``) becomes a tuple, which both
    engines read the same way."""
    if isinstance(condition.value, list):
        return replace(condition, value=tuple(condition.value))
    return condition


def with_user_counts(companies: QuerySet[Company]) -> QuerySet[Company]:
    """Companies annotated with ``user_count``: a correlated subquery, so a page of 25
    companies counts the users of those 25 only, in the page's query."""
    users = (
        EndUser.objects.filter(company=OuterRef("pk"))
        .order_by()
        .values("company")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return companies.annotate(user_count=Coalesce(Subquery(users), 0))


def segments_with_rules(application: Application) -> QuerySet[Segment]:
    """Segments with their rules and traits loaded in one extra query, and how many experiences
    use each (an annotation, not a query per row)."""
    return (
        Segment.objects.filter(application=application)
        .prefetch_related(*tree_prefetches())
        .annotate(experience_count=Count("experiences", distinct=True))
        .order_by("-is_builtin", "name", "pk")  # Everyone first (GROUP BY drops Meta.ordering)
    )


def broken_segment_ids(segments: Iterable[Segment]) -> set[int]:
    """The segments whose rules cannot be compiled (the serve treats them as matching nobody,
    ``experiences.targeting``): compiled here as the serve compiles them, without a query."""
    definitions = {segment.pk: segment.tree for segment in segments}
    try:
        compile_segments(definitions)
        return set()
    except Exception:
        pass
    broken = set()
    for sid in definitions:
        try:
            compile_segments(definitions, [sid])
        except Exception:
            broken.add(sid)
    return broken


def attach_member_counts(
    application: Application, segments: Iterable[Segment], now: Any = None
) -> None:
    """Sets ``member_count`` on each segment, all counted in one query."""
    segments = list(segments)
    counts = count_users(application, {s.pk: s.tree for s in segments}, now)
    for segment in segments:
        segment.member_count = counts[segment.pk]


# --- The live preview --------------------------------------------------------------------


@dataclass
class FunnelStep:
    number: int  # the rule's position in the form, from 1
    description: str
    count: int


@dataclass
class Impact:
    before: int
    enter: int
    leave: int


@dataclass
class Preview:
    total: int | None
    matched: int | None
    samples: list[EndUser]
    funnel: list[FunnelStep]
    impact: Impact | None = None
    # Set when counting every step would have kept the form waiting: then only the bounded
    # total and match are known ("more than 10,000", "counting…"), no funnel nor impact.
    bounded: tuple[MemberCount, MemberCount] | None = None
    # A tree (``tree_preview``): by definition path, how many users a node lets through
    # within its group (its group's first nodes up to it), and each group's own total.
    through: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def matched_label(self) -> str:
        return f"{self.matched:,}" if self.bounded is None else _number(self.bounded[1])

    @property
    def total_label(self) -> str:
        return f"{self.total:,}" if self.bounded is None else _number(self.bounded[0])


def _number(count: MemberCount) -> str:
    return count.label.removesuffix(" users").removesuffix(" user")


def segment_preview(
    application: Application,
    conditions: Sequence[tuple[int, Condition]],
    *,
    segment: Segment | None = None,
    now: Any = None,
) -> Preview:
    """Counts for the rules being edited: total, the funnel (after rule 1, rules 1-2, ...),
    and when editing a saved segment who would enter and leave it. ``conditions`` pairs each
    valid rule with its position in the form. Two queries: the counts, and the samples."""
    when = now_seconds(now)
    only = [condition for _, condition in conditions]
    groups: dict[Hashable, Group] = {"total": []}
    for i in range(len(only)):
        groups[("after", i)] = only[: i + 1]
    if segment is not None:
        groups["before"] = segment.tree
        groups["both"] = tree.Group(tree.ALL, (segment.tree, *only))
    users = EndUser.objects.filter(application=application)
    try:
        with deadline(users.db, PREVIEW_TIMEOUT_MS):
            counts = count_users(application, groups, when)
    except DeadlineExceeded:
        total = count_members(users, timeout_ms=PREVIEW_TIMEOUT_MS // 2)
        matched = count_members(
            users.filter(conditions_q(only, when)), timeout_ms=PREVIEW_TIMEOUT_MS // 2
        )
        return Preview(total.count, matched.count, [], [], bounded=(total, matched))
    funnel = [
        FunnelStep(number, condition.describe(), counts[("after", i)])
        for i, (number, condition) in enumerate(conditions)
    ]
    matched = funnel[-1].count if funnel else counts["total"]
    try:
        with deadline(users.db, PREVIEW_TIMEOUT_MS):
            samples = list(
                users.filter(conditions_q(only, when)).order_by("external_id")[:SAMPLE_USERS]
            )
    except DeadlineExceeded:  # rare matches among many users: no samples rather than a wait
        samples = []
    impact = None
    if segment is not None:
        before, both = counts["before"], counts["both"]
        impact = Impact(before=before, enter=matched - both, leave=before - both)
    return Preview(counts["total"], matched, samples, funnel, impact)


def _group_paths(group: tree.Group, path: str = "definition") -> Iterable[tuple[str, tree.Group]]:
    yield path, group
    for i, child in enumerate(group.nodes):
        if isinstance(child, tree.Group):
            yield from _group_paths(child, f"{path}.rules[{i}]")


def tree_preview(
    application: Application,
    definition: tree.Group,
    *,
    segment: Segment | None = None,
    now: Any = None,
) -> Preview:
    """The live preview of a tree, node by node: for each node, the users its group's nodes up
    to it let through (an ``all`` group narrows, an ``any`` widens, a ``none`` excludes), each
    group's total, and the impact on a saved segment. One count query (under the preview's
    deadline, as ``segment_preview``) and one for the samples."""
    when = now_seconds(now)
    groups: dict[Hashable, Group] = {"total": tree.EVERYONE, "matched": definition}
    for path, group in _group_paths(definition):
        groups[("total", path)] = group
        for k in range(len(group.nodes)):
            groups[("through", f"{path}.rules[{k}]")] = tree.Group(
                group.match, group.nodes[: k + 1]
            )
    if segment is not None:
        groups["before"] = segment.tree
        groups["both"] = tree.Group(tree.ALL, (segment.tree, definition))
    users = EndUser.objects.filter(application=application)
    try:
        with deadline(users.db, PREVIEW_TIMEOUT_MS):
            counts = count_users(application, groups, when)
    except DeadlineExceeded:
        trees = trees_of(application.pk) if tree.references_of(definition) else {}
        total = count_members(users, timeout_ms=PREVIEW_TIMEOUT_MS // 2)
        matched = count_members(
            users.filter(group_q(definition, when, trees.get, application.pk)),
            timeout_ms=PREVIEW_TIMEOUT_MS // 2,
        )
        return Preview(total.count, matched.count, [], [], bounded=(total, matched))
    matched = counts["matched"]
    trees = trees_of(application.pk) if tree.references_of(definition) else {}
    try:
        with deadline(users.db, PREVIEW_TIMEOUT_MS):
            samples = list(
                users.filter(group_q(definition, when, trees.get, application.pk)).order_by(
                    "external_id"
                )[:SAMPLE_USERS]
            )
    except DeadlineExceeded:
        samples = []
    impact = None
    if segment is not None:
        before, both = counts["before"], counts["both"]
        impact = Impact(before=before, enter=matched - both, leave=before - both)
    through = {
        key[1]: n for key, n in counts.items() if isinstance(key, tuple) and key[0] == "through"
    }
    totals = {
        key[1]: n for key, n in counts.items() if isinstance(key, tuple) and key[0] == "total"
    }
    return Preview(counts["total"], matched, samples, [], impact, through=through, totals=totals)


def segment_dependents(segment: Segment) -> tuple[list[Segment], list[Any]]:
    """Every segment an edit of ``segment`` changes through references (those that use it,
    and those that use them...), and the published experiences targeting one of them (those
    targeting ``segment`` itself the preview lists already)."""
    from experiences.models import Experience

    trees = trees_of(segment.application_id)
    users: dict[int, set[int]] = {}
    for sid, group in trees.items():
        for ref in tree.references_of(group):
            users.setdefault(ref, set()).add(sid)
    found: set[int] = set()
    stack = [segment.pk]
    while stack:
        for sid in users.get(stack.pop(), ()):
            if sid not in found and sid != segment.pk:
                found.add(sid)
                stack.append(sid)
    segments = list(Segment.objects.filter(pk__in=found).order_by("name"))
    experiences = list(
        Experience.objects.filter(segments__in=found, status=Experience.Status.PUBLISHED)
        .distinct()
        .order_by("name")
    )
    return segments, experiences


# --- Traits ------------------------------------------------------------------------------


@dataclass
class TraitStats:
    users: int = 0  # who have the trait: users, or companies for a company trait
    misfits: int = 0
    last_seen: datetime | None = None
    samples: list[Any] = field(default_factory=list)


TYPE_NOUN = {
    coerce.STRING: "text",
    coerce.NUMBER: "a number",
    coerce.BOOLEAN: "true or false",
    coerce.DATE: "a date",
}
SAMPLE_VALUES = 3
SAMPLE_SCAN = 200
# Traits per statement: up to three aggregates each, so a statement stays far below
# PostgreSQL's 1,664 target-list entries and SQLite's 2,000 columns however many traits an
# application has (identify discovers them from outside). The Traits page shows 100 a page.
STATS_BATCH = 100


def trait_holders(application: Application | int, scope: str) -> QuerySet[Any]:
    """What a trait of ``scope`` is stored on: the application's users, or its companies.
    Both keep their traits in a ``traits`` column and have a ``last_seen``, so the same
    statistics read either."""
    model = Company if scope == TraitDefinition.Scope.COMPANY else EndUser
    return model.objects.filter(application=application)


def trait_stats(
    application: Application, traits: Sequence[TraitDefinition]
) -> dict[int, TraitStats]:
    """Per trait: users (companies, for a company trait) who have it, those whose value does
    not fit its type, when it was last seen, a few values. One query per ``STATS_BATCH``
    traits of a scope (one for a page of the Traits screen), and one per scope for the
    samples."""
    stats: dict[int, TraitStats] = {}
    for scope in TraitDefinition.Scope.values:
        scoped = [trait for trait in traits if trait.scope == scope]
        if scoped:
            stats |= _scope_stats(trait_holders(application, scope), scoped)
    return stats


def _scope_stats(
    holders: QuerySet[Any], traits: Sequence[TraitDefinition]
) -> dict[int, TraitStats]:
    stats: dict[int, TraitStats] = {}
    for start in range(0, len(traits), STATS_BATCH):
        stats |= _counted(holders, traits[start : start + STATS_BATCH])
    # Sample values from the most recently seen holders: one bounded query.
    by_key = {trait.key: stats[trait.pk] for trait in traits}
    recent = holders.order_by("-last_seen", "-pk")
    for values in recent.values_list("traits", flat=True)[:SAMPLE_SCAN]:
        for key, value in (values or {}).items():
            found = by_key.get(key)
            if (
                found is not None
                and len(found.samples) < SAMPLE_VALUES
                and value not in found.samples
            ):
                found.samples.append(value)
    return stats


def _counted(holders: QuerySet[Any], traits: Sequence[TraitDefinition]) -> dict[int, TraitStats]:
    aggregates: dict[str, Any] = {}
    for i, trait in enumerate(traits):
        present = conditions_q([Condition(trait.key, trait.type, "is_set")])
        aggregates[f"u{i}"] = Count("pk", filter=present)
        aggregates[f"s{i}"] = Max("last_seen", filter=present)
        if trait.type != coerce.STRING:  # every scalar reads as text
            aggregates[f"m{i}"] = Count("pk", filter=present & ~Q(TraitFits(trait.key, trait.type)))
    row = holders.aggregate(**aggregates)
    return {
        trait.pk: TraitStats(
            users=row[f"u{i}"], misfits=row.get(f"m{i}") or 0, last_seen=row[f"s{i}"]
        )
        for i, trait in enumerate(traits)
    }


@dataclass
class TypeChangeEffect:
    segment: Segment
    broken: list[str]  # rules that would match nobody under the new type


def type_change_effects(trait: TraitDefinition, new_type: str) -> list[TypeChangeEffect]:
    """The segments whose rules use ``trait`` and, for each, the rules that stop applying
    (their operator or value does not fit the new type: they would match nobody)."""
    effects: dict[int, TypeChangeEffect] = {}
    rules = (
        Rule.objects.filter(trait=trait)
        .select_related("segment", "trait")
        .order_by("segment__name")
    )
    for rule in rules:
        effect = effects.setdefault(rule.segment_id, TypeChangeEffect(rule.segment, []))
        if not replace(rule.condition, type=new_type).valid:
            effect.broken.append(rule.node.describe())  # "company plan ..." for a company trait
    return list(effects.values())


# --- Why a user is (not) in a segment ----------------------------------------------------


@dataclass
class RuleVerdict:
    number: int | str  # "2.1": the first node of group 2
    passed: bool
    reason: str
    noun: str = "rule"  # or "group", "segment condition", "event condition", ...
    children: list[RuleVerdict] = field(default_factory=list)
    # The condition in words, where the reason alone does not say it ("did project_created at
    # least 3 times"; the reason: "4 times in the last 7 days (last on ...)").
    sentence: str = ""


@dataclass
class SegmentVerdict:
    segment: Segment
    matched: bool
    rules: list[RuleVerdict]


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rule_reason(condition: Condition, traits: Mapping[str, Any], passed: bool) -> str:
    """'plan is "Free", expected equals "free" with match case on'."""
    raw = traits.get(condition.trait)
    actual = "not set" if raw is None else _shown(raw)
    misfit = raw is not None and coerce.COERCE[condition.type](raw) is None
    if misfit:
        actual += f" (not {TYPE_NOUN[condition.type]})"
    plain = Condition(condition.trait, condition.type, condition.operator, condition.value)
    expected = plain.describe().removeprefix(condition.trait + " ")
    if not condition.valid:
        expected += f" (this rule does not fit a {condition.type} trait: it matches nobody)"
    elif case_applies(condition.type, condition.operator):
        expected += " with match case on" if condition.case_sensitive else " ignoring case"
    return f"{condition.trait} is {actual}, expected {expected}"


_MATCH_WORDS = {tree.ALL: "all", tree.ANY: "any", tree.NONE: "none"}


@dataclass(frozen=True)
class _Facts:
    """What one user's explanation reads: their traits and activity, and their company (None:
    no company) with its traits and its counts of users per segment (``company_members``)."""

    traits: Mapping[str, Any]
    activity: Any
    company: explaining.CompanyFacts | None
    now: float


def _node_verdicts(
    group: tree.Verdict, facts: _Facts, names: Mapping[Any, str], prefix: str
) -> list[RuleVerdict]:
    """A group's verdict as its nodes', numbered within it ("2.1"), nested groups with theirs.
    ``names``: segment names by id, experience names by ("experience", id)."""
    out = []
    for i, child in enumerate(group.children, start=1):
        number = f"{prefix}{i}"
        node = child.node
        if isinstance(node, Condition):
            reason = rule_reason(node, facts.traits, child.passed)
            out.append(RuleVerdict(number, child.passed, reason))
        elif isinstance(node, CompanyTraitCondition | CompanyUsersCondition):
            reason = (
                explaining.company_trait_reason(node, facts.company)
                if isinstance(node, CompanyTraitCondition)
                else explaining.company_users_reason(node, facts.company, names)
            )
            sentence = node.describe(names)
            out.append(
                RuleVerdict(number, child.passed, reason, "company condition", sentence=sentence)
            )
        elif isinstance(node, EventCondition):
            reason = explaining.event_reason(node, facts.activity, facts.now)
            out.append(
                RuleVerdict(
                    number, child.passed, reason, "event condition", sentence=node.describe(names)
                )
            )
        elif isinstance(node, ExperienceCondition):
            reason = explaining.experience_reason(node, facts.activity)
            out.append(
                RuleVerdict(
                    number,
                    child.passed,
                    reason,
                    "experience condition",
                    sentence=node.describe(names),
                )
            )
        elif isinstance(node, tree.Ref):
            name = names.get(node.segment)
            where = f'segment "{name}"' if name else "a segment that is gone"
            reason = f"{'in' if child.passed else 'not in'} {where}"
            out.append(RuleVerdict(number, child.passed, reason, "segment condition"))
        else:
            reason = f"{_MATCH_WORDS[node.match]} of its {len(node.nodes)} node(s) must hold"
            nested = _node_verdicts(child, facts, names, number + ".")
            out.append(RuleVerdict(number, child.passed, reason, "group", nested))
    return out


def node_names(application_id: int, trees: Iterable[tree.Node]) -> dict[Any, str]:
    """What ``tree.describe`` names nodes by: the application's segment names by id, and, when
    one of ``trees`` has an experience condition, the names of the experiences its segments'
    conditions name, by ("experience", id)."""
    names: dict[Any, str] = dict(
        Segment.objects.filter(application_id=application_id).values_list("pk", "name")
    )
    if any(isinstance(n, ExperienceCondition) for t in trees for n in tree.walk(t)):
        used = ExperienceRule.objects.filter(segment__application_id=application_id)
        experiences = used.values_list("experience_id", "experience__name").distinct()
        names |= {("experience", pk): name for pk, name in experiences}
    return names


def counted_segments(trees: Iterable[tree.Node]) -> set[int]:
    """The segments whose users ``company_users`` nodes of ``trees`` count."""
    return {n.segment for t in trees for n in tree.walk(t) if isinstance(n, CompanyUsersCondition)}


@dataclass(frozen=True)
class MembersQuery:
    """``company_members`` as SQL for any one company: the company's id is the last parameter
    (``for_company``), so that the serve compiles it once and runs it prepared."""

    segment_ids: tuple[int, ...]
    sql: str
    params: tuple[Any, ...]

    def for_company(self, company_id: int) -> list[Any]:
        return [*self.params, company_id]

    def read(self, row: Sequence[Any] | None) -> dict[int, int]:
        """{segment id: count} from the query's row (none when the company has no users)."""
        counts = row[1:] if row else (0,) * len(self.segment_ids)
        return dict(zip(self.segment_ids, counts, strict=True))


def company_members_query(
    application_id: int,
    segment_ids: Iterable[int],
    now: Any = None,
    *,
    trees: Mapping[int, tree.Group],
) -> MembersQuery | None:
    """The one query of ``company_members`` (None when no segment of ``segment_ids`` is left:
    every count is 0): counted by the SQL compiler that ``count_users`` uses, all segments in
    one aggregate over a company's users (the ``company_id`` index)."""
    when = now_seconds(now)
    counted = tuple(sid for sid in sorted(set(segment_ids)) if sid in trees)
    if not counted:
        return None
    aggregates = {
        f"n{sid}": Count("pk", filter=group_q(trees[sid], when, trees.get, application_id))
        for sid in counted
    }
    placeholder = -1
    users = EndUser.objects.filter(application_id=application_id, company_id=placeholder)
    query = users.order_by().values("company_id").annotate(**aggregates).query
    sql, params = query.sql_with_params()
    # WHERE's parameters follow the select list's, and company_id is WHERE's last.
    if not (params and params[-1] == placeholder and '"company_id" = %s)' in sql):
        raise AssertionError(f"the company's id is not the last parameter of {sql}")
    return MembersQuery(counted, sql, tuple(params[:-1]))


def company_members(
    application_id: int,
    company_id: int | None,
    segment_ids: Iterable[int],
    now: Any = None,
    *,
    trees: Mapping[int, tree.Group] | None = None,
) -> dict[int, int]:
    """How many of the company's users are in each segment: what a ``company_users`` node
    reads (``members`` of ``tree.evaluate``), in one query (``company_members_query``; none
    without a company or a segment). ``trees``: the application's (``trees_of``, read here
    when not given); a segment that is gone counts 0."""
    segment_ids = sorted(set(segment_ids))
    if company_id is None or not segment_ids:
        return dict.fromkeys(segment_ids, 0)
    if trees is None:
        trees = trees_of(application_id)
    query = company_members_query(application_id, segment_ids, now, trees=trees)
    if query is None:
        return dict.fromkeys(segment_ids, 0)
    counts = query.read(fetchone_prepared(query.sql, query.for_company(company_id)))
    return {sid: counts.get(sid, 0) for sid in segment_ids}


def _trees_for(application_id: int, segments: Sequence[Segment]) -> dict[int, tree.Group]:
    """The trees explanations resolve references and counts in: the given segments' own
    (loaded already) when they name no other segment, else the application's."""
    known = {segment.pk: segment.tree for segment in segments}
    named = {sid for t in known.values() for sid in tree.references_of(t)}
    return known if named <= known.keys() else trees_of(application_id)


def explain_user(
    end_user: EndUser,
    segments: Iterable[Segment],
    now: Any = None,
    *,
    members: Mapping[int, int] | None = None,
) -> list[SegmentVerdict]:
    """Every segment with whether the user is in it and, per rule, why it passed or failed
    (an event or experience condition with the user's actual counts and times, from
    ``end_user.activity``; a company condition with their company's trait value or count).
    ``members``: the company's counts when the caller has them ({segment id: n}; else
    counted here). In memory: the segments' rules must be loaded (``segments_with_rules``)."""
    known = None
    if members is not None and end_user.company_id is not None:
        known = {end_user.company_id: members}
    return explain_users([end_user], segments, now, members=known)[0]


def explain_users(
    end_users: Sequence[EndUser],
    segments: Iterable[Segment],
    now: Any = None,
    *,
    members: Mapping[int, Mapping[int, int]] | None = None,
) -> list[list[SegmentVerdict]]:
    """``explain_user`` for each of ``end_users`` (a page of a company's users), in order:
    the trees and names are read once, the counts once per company (unless ``members`` has
    them already: {company id: ``company_members``}). A user's company is read through
    ``end_user.company`` (``select_related`` it, or fetch the users from ``company.users``)."""
    when = now_seconds(now)
    segments = list(segments)
    trees: dict[int, tree.Group] | None = None
    names: dict[Any, str] = {}
    counted: set[int] = set()
    members = dict(members or {})
    out = []
    for end_user in end_users:
        traits = end_user.traits or {}
        activity = end_user.activity or {}
        facts: _Facts | None = None
        verdicts = []
        for segment in segments:
            if segment.is_flat:
                results = segment.compiled.explain(traits, when)
                rules = [
                    RuleVerdict(number, passed, rule_reason(condition, traits, passed))
                    for number, (condition, passed) in enumerate(
                        zip(segment.conditions, results, strict=True), start=1
                    )
                ]
                verdicts.append(SegmentVerdict(segment, all(results), rules))
                continue
            # A tree: node by node, group by group, with whether each held.
            if trees is None:
                trees = _trees_for(segment.application_id, segments)
                names = node_names(segment.application_id, trees.values())
                counted = counted_segments(trees.values())
            if facts is None:
                company = end_user.company if end_user.company_id is not None else None
                if company is not None and company.pk not in members:
                    members[company.pk] = company_members(
                        segment.application_id, company.pk, counted, when, trees=trees
                    )
                facts = _Facts(
                    traits,
                    activity,
                    None
                    if company is None
                    else explaining.CompanyFacts.of(
                        company.external_id, company.traits, members[company.pk]
                    ),
                    when,
                )
            verdict = tree.explain(
                segment.tree,
                traits,
                when,
                trees.get,
                activity=activity,
                company=facts.company.traits if facts.company else None,
                members=facts.company.members if facts.company else None,
            )
            nodes = _node_verdicts(verdict, facts, names, "")
            verdicts.append(SegmentVerdict(segment, verdict.passed, nodes))
        out.append(verdicts)
    return out
