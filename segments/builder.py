"""The Create / Edit Segment builder: a tree of rules, groups and segment conditions posted as
indexed nodes, read back into a definition (segments/tree.py).

The rule-row form's fields stay as they were (``rules=3`` plus ``rules-3-trait`` ...), so a
flat form posts exactly what it did. A node may add:

- ``rules-3-kind``: ``rule`` (the default), ``group``, ``segment``, ``event``, ``experience``
  or ``company``;
- ``rules-3-parent``: the index of the group node it sits in (none: the top group);
- ``rules-3-match`` for a group, ``rules-3-segment`` for a segment condition;
- ``rules-3-event``, ``-operator``, ``-value``, ``-within_days`` for an event condition and
  ``rules-3-experience``, ``-state`` for an experience condition (segments/behaviour.py);
- ``rules-3-about`` for a company condition (segments/accounts.py): ``trait``, with a trait
  rule row's fields over the company traits (``-trait``, ``-operator``, ``-value``, ...), or
  ``users``, with ``-operator`` (at least / at most / exactly), ``-value`` and ``-segment``;

and the top group's ``match`` (default ``all``). Nodes keep their document order, so a group's
children are the nodes naming it as parent, in the order they appear. Indexes, not positions,
name nodes: adding, removing and moving nodes in the browser needs no renumbering of names.

Structural buttons post ``op=add_rule:3`` (``add_group``, ``add_segment``, ``add_event``,
``add_experience``, ``add_company``, ``remove``, ``up``, ``down``; ``top`` for the top group)
and the view answers the form re-shaped, saving nothing: that is how every control works
without JavaScript.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from . import tree
from .accounts import (
    COMPANY_TRAIT,
    COMPANY_USERS,
    COUNT_OPERATORS,
    CompanyTraitCondition,
    CompanyUsersCondition,
)
from .behaviour import EVENT_OPERATORS, EXPERIENCE_STATES, EventCondition, ExperienceCondition
from .evaluator import Condition
from .forms import RuleRow, read_row, rows_from_segment, value_text
from .models import Segment, TraitDefinition
from .operators import OPERATORS, RANGE, RuleError, case_applies, clean_value

RULE, GROUP, SEGMENT, EVENT, EXPERIENCE = "rule", "group", "segment", "event", "experience"
COMPANY = "company"
KINDS = (RULE, GROUP, SEGMENT, EVENT, EXPERIENCE, COMPANY)
# The nodes added and re-shaped alone (segments:node): what a user did and saw, their company.
LEAVES = (EVENT, EXPERIENCE, COMPANY)
FIRST_EVENT_OPERATOR = next(iter(EVENT_OPERATORS))  # what a new event condition starts with
FIRST_STATE = next(iter(EXPERIENCE_STATES))
FIRST_COUNT_OPERATOR = next(iter(COUNT_OPERATORS))
# What a company condition is about: one of the company's traits, or how many of its users are
# in a segment.
ABOUT_TRAIT, ABOUT_USERS = "trait", "users"
COMPANY_ABOUT = {
    ABOUT_TRAIT: "a company trait",
    ABOUT_USERS: "how many of its users are in a segment",
}
TOP = -1  # the top group's index
MATCH_LABELS = {
    tree.ALL: "all of the rules",
    tree.ANY: "any of the rules",
    tree.NONE: "none of the rules",
}
OPS = (
    "add_rule",
    "add_group",
    "add_segment",
    "add_event",
    "add_experience",
    "add_company",
    "remove",
    "up",
    "down",
)
# The Add buttons of event, experience and company conditions (segments/_add_leaf_buttons.html).
LEAF_BUTTONS = (
    (EVENT, "Add event condition"),
    (EXPERIENCE, "Add experience condition"),
    (COMPANY, "Add company condition"),
)
NOUNS = {
    RULE: "Rule",
    GROUP: "Group",
    SEGMENT: "Segment condition",
    EVENT: "Event condition",
    EXPERIENCE: "Experience condition",
    COMPANY: "Company condition",
}
_PATH_PART = re.compile(r"\.rules\[(\d+)\]")
_NODE_PATH = re.compile(r"^(definition(?:\.rules\[\d+\])*)(?:\.(.+))?$")


def _whole_or_text(text: str) -> int | str:
    """A whole number typed as one; anything else as typed, for ``tree.clean`` to refuse with
    its message."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 10 else text


