"""What changed between two versions of a segment, in words a product manager reads::

    Name: "Big teams" → "Large teams"
    rule 2: `teamSize is greater than 10` → `teamSize is greater than 20`
    group 3 added: `(plan equals "pro" OR role equals "admin")`
    segment reference 1 removed: `in segment "Engaged"`

Pure: plain definitions in (a version's ``{"name", "description", "definition"}``, or a bare
tree ``{"match", "rules"}``), lines out; no database. Rules are said as the rest of the app says
them (``tree.describe``). Nodes are paired by their words (``difflib``), so inserting a rule
reads as one rule added rather than every rule after it changed; a node of a group is
numbered as the builder shows it: rule 3.1 is the first node of group 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

from . import tree
from .accounts import COMPANY_TRAIT
from .operators import OPERATORS, RuleError, clean_value

MATCH_WORDS = {
    tree.ALL: "all of the rules",
    tree.ANY: "any of the rules",
    tree.NONE: "none of the rules",
}


def diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    names: Mapping[Any, str] | None = None,
    trait_types: Mapping[str, str] | None = None,
    company_types: Mapping[str, str] | None = None,
) -> list[str]:
    """The changes from ``old`` to ``new``, one line each (none: the same). ``names``: segment
    names by id, experience names by ("experience", id); ``trait_types`` / ``company_types``:
    the traits' types (a key not given is read with the type its rule's operator fits)."""
    lines: list[str] = []
    old_tree, new_tree = _tree_of(old), _tree_of(new)
    if "name" in old or "name" in new:
        if old.get("name") != new.get("name"):
            lines.append(f'Name: "{old.get("name", "")}" → "{new.get("name", "")}"')
        if (old.get("description") or "") != (new.get("description") or ""):
            before, after = old.get("description") or "", new.get("description") or ""
            lines.append(f'Description: "{_short(before)}" → "{_short(after)}"')
    types = _guess_types([old_tree, new_tree], dict(trait_types or {}), dict(company_types or {}))
    before = tree.parse(old_tree, *types)
    after = tree.parse(new_tree, *types)
    _diff_group(before, after, "", names or {}, lines)
    return lines


def parse(
    version: Mapping[str, Any],
    trait_types: Mapping[str, str] | None = None,
    company_types: Mapping[str, str] | None = None,
) -> tree.Group:
    """A version's tree, its rules on traits deleted since read as they were saved."""
    definition = _tree_of(version)
    types = _guess_types([definition], dict(trait_types or {}), dict(company_types or {}))
    return tree.parse(definition, *types)


def outline(
    version: Mapping[str, Any],
    names: Mapping[Any, str] | None = None,
    trait_types: Mapping[str, str] | None = None,
    company_types: Mapping[str, str] | None = None,
) -> list[str]:
    """A version's rules in words, one line a top node (a group in one line)."""
    top = parse(version, trait_types, company_types)
    if not top.nodes:
        return ["No rules: every identified user."]
    return [tree.describe(node, names or {}, top=False) for node in top.nodes]


def _tree_of(version: Mapping[str, Any]) -> Mapping[str, Any]:
    if "match" in version:
        return version
    return version.get("definition") or {"match": tree.ALL, "rules": []}


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _guess(operator: Any, value: Any) -> str:
    """A type the rule's operator and value fit, for a trait whose type is not known (deleted
    since): the words then say the rule as it was saved."""
    op = OPERATORS.get(operator) if isinstance(operator, str) else None
    for candidate in op.types if op else ():
        try:
            clean_value(candidate, operator, value)
        except RuleError:
            continue
        return candidate
    return "string"


def _guess_types(
    definitions: list[Any], traits: dict[str, str], companies: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    def visit(node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        if isinstance(node.get("rules"), list):
            for child in node["rules"]:
                visit(child)
            return
        for key, known in ((COMPANY_TRAIT, companies), ("trait", traits)):
            name = node.get(key)
            if isinstance(name, str) and name not in known:
                known[name] = _guess(node.get("operator"), node.get("value"))

    for definition in definitions:
        visit(definition)
    return traits, companies


def noun(node: tree.Node) -> str:
    if isinstance(node, tree.Group):
        return "group"
    if isinstance(node, tree.Ref):
        return "segment reference"
    if isinstance(node, tree.EventCondition):
        return "event condition"
    if isinstance(node, tree.ExperienceCondition):
        return "experience condition"
    if isinstance(node, tree.CompanyTraitCondition | tree.CompanyUsersCondition):
        return "company condition"
    return "rule"


def _words(node: tree.Node, names: Mapping[Any, str]) -> str:
    return tree.describe(node, names, top=False)


def _diff_group(
    old: tree.Group, new: tree.Group, prefix: str, names: Mapping[Any, str], lines: list[str]
) -> None:
    if old.match != new.match:
        where = f"group {prefix[:-1]}" if prefix else "Users must match"
        lines.append(f"{where}: {MATCH_WORDS[old.match]} → {MATCH_WORDS[new.match]}")
    before = [_words(n, names) for n in old.nodes]
    after = [_words(n, names) for n in new.nodes]
    matcher = SequenceMatcher(a=before, b=after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = 0
        if op == "replace":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=False):
                a, b = old.nodes[i], new.nodes[j]
                if noun(a) != noun(b):
                    break
                paired += 1
                label = f"{noun(b)} {prefix}{j + 1}"
                if isinstance(a, tree.Group) and isinstance(b, tree.Group):
                    _diff_group(a, b, f"{prefix}{j + 1}.", names, lines)
                else:
                    lines.append(f"{label}: `{before[i]}` → `{after[j]}`")
        for i in range(i1 + paired, i2):
            lines.append(f"{_label(old.nodes[i], prefix, i)} removed: `{before[i]}`")
        for j in range(j1 + paired, j2):
            lines.append(f"{_label(new.nodes[j], prefix, j)} added: `{after[j]}`")


def _label(node: tree.Node, prefix: str, index: int) -> str:
    label = f"{noun(node)} {prefix}{index + 1}"
    if isinstance(node, tree.Group):
        label += f" ({MATCH_WORDS[node.match]})"
    return label
