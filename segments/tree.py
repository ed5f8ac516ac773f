"""A segment's definition as a tree: groups of rules, nested groups and references to other
segments. Plain data, no database import; both engines compile it (``codegen``, ``sql``).

The exchange format (the management API, the builder, storage) is JSON::

    definition = {"match": "all" | "any" | "none", "rules": [node, ...]}
    node       = {"trait": KEY, "operator": OP, "value": V, "case_sensitive": false}
               | {"segment": SEGMENT_ID}
               | {"event": NAME, "operator": OP, "value": N, "within_days": D}
               | {"experience": EXPERIENCE_ID, "state": "seen" | "completed" | "dismissed"}
               | {"company_trait": KEY, "operator": OP, "value": V, "case_sensitive": false}
               | {"company_users": {"segment": SEGMENT_ID}, "operator": OP, "value": N}
               | {"match": ..., "rules": [...]}

Event and experience nodes (``segments/behaviour.py``) read what the user did and saw;
company nodes (``segments/accounts.py``) the user's company. A ``company_users`` node names a
segment as a reference does: the same cycle and chain checks apply to it.

``all``: every node is true; ``any``: at least one; ``none``: no node is true. Only the top
group of match ``all`` may be empty (every identified user). Groups nest at most ``MAX_DEPTH``
levels below the top; reference chains are at most ``MAX_CHAIN`` segments deep and never
cycle. ``parse`` reads stored JSON leniently (whatever cannot be read matches nobody, as a
retyped rule does); ``clean`` checks a definition for saving, with errors keyed by their path
in the body (``definition.rules[2].rules[0].value``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import behaviour
from .accounts import COMPANY_TRAIT, COMPANY_USERS, CompanyTraitCondition, CompanyUsersCondition
from .behaviour import EventCondition, ExperienceCondition, Leaf
from .evaluator import Condition, compile_condition
from .operators import OPERATORS, RuleError, case_applies, clean_value

ALL, ANY, NONE = "all", "any", "none"
MATCHES = (ALL, ANY, NONE)
MAX_DEPTH = 3  # nested groups below the top
MAX_CHAIN = 5  # references followed in a row (A -> B -> ... counts the arrows)
MAX_NODES = 200  # nodes in one definition, all levels


@dataclass(frozen=True)
class Ref:
    """The user is in segment ``segment`` (its current definition)."""

    segment: int


@dataclass(frozen=True)
class Group:
    match: str
    nodes: tuple[Node, ...] = ()


Node = (
    Condition
    | Ref
    | Group
    | EventCondition
    | ExperienceCondition
    | CompanyTraitCondition
    | CompanyUsersCondition
)

# The leaves read from their JSON alone (a company trait rule needs the company traits' types).
LEAVES: dict[str, Any] = {**behaviour.LEAVES, COMPANY_USERS: CompanyUsersCondition}

# A group that matches nobody: what an unreadable node or a broken reference becomes.
NOBODY = Group(ANY, ())
EVERYONE = Group(ALL, ())


def flat(conditions: Any) -> Group:
    """Rules AND'd, as segments were before trees (and as the builder's top group starts)."""
    return Group(ALL, tuple(conditions))


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Group):
        for child in node.nodes:
            yield from walk(child)


def conditions_of(node: Node) -> list[Condition]:
    return [n for n in walk(node) if isinstance(n, Condition)]


def references_of(node: Node) -> list[int]:
    """The segments a tree names: references and the segments ``company_users`` counts."""
    return [n.segment for n in walk(node) if isinstance(n, Ref | CompanyUsersCondition)]


# --- Stored JSON to the tree -------------------------------------------------------------


def parse(
    definition: Any,
    trait_types: Mapping[str, str],
    company_types: Mapping[str, str] | None = None,
) -> Group:
    """A stored definition as a tree; ``trait_types`` gives each trait key's current type,
    ``company_types`` each company trait's. A node that cannot be read (unknown trait, bad
    shape) becomes one that matches nobody."""
    if not isinstance(definition, Mapping) or definition.get("match") not in MATCHES:
        return NOBODY
    rules = definition.get("rules")
    if not isinstance(rules, list):
        return NOBODY
    company_types = company_types or {}
    nodes = (_parse_node(n, trait_types, company_types) for n in rules)
    return Group(definition["match"], tuple(nodes))


def _parse_node(
    node: Any, trait_types: Mapping[str, str], company_types: Mapping[str, str]
) -> Node:
    if not isinstance(node, Mapping):
        return NOBODY
    if "match" in node:
        return parse(node, trait_types, company_types)
    if "segment" in node:
        segment = node["segment"]
        return Ref(segment) if type(segment) is int else NOBODY
    if COMPANY_TRAIT in node:
        return CompanyTraitCondition.of(node, company_types) or NOBODY
    for kind, leaf in LEAVES.items():
        if kind in node:
            return leaf.from_json(node) or NOBODY
    key = node.get("trait")
    if not isinstance(key, str) or key not in trait_types:
        return NOBODY
    return Condition(
        key,
        trait_types[key],
        str(node.get("operator", "")),
        node.get("value"),
        node.get("case_sensitive") is True,
    )


def as_json(node: Node) -> dict[str, Any]:
    """The tree back to its exchange format."""
    if isinstance(node, Group):
        return {"match": node.match, "rules": [as_json(n) for n in node.nodes]}
    if isinstance(node, Ref):
        return {"segment": node.segment}
    if isinstance(node, Leaf):
        return node.as_json()
    rule: dict[str, Any] = {"trait": node.trait, "operator": node.operator}
    op = OPERATORS.get(node.operator)
    if not (op and node.type in op.types and op.value_kind(node.type) == "none"):
        rule["value"] = node.value
    rule["case_sensitive"] = node.case_sensitive
    return rule


def describe(node: Node, names: Mapping[Any, str] | None = None, top: bool = True) -> str:
    """The tree in words: ``plan equals "free" AND (role equals "admin" OR teamSize is
    greater than 50) AND NOT (employee is true) AND in segment "Engaged"``. ``names``: segment
    names by id, experience names by ("experience", id)."""
    if isinstance(node, Condition):
        return node.describe()
    if isinstance(node, Leaf):
        return node.describe(names)
    if isinstance(node, Ref):
        name = (names or {}).get(node.segment)
        return f'in segment "{name}"' if name else "in a segment that is gone"
    if not node.nodes:
        return {ALL: "all identified users", ANY: "nobody", NONE: "all identified users"}[
            node.match
        ]
    parts = [describe(n, names, top=False) for n in node.nodes]
    joined = (" OR " if node.match == ANY else " AND " if node.match == ALL else " OR ").join(parts)
    if node.match == NONE:
        return f"NOT ({joined})"
    return joined if top or len(parts) == 1 else f"({joined})"


def to_plain(node: Node) -> Any:
    """The tree as nested tuples of plain values (picklable, for the targeting cache)."""
    if isinstance(node, Condition):
        return ("rule", node.trait, node.type, node.operator, node.value, node.case_sensitive)
    if isinstance(node, CompanyTraitCondition):
        return (COMPANY_TRAIT, to_plain(node.condition))
    if isinstance(node, Ref):
        return ("segment", node.segment)
    if isinstance(node, Leaf):
        return (node.KEY, node.as_json())
    return ("group", node.match, tuple(to_plain(n) for n in node.nodes))


def from_plain(data: Any) -> Node:
    kind = data[0]
    if kind == "rule":
        return Condition(*data[1:])
    if kind == "segment":
        return Ref(data[1])
    if kind == COMPANY_TRAIT:
        return CompanyTraitCondition(Condition(*data[1][1:]))
    if kind in LEAVES:
        return LEAVES[kind].from_json(data[1]) or NOBODY
    return Group(data[1], tuple(from_plain(n) for n in data[2]))


# --- Checking a definition for saving ----------------------------------------------------


class DefinitionError(ValueError):
    """Errors keyed by their path in the request body: {"definition.rules[0].value": [...]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def clean(
    definition: Any,
    *,
    trait_types: Mapping[str, str],
    segments: Mapping[int, Any],
    names: Mapping[int, str] | None = None,
    this: int | None = None,
    path: str = "definition",
    experiences: Mapping[int, str] | None = None,
    company_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``definition`` validated and normalised for storage; raises DefinitionError.

    ``segments`` holds the stored definitions of the application's segments by id (an id not
    in it, another application's included, is refused as unknown, revealing nothing);
    ``this`` is the segment being saved: a reference back to it is a cycle, and a chain
    through it counts the references that lead to it. ``experiences``: the application's
    experiences by id, what an experience node may name; ``company_types``: the company
    traits' types, what a company trait rule may name."""
    errors: dict[str, list[str]] = {}
    count = [0]
    others = {sid: d for sid, d in segments.items() if sid != this}
    above = _height_above(this, others) if this is not None else 0

    def name(segment: int) -> str:
        return (names or {}).get(segment, f"segment {segment}")

    def fail(where: str, message: str) -> None:
        errors.setdefault(where, []).append(message)

    def group(node: Any, where: str, depth: int) -> dict[str, Any] | None:
        if not isinstance(node, Mapping):
            fail(where, "must be an object with match and rules")
            return None
        extra = set(node) - {"match", "rules"}
        if extra:
            fail(where, f"unknown field {sorted(extra)[0]!r}")
        match = node.get("match")
        if match not in MATCHES:
            fail(f"{where}.match", 'must be "all", "any" or "none"')
        rules = node.get("rules")
        if not isinstance(rules, list):
            fail(f"{where}.rules", "must be a list")
            return None
        if not rules and not (depth == 0 and match == ALL):
            fail(f"{where}.rules", "a group needs at least one rule")
        cleaned = []
        for i, child in enumerate(rules):
            count[0] += 1
            if count[0] > MAX_NODES:
                fail(f"{where}.rules", f"a definition has at most {MAX_NODES} rules and groups")
                return None
            out = one(child, f"{where}.rules[{i}]", depth)
            if out is not None:
                cleaned.append(out)
        return {"match": match, "rules": cleaned}

    def one(node: Any, where: str, depth: int) -> dict[str, Any] | None:
        if isinstance(node, Mapping) and "match" in node:
            if depth >= MAX_DEPTH:
                fail(where, f"groups nest at most {MAX_DEPTH} levels below the top")
                return None
            return group(node, where, depth + 1)
        if isinstance(node, Mapping) and "segment" in node:
            return reference(node, where)
        if isinstance(node, Mapping) and "trait" in node:
            return rule(node, where)
        if isinstance(node, Mapping) and COMPANY_TRAIT in node:
            return company_rule(node, where)
        if isinstance(node, Mapping) and COMPANY_USERS in node:
            out = leaf(lambda: CompanyUsersCondition.clean(node), where)
            if out is None:
                return None
            target = out[COMPANY_USERS]["segment"]
            if target == this:
                fail(f"{where}.{COMPANY_USERS}.segment", "cannot count the segment being saved")
                return None
            return out if reference({"segment": target}, f"{where}.{COMPANY_USERS}") else None
        if isinstance(node, Mapping) and EventCondition.KEY in node:
            return leaf(lambda: EventCondition.clean(node), where)
        if isinstance(node, Mapping) and ExperienceCondition.KEY in node:
            return leaf(lambda: ExperienceCondition.clean(node, experiences or {}), where)
        fail(
            where,
            "must be a rule (trait, operator, value), a company rule, an event, an "
            "experience, a segment or a group",
        )
        return None

    def leaf(check: Callable[[], dict[str, Any]], where: str) -> dict[str, Any] | None:
        try:
            return check()
        except RuleError as error:
            field = getattr(error, "field", "")
            fail(f"{where}.{field}" if field else where, str(error))
            return None

    def reference(node: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        segment = node.get("segment")
        if set(node) != {"segment"}:
            fail(where, "a segment condition has only the field segment")
        if type(segment) is not int or segment not in segments:
            fail(f"{where}.segment", "no such segment")
            return None
        cycle = _find_cycle(segment, others, this)
        if cycle is not None:
            fail(f"{where}.segment", f"would make a cycle: {' → '.join(map(name, cycle))}")
            return None
        if above + 1 + _chain_depth(segment, others) > MAX_CHAIN:
            fail(f"{where}.segment", f"a chain of segment references is at most {MAX_CHAIN} long")
            return None
        return {"segment": segment}

    def company_rule(node: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        renamed = {("trait" if k == COMPANY_TRAIT else k): v for k, v in node.items()}
        if "trait" in node:
            fail(where, "unknown field 'trait'")
            return None
        out = rule(renamed, where, company_types or {}, COMPANY_TRAIT, "company trait")
        return None if out is None else {COMPANY_TRAIT: out.pop("trait"), **out}

    def rule(
        node: Mapping[str, Any],
        where: str,
        types: Mapping[str, str] = trait_types,
        field: str = "trait",
        noun: str = "trait",
    ) -> dict[str, Any] | None:
        extra = set(node) - {"trait", "operator", "value", "case_sensitive"}
        if extra:
            fail(where, f"unknown field {sorted(extra)[0]!r}")
        key, operator = node.get("trait"), node.get("operator")
        if not isinstance(key, str) or key not in types:
            fail(f"{where}.{field}", f"no {noun} {key!r} in this application")
            return None
        trait_type = types[key]
        if not isinstance(operator, str) or operator not in OPERATORS:
            fail(f"{where}.operator", f"{operator!r} is not an operator")
            return None
        try:
            value = clean_value(trait_type, operator, node.get("value"))
        except RuleError as error:
            field = "operator" if trait_type not in OPERATORS[operator].types else "value"
            fail(f"{where}.{field}", str(error))
            return None
        case = node.get("case_sensitive", False)
        if not isinstance(case, bool):
            fail(f"{where}.case_sensitive", "must be true or false")
            return None
        out: dict[str, Any] = {"trait": key, "operator": operator}
        if OPERATORS[operator].value_kind(trait_type) != "none":
            out["value"] = value
        out["case_sensitive"] = case and case_applies(trait_type, operator)
        return out

    cleaned = group(definition, path, 0)
    if errors:
        raise DefinitionError(errors)
    assert cleaned is not None
    return cleaned


def _find_cycle(start: int, definitions: Mapping[int, Any], this: int | None) -> list[int] | None:
    """The path of references from ``this`` through ``start`` back to ``this``, if any."""
    if this is None:
        return None
    stack: list[tuple[int, list[int]]] = [(start, [this, start])]
    seen: set[int] = set()
    while stack:
        segment, path = stack.pop()
        if segment == this:
            return path
        if segment in seen:
            continue
        seen.add(segment)
        for ref in _stored_references(definitions.get(segment)):
            stack.append((ref, [*path, ref]))
    return None


def _chain_depth(start: int, definitions: Mapping[int, Any], limit: int = 16) -> int:
    """How many references deep the chains below ``start`` go (0: it references none)."""
    refs = _stored_references(definitions.get(start))
    if not refs or limit == 0:
        return 0
    return 1 + max(_chain_depth(r, definitions, limit - 1) for r in refs)


def _height_above(target: int, definitions: Mapping[int, Any], limit: int = 16) -> int:
    """How many references the longest chain leading to ``target`` has."""
    parents = [sid for sid, d in definitions.items() if target in _stored_references(d)]
    if not parents or limit == 0:
        return 0
    return 1 + max(_height_above(p, definitions, limit - 1) for p in parents)


def _stored_references(definition: Any) -> list[int]:
    out: list[int] = []
    stack = [definition]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if type(node.get("segment")) is int:
                out.append(node["segment"])
            counted = node.get(COMPANY_USERS)
            if isinstance(counted, Mapping) and type(counted.get("segment")) is int:
                out.append(counted["segment"])
            rules = node.get("rules")
            if isinstance(rules, list):
                stack.extend(rules)
    return out


# --- Reference evaluation and explanation ------------------------------------------------

Resolve = Callable[[int], Group | None]


def evaluate(
    node: Node,
    traits: Mapping[str, Any],
    now: float,
    resolve: Resolve,
    _depth: int = 0,
    activity: Any = None,
    company: Mapping[str, Any] | None = None,
    members: Mapping[int, int] | None = None,
) -> bool:
    """The tree's answer for one user (``activity``: what they did and saw,
    segments/activity.py; ``company``: their company's traits, None without one; ``members``:
    {segment id: users of their company in it}), the reference the generated code is held
    to."""
    if isinstance(node, Condition):
        return compile_condition(node)(traits, now)
    if isinstance(node, CompanyTraitCondition):
        return node.test(company or {}, now)
    if isinstance(node, CompanyUsersCondition):
        # Counting a segment that is gone matches nobody, as a reference to it does.
        gone = resolve(node.segment) is None
        return not gone and node.test_count((members or {}).get(node.segment, 0))
    if isinstance(node, Leaf):
        return node.test(traits, activity, now)
    if isinstance(node, Ref):
        target = resolve(node.segment) if _depth < MAX_CHAIN else None
        return target is not None and evaluate(
            target, traits, now, resolve, _depth + 1, activity, company, members
        )
    answers = (
        evaluate(n, traits, now, resolve, _depth, activity, company, members) for n in node.nodes
    )
    if node.match == ALL:
        return all(answers)
    if node.match == ANY:
        return any(answers)
    return not any(answers)


@dataclass(frozen=True)
class Verdict:
    """One node's answer for one user, with its children's (a group) for "why" screens."""

    node: Node
    passed: bool
    children: tuple[Verdict, ...] = ()


def explain(
    node: Node,
    traits: Mapping[str, Any],
    now: float,
    resolve: Resolve,
    _depth: int = 0,
    activity: Any = None,
    company: Mapping[str, Any] | None = None,
    members: Mapping[int, int] | None = None,
) -> Verdict:
    context = (activity, company, members)
    if isinstance(node, Group):
        children = tuple(explain(n, traits, now, resolve, _depth, *context) for n in node.nodes)
        answers = [c.passed for c in children]
        passed = (
            all(answers)
            if node.match == ALL
            else any(answers)
            if node.match == ANY
            else not any(answers)
        )
        return Verdict(node, passed, children)
    return Verdict(node, evaluate(node, traits, now, resolve, _depth, *context))