@dataclass
class EventRow:
    """An event condition as typed: "did EVENT OPERATOR VALUE (in the last WITHIN_DAYS days)"."""

    event: str = ""
    operator: str = FIRST_EVENT_OPERATOR
    value: str = ""
    within_days: str = ""  # empty: ever (count operators only)

    @property
    def operators(self) -> list[Any]:
        return list(EVENT_OPERATORS.values())

    @property
    def counts(self) -> bool:
        """Whether the operator counts (and so takes "in the last N days")."""
        op = EVENT_OPERATORS.get(self.operator)
        return op is not None and op.counts

    @property
    def value_words(self) -> str:
        """What the value counts: "times", "days" or "days ago"."""
        op = EVENT_OPERATORS.get(self.operator)
        return op.words.replace("{value}", "").strip() if op else ""

    def as_input(self) -> dict[str, Any]:
        """The node for ``tree.clean``; "in the last" only where the operator counts (a time
        operator's value is its window already)."""
        out: dict[str, Any] = {
            "event": self.event.strip(),
            "operator": self.operator,
            "value": _whole_or_text(self.value),
        }
        if self.counts and self.within_days.strip():
            out["within_days"] = _whole_or_text(self.within_days)
        return out

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> EventRow:
        within = node.get("within_days")
        return cls(
            event=str(node.get("event", "")),
            operator=str(node.get("operator", "")),
            value=value_text(node.get("value")),
            within_days="" if within is None else value_text(within),
        )


@dataclass
class ExperienceRow:
    """An experience condition as typed: "has STATE EXPERIENCE"."""

    experience: str = ""  # the experience's id, as posted
    state: str = FIRST_STATE

    @property
    def states(self) -> list[tuple[str, str]]:
        """(state, words): ("completed", "has completed")."""
        return [(state, words) for state, (_, words) in EXPERIENCE_STATES.items()]

    def as_input(self) -> dict[str, Any]:
        return {"experience": _whole_or_text(self.experience), "state": self.state}

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> ExperienceRow:
        return cls(experience=str(node.get("experience", "")), state=str(node.get("state", "")))


@dataclass
class CompanyRow:
    """A company condition as typed: a rule on one of the company's traits (``rule``: a trait
    rule row over the company traits, the user rule's fields and checks) or "OPERATOR VALUE
    users of the company in SEGMENT". Both kept, so that switching ``about`` back and forth
    loses nothing typed."""

    about: str = ABOUT_TRAIT
    rule: RuleRow = field(default_factory=lambda: RuleRow(index=0))
    segment: str = ""  # the counted segment's id, as posted
    operator: str = FIRST_COUNT_OPERATOR  # a count operator (about users)
    value: str = ""  # the number of users (about users)

    @property
    def counts(self) -> bool:
        """Whether it counts the company's users (else: a company trait rule)."""
        return self.about == ABOUT_USERS

    @property
    def abouts(self) -> list[tuple[str, str]]:
        return list(COMPANY_ABOUT.items())

    @property
    def count_operators(self) -> list[Any]:
        return list(COUNT_OPERATORS.values())

    def as_input(self) -> dict[str, Any]:
        """The node for ``tree.clean``: what is not a number or a segment id kept as typed,
        for its checks to refuse with their message."""
        if self.counts:
            sid = _int(self.segment)
            return {
                COMPANY_USERS: {"segment": sid if sid is not None else self.segment},
                "operator": self.operator,
                "value": _whole_or_text(self.value),
            }
        rule = self.rule.as_input()
        return {COMPANY_TRAIT: rule.pop("trait"), **rule}

    @classmethod
    def from_json(
        cls, index: int, node: Mapping[str, Any], company_traits: Mapping[str, Any]
    ) -> CompanyRow:
        if COMPANY_USERS in node:
            target = node[COMPANY_USERS]
            sid = target.get("segment", "") if isinstance(target, Mapping) else ""
            return cls(
                about=ABOUT_USERS,
                rule=RuleRow(index=index),
                segment=str(sid),
                operator=str(node.get("operator", "")),
                value=value_text(node.get("value")),
            )
        as_rule = {("trait" if k == COMPANY_TRAIT else k): v for k, v in node.items()}
        return cls(rule=_rule_row(index, as_rule, company_traits))


@dataclass
class Node:
    """One node of the builder, as typed."""

    index: int
    kind: str = RULE
    row: RuleRow | None = None  # a rule's fields
    match: str = tree.ALL  # a group's
    segment_id: str = ""  # a segment condition's, as posted
    event: EventRow | None = None  # an event condition's fields
    experience: ExperienceRow | None = None  # an experience condition's
    company: CompanyRow | None = None  # a company condition's
    sentence: str = ""  # an event, experience or company condition in words, once complete
    children: list[Node] = field(default_factory=list)
    parent: int = TOP
    depth: int = 0  # groups: 1 to MAX_DEPTH below the top
    number: str = ""  # "2.1": the second node's first child
    path: str = "definition"
    autofocus: bool = False
    focus: str = ""  # after a round trip, the button keyboard focus returns to (up, down, add_rule)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    count: int | None = None  # users let through within its group (the preview)
    total: int | None = None  # a group's own total (the preview)

    @property
    def is_group(self) -> bool:
        return self.kind == GROUP

    @property
    def is_leaf(self) -> bool:
        """An event, experience or company condition."""
        return self.kind in LEAVES

    @property
    def trait_row(self) -> RuleRow | None:
        """The trait rule row it shows: a rule's, or a company condition's on a trait."""
        if self.company is not None:
            return None if self.company.counts else self.company.rule
        return self.row

    @property
    def noun(self) -> str:
        return NOUNS[self.kind].lower()

    @property
    def label(self) -> str:
        noun = NOUNS[self.kind]
        return f"{noun} {self.number}" if self.number else noun

    @property
    def can_nest(self) -> bool:
        return self.depth < tree.MAX_DEPTH

    @property
    def node_errors(self) -> list[str]:
        return self.errors.get("", [])

    @property
    def match_errors(self) -> list[str]:
        return self.errors.get("match", []) + self.errors.get("rules", [])

    @property
    def segment_errors(self) -> list[str]:
        return self.errors.get("segment", [])

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def _int(text: Any, default: int | None = None) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _group_index(text: Any) -> int:
    """A posted parent: a group's index, or the top's."""
    index = _int(text)
    return TOP if index is None or index < 0 else index


def read_node(
    data: QueryDict,
    index: int,
    traits: Mapping[str, TraitDefinition],
    company_traits: Mapping[str, TraitDefinition] | None = None,
) -> Node:
    """Node ``index`` as submitted (``rules-N-kind`` and its kind's fields), not yet placed;
    ``company_traits``: what a company condition's trait may be."""
    prefix = f"rules-{index}-"
    kind = data.get(prefix + "kind", RULE)
    node = Node(index=index, kind=kind if kind in KINDS else RULE)
    if node.kind == RULE:
        node.row = read_row(data, index, traits)
    elif node.kind == GROUP:
        match = data.get(prefix + "match", tree.ALL)
        node.match = match if match in tree.MATCHES else tree.ALL
    elif node.kind == SEGMENT:
        node.segment_id = data.get(prefix + "segment", "")
    elif node.kind == EVENT:
        operator = data.get(prefix + "operator", "")
        node.event = EventRow(
            event=data.get(prefix + "event", ""),
            operator=operator if operator in EVENT_OPERATORS else FIRST_EVENT_OPERATOR,
            value=data.get(prefix + "value", ""),
            within_days=data.get(prefix + "within_days", ""),
        )
    elif node.kind == COMPANY:
        about = data.get(prefix + "about", ABOUT_TRAIT)
        operator = data.get(prefix + "operator", "")
        node.company = CompanyRow(
            about=about if about in COMPANY_ABOUT else ABOUT_TRAIT,
            rule=read_row(data, index, company_traits or {}),
            segment=data.get(prefix + "segment", ""),
            operator=operator if operator in COUNT_OPERATORS else FIRST_COUNT_OPERATOR,
            value=data.get(prefix + "value", ""),
        )
    else:
        state = data.get(prefix + "state", "")
        node.experience = ExperienceRow(
            experience=data.get(prefix + "experience", ""),
            state=state if state in EXPERIENCE_STATES else FIRST_STATE,
        )
    return node


def new_leaf(kind: str, index: int, parent: int = TOP) -> Node:
    """A new, empty event, experience or company condition, keyboard focus on its first
    field."""
    node = Node(index=index, kind=kind, parent=parent, autofocus=True)
    if kind == EVENT:
        node.event = EventRow()
    elif kind == COMPANY:
        node.company = CompanyRow(rule=RuleRow(index=index))
    else:
        node.experience = ExperienceRow()
    return node


def fragment_leaf(
    data: QueryDict,
    traits: Mapping[str, TraitDefinition],
    company_traits: Mapping[str, TraitDefinition] | None = None,
) -> Node | None:
    """The one event, experience or company node an htmx fragment request is about: with
    ``add=event`` (or ``experience``, ``company``) a new one in group ``parent``, its index
    one none of the posted ``rules`` uses; else the first posted node, as typed, in the group
    its ``rules-N-parent`` names. None when the request names no such node."""
    indexes = [i for i in map(_int, data.getlist("rules")) if i is not None]
    kind = data.get("add")
    if kind in LEAVES:
        return new_leaf(kind, max([*indexes, -1]) + 1, _group_index(data.get("parent")))
    if not indexes:
        return None
    node = read_node(data, indexes[0], traits, company_traits)
    node.parent = _group_index(data.get(f"rules-{node.index}-parent"))
    return node if node.is_leaf else None


def parse_tree(
    data: QueryDict,
    traits: Mapping[str, TraitDefinition],
    company_traits: Mapping[str, TraitDefinition] | None = None,
) -> Node:
    """The submitted builder as a tree of nodes, top group first."""
    match = data.get("match", tree.ALL)
    top = Node(index=TOP, kind=GROUP, match=match if match in tree.MATCHES else tree.ALL)
    groups = {TOP: top}
    seen: set[int] = set()
    # As many nodes as a definition may hold (tree.MAX_NODES): a saved tree is never cut.
    for raw in data.getlist("rules")[: tree.MAX_NODES]:
        index = _int(raw)
        if index is None or index < 0 or index in seen:
            continue
        seen.add(index)
        # A parent not (yet) seen as a group: the node goes to the top, nothing is lost.
        parent = groups.get(_int(data.get(f"rules-{index}-parent"), TOP), top)
        node = read_node(data, index, traits, company_traits)
        node.parent = parent.index
        if node.is_group:
            groups[index] = node
        parent.children.append(node)
    number(top)
    return top


def drop_blank_rules(top: Node) -> None:
    """Rule rows left entirely blank (an Add rule clicked and not filled in) are not part of
    the segment being saved: dropped, unless they are all there is (a form saved untouched is
    asked for a rule, not saved as every user)."""
    nodes = list(top.walk())[1:]
    if all(node.kind == RULE and node.row is not None and node.row.is_blank for node in nodes):
        return
    for group in list(top.walk()):
        group.children = [
            child
            for child in group.children
            if not (child.kind == RULE and child.row is not None and child.row.is_blank)
        ]
    number(top)


def number(top: Node) -> None:
    """Numbers, depths, parents and definition paths, from the tree's shape."""

    def visit(group: Node, prefix: str, depth: int) -> None:
        for i, child in enumerate(group.children):
            child.number = f"{prefix}{i + 1}"
            child.parent = group.index
            child.path = f"{group.path}.rules[{i}]"
            child.depth = depth + 1 if child.is_group else depth
            if child.company is not None:
                child.company.rule.index = child.index  # its fields are the node's
            if child.row is not None:
                child.row.index = child.index
                child.row.parent = group.index
                child.row.number = child.number  # type: ignore[assignment]
            if child.is_group:
                visit(child, child.number + ".", depth + 1)

    top.path = "definition"
    visit(top, "", 0)


def is_flat(top: Node) -> bool:
    """A top ``all`` group of rules only: saved through the rule-row path, as before."""
    return top.match == tree.ALL and all(n.kind == RULE for n in top.children)


def flat_rows(top: Node) -> list[RuleRow]:
    return [n.row for n in top.children if n.row is not None]


def _node_json(node: Node) -> dict[str, Any]:
    if node.kind == GROUP:
        return {"match": node.match, "rules": [_node_json(c) for c in node.children]}
    if node.kind == SEGMENT:
        sid = _int(node.segment_id)
        return {"segment": sid if sid is not None else node.segment_id}
    if node.event is not None:
        return node.event.as_input()
    if node.experience is not None:
        return node.experience.as_input()
    if node.company is not None:
        return node.company.as_input()
    assert node.row is not None
    return node.row.as_input()


def definition(top: Node) -> dict[str, Any]:
    """What ``actions.segment_create(definition=...)`` takes."""
    return _node_json(top)


# --- Editing the shape -------------------------------------------------------------------


def _next_index(top: Node) -> int:
    return max((n.index for n in top.walk()), default=-1) + 1


def _find(top: Node, index: int) -> tuple[Node | None, Node | None]:
    """The node of ``index`` and its parent group."""
    for node in top.walk():
        for child in node.children:
            if child.index == index:
                return child, node
    return (top, None) if index == TOP else (None, None)


def apply_op(top: Node, op: str) -> None:
    """One structural button (``add_rule:3``, ``remove:5``, ...); anything else is ignored."""
    verb, _, target = op.partition(":")
    index = TOP if target == "top" else _int(target)
    if verb not in OPS or index is None:
        return
    node, parent = _find(top, index)
    if node is None:
        return
    if verb.startswith("add_") and node.is_group:
        if sum(1 for _ in top.walk()) > tree.MAX_NODES:
            return
        new = Node(index=_next_index(top), autofocus=True)
        if verb == "add_rule":
            new.row = RuleRow(index=new.index, autofocus=True)
        elif verb == "add_group":
            if not (node is top or node.can_nest):
                return
            new.kind = GROUP
            new.children.append(Node(index=new.index + 1, row=RuleRow(index=new.index + 1)))
        elif verb in ("add_event", "add_experience", "add_company"):
            new = new_leaf(verb.removeprefix("add_"), new.index)
        else:
            new.kind = SEGMENT
        node.children.append(new)
    elif parent is not None:
        siblings = parent.children
        at = siblings.index(node)
        if verb == "remove":
            siblings.pop(at)
            parent.focus = "add_rule"
        elif verb == "up" and at > 0:
            siblings[at - 1], siblings[at] = siblings[at], siblings[at - 1]
            node.focus = verb
        elif verb == "down" and at < len(siblings) - 1:
            siblings[at + 1], siblings[at] = siblings[at], siblings[at + 1]
            node.focus = verb
    number(top)


# --- A saved segment ---------------------------------------------------------------------


def _rule_row(index: int, condition: Mapping[str, Any], traits: Mapping[str, Any]) -> RuleRow:
    trait = traits.get(condition.get("trait"))
    value = condition.get("value")
    op = OPERATORS.get(condition.get("operator", ""))
    is_range = (
        trait is not None
        and op is not None
        and trait.type in op.types
        and op.value_kind(trait.type) == RANGE
        and isinstance(value, list)
        and len(value) == 2
    )
    return RuleRow(
        index=index,
        trait=trait,
        operator=condition.get("operator", ""),
        value=value_text(value[0] if is_range else value),
        value_to=value_text(value[1]) if is_range else "",
        case_sensitive=bool(condition.get("case_sensitive")),
    )


def tree_from_segment(segment: Segment) -> Node:
    """The saved segment as builder nodes."""
    if segment.is_flat:
        top = Node(index=TOP, kind=GROUP)
        for i, row in enumerate(rows_from_segment(segment)):
            row.index = i
            top.children.append(Node(index=i, row=row))
        number(top)
        return top
    traits = {t.key: t for t in segment.application.trait_definitions.users()}
    company_traits: dict[str, TraitDefinition] = {}
    if COMPANY_TRAIT in json.dumps(segment.definition):  # read only when one may show
        company_traits = {t.key: t for t in segment.application.trait_definitions.companies()}
    counter = [0]

    def build(data: Mapping[str, Any]) -> list[Node]:
        nodes = []
        for child in data.get("rules", []):
            index = counter[0]
            counter[0] += 1
            if "match" in child:
                node = Node(index=index, kind=GROUP, match=child["match"])
                node.children = build(child)
            elif "segment" in child:
                node = Node(index=index, kind=SEGMENT, segment_id=str(child["segment"]))
            elif EventCondition.KEY in child:
                node = Node(index=index, kind=EVENT, event=EventRow.from_json(child))
            elif ExperienceCondition.KEY in child:
                node = Node(index=index, kind=EXPERIENCE, experience=ExperienceRow.from_json(child))
            elif COMPANY_TRAIT in child or COMPANY_USERS in child:
                company = CompanyRow.from_json(index, child, company_traits)
                node = Node(index=index, kind=COMPANY, company=company)
            else:
                node = Node(index=index, row=_rule_row(index, child, traits))
            nodes.append(node)
        return nodes

    stored = segment.definition
    top = Node(index=TOP, kind=GROUP, match=stored.get("match", tree.ALL))
    top.children = build(stored)
    number(top)
    return top


# --- Errors, warnings and counts back onto the nodes -------------------------------------


def by_path(top: Node) -> dict[str, Node]:
    return {node.path: node for node in top.walk()}


def split_path(key: str) -> tuple[str, str]:
    """``definition.rules[1].rules[0].value`` -> (``definition.rules[1].rules[0]``, ``value``);
    a field's own path stays whole: ``definition.rules[0].company_users.segment`` ->
    (``definition.rules[0]``, ``company_users.segment``)."""
    found = _NODE_PATH.match(key)
    if found is None:
        return key, ""
    return found.group(1), found.group(2) or ""


def _leaf_fields(node: Node) -> frozenset[str]:
    """The fields of an event or experience node that an error may name."""
    if node.event is not None:
        return EventCondition.FIELDS
    if node.experience is not None:
        return ExperienceCondition.FIELDS
    return frozenset()


def attach_tree_errors(top: Node, errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Errors keyed by definition path go to their node; what no node takes is returned."""
    nodes = by_path(top)
    rest: dict[str, list[str]] = {}
    for key, messages in errors.items():
        path, name = split_path(key)
        node = nodes.get(path)
        if node is None:
            rest[key] = list(messages)
            continue
        if node.company is not None:
            _attach_company_error(node, node.company, name, messages)
        elif node.row is not None and name in ("trait", "operator", "value", "case_sensitive"):
            node.row.errors.setdefault(name if name != "case_sensitive" else "value", []).extend(
                messages
            )
        elif name in ("match", "rules", "segment") or name in _leaf_fields(node):
            node.errors.setdefault(name, []).extend(messages)
        else:
            node.errors.setdefault("", []).extend(messages)
    return rest


def _attach_company_error(node: Node, row: CompanyRow, name: str, messages: list[str]) -> None:
    """A company condition's error on its field: the trait, operator and value of its trait
    rule row, or its count's operator, value and segment."""
    field = name.partition(".")[0]
    if field == COMPANY_TRAIT:
        row.rule.errors.setdefault("trait", []).extend(messages)
    elif field == COMPANY_USERS:
        node.errors.setdefault("segment", []).extend(messages)
    elif not row.counts and name in ("operator", "value", "case_sensitive"):
        row.rule.errors.setdefault("value" if name == "case_sensitive" else name, []).extend(
            messages
        )
    elif row.counts and name in ("operator", "value"):
        node.errors.setdefault(name, []).extend(messages)
    else:
        node.errors.setdefault("", []).extend(messages)


@dataclass(frozen=True)
class CompanyChoices:
    """What a company condition may name: the application's company traits by key, and the
    segments it may count (those a segment condition may name) by id, with their names."""

    traits: Mapping[str, TraitDefinition] = field(default_factory=dict)
    segments: Mapping[int, str] = field(default_factory=dict)


def company_leaf(
    row: CompanyRow, choices: CompanyChoices
) -> tuple[CompanyTraitCondition | CompanyUsersCondition | None, str]:
    """A company condition as a tree node, checked as saving checks it, or None and why not
    (not yet complete)."""
    try:
        if row.counts:
            sid = _int(row.segment)
            if sid is None or sid not in choices.segments:
                return None, "choose a segment"
            return CompanyUsersCondition.from_json(CompanyUsersCondition.clean(row.as_input())), ""
        trait = row.rule.trait
        if trait is None or trait.key not in choices.traits:
            return None, "choose a company trait"
        rule = row.rule.as_input()
        value = clean_value(trait.type, rule["operator"], rule["value"])
    except RuleError as error:
        return None, str(error)
    case = rule["case_sensitive"] and case_applies(trait.type, rule["operator"])
    condition = Condition(trait.key, trait.type, rule["operator"], value, case)
    return CompanyTraitCondition(condition), ""


@dataclass
class Counted:
    """The part of the form that can be counted now, and which form node each path names."""

    tree: tree.Group
    nodes: dict[str, Node]  # path in ``tree`` -> form node
    skipped: list[tuple[str, str]]  # (node label, why)


def leaf_of(
    node: Node, experiences: Mapping[int, str], company: CompanyChoices | None = None
) -> tuple[tree.Node | None, str]:
    """An event, experience or company node as a tree node, or None and why not (not yet
    complete)."""
    if node.company is not None:
        return company_leaf(node.company, company or CompanyChoices())
    try:
        if node.event is not None:
            if not node.event.event.strip():
                return None, "name an event"
            return EventCondition.from_json(EventCondition.clean(node.event.as_input())), ""
        if node.experience is not None:
            if not node.experience.experience:
                return None, "choose an experience"
            cleaned = ExperienceCondition.clean(node.experience.as_input(), experiences)
            return ExperienceCondition.from_json(cleaned), ""
    except RuleError as error:
        return None, str(error)
    return None, ""


def describe_leaves(
    nodes: Iterable[Node], experiences: Mapping[int, str], company: CompanyChoices | None = None
) -> None:
    """Each complete event, experience and company node's sentence ("did project_created at
    least 3 times in the last 7 days", 'has completed "Welcome tour"', 'company plan equals
    "trial"', 'at least 3 users of the company in segment "Completed setup"'), the rest's
    cleared."""
    names: dict[Any, str] = {("experience", pk): name for pk, name in experiences.items()}
    if company is not None:
        names |= company.segments
    for node in nodes:
        if node.is_leaf:
            leaf = leaf_of(node, experiences, company)[0]
            node.sentence = tree.describe(leaf, names) if leaf is not None else ""


def countable(
    top: Node,
    conditions: Mapping[int, Condition | None],
    reasons: Mapping[int, str],
    segment_ids: Sequence[int],
    experiences: Mapping[int, str] | None = None,
    company: CompanyChoices | None = None,
) -> Counted:
    """The valid nodes of the form as a tree (a rule not yet complete, an unknown segment, a
    group left empty, an event, experience or company condition not yet complete are
    skipped, as the rule rows were): what the preview counts and lints. ``experiences``: the
    application's, by id; ``company``: what a company condition may name."""
    nodes: dict[str, Node] = {}
    skipped: list[tuple[str, str]] = []

    def build(group: Node, path: str, top_level: bool) -> tree.Group | None:
        out: list[tree.Node] = []
        for child in group.children:
            here = f"{path}.rules[{len(out)}]"
            node: tree.Node | None = None
            if child.kind == RULE:
                node = conditions.get(child.index)
                if node is None:
                    skipped.append((child.label, reasons.get(child.index, "")))
            elif child.kind == SEGMENT:
                sid = _int(child.segment_id)
                node = tree.Ref(sid) if sid in segment_ids else None
                if node is None:
                    skipped.append((child.label, "choose a segment"))
            elif child.is_leaf:
                node, why = leaf_of(child, experiences or {}, company)
                if node is None:
                    skipped.append((child.label, why))
            else:
                node = build(child, here, False)
            if node is not None:
                nodes[here] = child
                out.append(node)
        if not out and not top_level:
            return None
        return tree.Group(group.match, tuple(out))

    built = build(top, "definition", True)
    assert built is not None
    nodes["definition"] = top
    return Counted(built, nodes, skipped)


def path_index(path: str) -> list[int]:
    return [int(i) for i in _PATH_PART.findall(path)]
