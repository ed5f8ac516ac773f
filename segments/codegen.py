"""Rules compiled to generated Python: the hot path of every serve.

``matches`` runs for every segment of every experience on every page load of every customer,
so rules compile to generated functions shaped like a hand-written lambda chain. Each rule is
one line: its operator's Python template (``segments/operators.py``) on the stored value's
common case (a str for a text rule, an int or float for a number rule, the coerced date or
boolean), falling back to the reference (``evaluator.value_test``) for everything else.

The generated source is kept and registered with ``linecache`` under a name such as
``<segment 12: Free admins>``, so a traceback shows the rule's line. Every value from a rule
reaches the source through ``_literal``, which emits only the exact types it knows (``repr`` of
an int, a finite float, a str or a bool) and refuses anything else; sets go to the closure.
"""

from __future__ import annotations

import itertools
import linecache
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .accounts import CompanyTraitCondition, CompanyUsersCondition
from .activity import EVENTS, EXPERIENCES, at_least_within
from .behaviour import EventCondition, Leaf
from .coerce import BOOLEAN, DATE, NUMBER, STRING, coerce_boolean, coerce_date, parse_iso
from .coerce import now_seconds as _now_seconds
from .evaluator import Condition, compile_condition, value_test
from .tree import ALL, ANY, MAX_CHAIN, NONE, Group, Ref, flat

_EXACT_INT = 2**53  # ints up to here compare the same as their float

_NAMESPACE: dict[str, Any] = {
    "now_seconds": _now_seconds,
    "parse_iso": parse_iso,
    "coerce_date": coerce_date,
    "coerce_boolean": coerce_boolean,
    "at_least_within": at_least_within,
    "EMPTY": {},
}

# Only rules counting days from now need the clock; reading it costs more than a rule.
_CLOCK = ["if now is None:", "    now = now_seconds()", "day = now // 86400.0 * 86400.0"]


def _literal(value: Any, numeric: bool) -> str:
    """A rule's value as Python source: only types whose ``repr`` is a literal of the same
    value. An integral float of a number or date rule is emitted as an int (int-to-int
    comparison is the fast one; below 2**53 it compares as its float would)."""
    kind = type(value)
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError(f"not a finite number: {value!r}")
        if numeric and value.is_integer() and abs(value) < _EXACT_INT:
            return repr(int(value))
        return repr(value)
    if kind in (int, str, bool):
        return repr(value)
    raise TypeError(f"cannot emit a {kind.__name__} into generated code")


def _magnitudes(values: Iterable[Any]) -> Iterable[float]:
    for value in values:
        if isinstance(value, list | tuple | frozenset):
            yield from _magnitudes(value)
        elif type(value) in (int, float):
            yield abs(value)


def _date_source(v: str, get: str) -> str:
    """``coerce_date`` of the value ``get`` reads, a str going straight to ``parse_iso``."""
    return f"(parse_iso({v}) if type({v} := {get}) is str else coerce_date({v}))"


def rule_source(
    i: int, condition: Condition, env: dict[str, Any], get: str, date: str | None = None
) -> str:
    """Rule ``i`` as one expression on ``get`` (a read of its trait's stored value); ``date``,
    if given, is that value already coerced to a date. Closure values go into ``env``."""
    if not condition.valid:
        return "False"
    op = condition.op
    assert op is not None
    positive = op.positive
    if positive.raw:
        source = f"({positive.python.format(x=get)})"
        return f"not {source}" if op.negates else source
    numeric = condition.type in (NUMBER, DATE)
    values = {"o": condition.operand} if positive.clock else dict(condition.bounds(0.0))
    names: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, list):
            env[f"{name}{i}"] = frozenset(value)
            names[name] = f"{name}{i}"
        else:
            names[name] = _literal(value, numeric)
    v, t = f"v{i}", f"t{i}"
    if condition.type == DATE:
        test = positive.python.format(x=t, **names)
        source = f"(({t} := {date or _date_source(v, get)}) is not None and {test})"
    elif condition.type == BOOLEAN:
        test = positive.python.format(x=t, **names)
        read = f"({v} if type({v} := {get}) is bool else coerce_boolean({v}))"
        source = f"(({t} := {read}) is not None and {test})"
    else:
        env[f"slow{i}"] = value_test(condition)
        if condition.type == STRING:
            x = f"{v}.lower()" if condition.folds else v
            common = f"type({v} := {get}) is str"
        else:
            x = v
            common = f"({t} := type({v} := {get})) is int or {t} is float"
            # An int compares with an operand below 2**53 exactly as its float would; beyond,
            # large ints take the reference path.
            if any(m >= _EXACT_INT for m in _magnitudes(values.values())):
                common = (
                    f"({t} := type({v} := {get})) is float or "
                    f"{t} is int and -{_EXACT_INT} < {v} < {_EXACT_INT}"
                )
        test = positive.python.format(x=x, **names)
        source = f"(({test}) if {common} else slow{i}({v}, now))"
    return f"not {source}" if op.negates else source


def _leaf_source(node: Leaf, reads: dict[str, str], lines: list[str]) -> str:
    """An event or experience node as one expression. What it reads from the user's activity
    summary (segments/activity.py) goes into a local once: a line added to ``lines`` on first
    use (``reads``: what has a local already)."""
    if isinstance(node, EventCondition):
        section, key, fallback = EVENTS, node.event, ""
    else:
        section, key, fallback = EXPERIENCES, str(node.experience), " or EMPTY"  # type: ignore[attr-defined]
    if section not in reads:
        reads[section] = f"{section}_"
        lines.append(f"{section}_ = (activity or EMPTY).get({_literal(section, False)}) or EMPTY")
    local = reads.get(f"{section}:{key}")
    if local is None:
        local = reads[f"{section}:{key}"] = f"{section}{len(reads)}"
        lines.append(f"{local} = {section}_.get({_literal(key, False)}){fallback}")
    return node.python(local)


def _members_read(node: CompanyUsersCondition) -> str:
    """The count a ``company_users`` node compares: 0 without a company or a member in it."""
    return f"members.get({_literal(node.segment, False)}, 0)"


def _clocked(conditions: Iterable[Condition]) -> bool:
    return any(c.valid and c.op is not None and c.op.positive.clock for c in conditions)


def _note(condition: Condition) -> str:
    """The rule in words as a trailing comment; ``repr`` keeps any line break out of it."""
    return f"  # {condition.describe()!r}"


# Generated sources stay readable in tracebacks (linecache) while their functions may live;
# the oldest are forgotten so that recompiling on every edit does not grow without end.
_SOURCES: OrderedDict[str, None] = OrderedDict()
_SOURCES_MAX = 512
_serial = itertools.count(1)


def _register(filename: str, source: str) -> None:
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    _SOURCES[filename] = None
    while len(_SOURCES) > _SOURCES_MAX:
        old, _ = _SOURCES.popitem(last=False)
        linecache.cache.pop(old, None)


def _make(name: str, title: str, env: dict[str, Any], lines: list[str]) -> Callable[..., Any]:
    """``name(traits, now=None, activity=EMPTY, company=EMPTY, members=EMPTY)`` with ``lines``
    as its body, closing over ``env``; ``activity`` is the user's summary of what they did and
    saw, ``company`` their company's traits, ``members`` {segment id: users of their company
    in it} (segments/accounts.py)."""
    body = "".join(f"        {line}\n" for line in lines)
    head = f"def {name}(traits, now=None, activity=EMPTY, company=EMPTY, members=EMPTY):"
    source = f"def make({', '.join(env)}):\n    {head}\n{body}    return {name}\n"
    filename = f"<{title} #{next(_serial)}>"
    namespace: dict[str, Any] = dict(_NAMESPACE)
    exec(compile(source, filename, "exec"), namespace)  # values only through _literal and env
    _register(filename, source)
    return namespace["make"](**env)


def _title(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch not in "<>" else "?" for ch in text)[:80]


def _tree(definition: Any) -> Group:
    """A segment as compile_segments takes it: a tree, or its rules AND'd."""
    return definition if isinstance(definition, Group) else flat(definition)


def _segments_source(
    segments: Mapping[int, Any], env: dict[str, Any], wanted: Iterable[int]
) -> tuple[list[str], dict[int, str]]:
    """The body lines that read each trait and compute each distinct rule once (one line per
    rule), then each wanted segment's answer as a local (a referenced segment's first, once,
    however many segments reference it), and {segment id: its local}.

    ``segments`` maps each id to its tree (``tree.Group``) or to its rules AND'd. A reference
    to a segment missing from ``segments``, or one that would cycle or chain too deep, is
    false."""
    trees = {sid: _tree(definition) for sid, definition in segments.items()}
    leaf_reads: dict[str, str] = {}  # what event and experience nodes read -> local
    reads: dict[tuple[str, str], str] = {}  # (traits | company, key) -> local holding its get
    dates: dict[tuple[str, str], str] = {}  # (traits | company, key) -> its coerce_date
    rules: dict[tuple[Any, ...], str] = {}  # distinct rule -> local
    lines: list[str] = []
    answers: dict[int, str] = {}
    visiting: set[int] = set()
    clocked = False

    def rule(c: Condition, source: str = "traits") -> str:
        """``source``: the dict the trait is read from (the user's traits, or ``company``)."""
        nonlocal clocked
        if not c.valid:
            return "False"
        key = (source, c.trait, c.type, c.operator, repr(c.value), c.case_sensitive)
        trait = (source, c.trait)
        if key not in rules:
            i = len(rules)
            if trait not in reads:
                reads[trait] = f"g{len(reads)}"
                lines.append(f"{reads[trait]} = {source}.get({_literal(c.trait, False)})")
            get = reads[trait]
            date = None
            positive = c.op.positive  # type: ignore[union-attr]
            if c.type == DATE and not positive.raw:
                if trait not in dates:
                    dates[trait] = f"d{len(dates)}"
                    lines.append(f"{dates[trait]} = {_date_source('x', get)}")
                date = dates[trait]
            clocked = clocked or positive.clock
            note = f"  # {'company ' if source == 'company' else ''}{c.describe()!r}"
            lines.append(f"r{i} = {rule_source(i, c, env, get, date)}{note}")
            rules[key] = f"r{i}"
        return rules[key]

    def leaf(node: Leaf) -> str:
        nonlocal clocked
        key = (node.KEY, repr(node.as_json()))
        if key not in rules:
            clocked = clocked or isinstance(node, EventCondition)
            i = len(rules)
            source = _leaf_source(node, leaf_reads, lines)
            lines.append(f"r{i} = {source}  # {node.describe()!r}")
            rules[key] = f"r{i}"
        return rules[key]

    def expression(node: Any, chain: int) -> str:
        if isinstance(node, Condition):
            return rule(node)
        if isinstance(node, CompanyTraitCondition):
            return rule(node.condition, "company")
        if isinstance(node, CompanyUsersCondition):
            return node.python(_members_read(node)) if node.segment in trees else "False"
        if isinstance(node, Leaf):
            return leaf(node)
        if isinstance(node, Ref):
            return segment(node.segment, chain + 1)
        parts = [expression(child, chain) for child in node.nodes]
        if node.match == ALL:
            return f"({' and '.join(parts)})" if parts else "True"
        if node.match == ANY:
            return f"({' or '.join(parts)})" if parts else "False"
        return f"(not ({' or '.join(parts)}))" if parts else "True"

    def segment(sid: int, chain: int) -> str:
        if sid in answers:
            return answers[sid]
        if sid not in trees or sid in visiting or chain > MAX_CHAIN:
            return "False"
        visiting.add(sid)
        answer = expression(trees[sid], chain)
        visiting.discard(sid)
        local = f"s{len(answers)}"
        lines.append(f"{local} = {answer}  # segment {sid!r}")
        answers[sid] = local
        return local

    for sid in wanted:
        segment(sid, 0)
    if clocked:
        lines[:0] = _CLOCK
    return lines, {sid: answers[sid] for sid in wanted if sid in answers}


def compile_segments(
    segments: Mapping[int, Any], wanted: Iterable[int] | None = None
) -> Callable[..., dict[int, bool]]:
    """Many segments as one generated function ``(traits, now=None) -> {segment id: matches}``.

    For a serve, which checks most segments of an application: each trait is read (and a date
    trait coerced) once, and each distinct rule is computed once, however many segments share
    it. A segment's answer is the same as its ``CompiledSegment.matches``. ``wanted``: only
    these segments' answers (the others are there for references)."""
    env: dict[str, Any] = {}
    lines, answers = _segments_source(segments, env, list(segments if wanted is None else wanted))
    entries = ", ".join(f"{_literal(sid, False)}: {answer}" for sid, answer in answers.items())
    return _make("segments", f"segments of {len(answers)}", env, [*lines, f"return {{{entries}}}"])


def compile_chooser[T](
    segments: Mapping[int, Any], choices: Sequence[tuple[T, Iterable[int]]]
) -> Callable[..., list[T]]:
    """``(traits, now=None) -> the choices, in order, with any of their segments matching``
    as one generated function: a serve's audience check of the experiences that a URL lets
    through. As ``compile_segments``, but only the segments the choices name are computed, and
    no dict is built. A segment id missing from ``segments`` (deleted since) matches nobody."""
    named = list(dict.fromkeys(sid for _, ids in choices for sid in ids if sid in segments))
    env: dict[str, Any] = {}
    lines, local = _segments_source(segments, env, named)
    lines.append("out = []")
    for k, (choice, ids) in enumerate(choices):
        tests = [local[sid] for sid in ids if sid in local]
        if tests:
            env[f"c{k}"] = choice
            lines.append(f"if {' or '.join(tests)}: out.append(c{k})")
    return _make("choose", f"chooser of {len(choices)}", env, [*lines, "return out"])


def compile_tree(
    tree: Group, segments: Mapping[int, Any] | None = None, name: str = "segment"
) -> Callable[..., bool]:
    """One segment's tree as one generated function ``(traits, now=None) -> bool`` that
    short-circuits as a hand-written one would: each rule on its own line, groups as
    parenthesised ``and`` / ``or`` / ``not (... or ...)``, a reference as the referenced
    segment's tree (``segments``: id -> tree or rules) inlined; a missing, cyclic or too deep
    reference is False."""
    trees = {sid: _tree(d) for sid, d in (segments or {}).items()}
    env: dict[str, Any] = {}
    counter = itertools.count()
    clocked = False
    reads: dict[str, str] = {}
    read_lines: list[str] = []  # what leaves read, before the expression

    def lines(node: Any, chain: int, path: frozenset[int]) -> list[str]:
        nonlocal clocked
        if isinstance(node, CompanyTraitCondition):
            c = node.condition
            i = next(counter)
            get = f"company.get({_literal(c.trait, False)})"
            clocked = clocked or (c.valid and c.op.positive.clock)  # type: ignore[union-attr]
            return [f"{rule_source(i, c, env, get)}  # {node.describe()!r}"]
        if isinstance(node, CompanyUsersCondition):
            if node.segment not in trees:
                return [f"False  # counts segment {node.segment!r}: gone"]
            return [f"{node.python(_members_read(node))}  # {node.describe()!r}"]
        if isinstance(node, Leaf):
            clocked = clocked or isinstance(node, EventCondition)
            return [f"{_leaf_source(node, reads, read_lines)}  # {node.describe()!r}"]
        if isinstance(node, Condition):
            i = next(counter)
            get = f"traits.get({_literal(node.trait, False)})"
            clocked = clocked or (node.valid and node.op.positive.clock)  # type: ignore[union-attr]
            return [f"{rule_source(i, node, env, get)}{_note(node)}"]
        if isinstance(node, Ref):
            target = trees.get(node.segment)
            if target is None or node.segment in path or chain >= MAX_CHAIN:
                return [f"False  # segment {node.segment!r}: gone, cyclic or too deep"]
            return lines(target, chain + 1, path | {node.segment})
        if not node.nodes:
            return ["True" if node.match != ANY else "False"]
        joiner = "and" if node.match == ALL else "or"
        out = ["(" if node.match != NONE else "not ("]
        for k, child in enumerate(node.nodes):
            child_lines = lines(child, chain, path)
            child_lines[0] = (f"{joiner} " if k else "") + child_lines[0]
            out += [f"    {line}" for line in child_lines]
        return [*out, ")"]

    body = lines(tree, 0, frozenset())
    body[0] = f"return {body[0]}"
    clock = _CLOCK if clocked else []
    return _make("matches", _title(name), env, [*clock, *read_lines, *body])


class CompiledSegment:
    """A segment's rules compiled once; ``matches(traits, now=None)`` runs no query.

    ``matches`` is the generated function itself (no wrapper call on the hot path): one line
    per rule, each returning False when its rule fails."""

    __slots__ = ("conditions", "matchers", "matches", "source_name")

    def __init__(self, conditions: Iterable[Condition], name: str = "segment"):
        self.conditions = tuple(conditions)
        self.matchers = tuple(compile_condition(c) for c in self.conditions)
        env: dict[str, Any] = {}
        lines = [
            f"if not {rule_source(i, c, env, f'traits.get({_literal(c.trait, False)})')}: "
            f"return False{_note(c)}"
            for i, c in enumerate(self.conditions)
        ]
        clock = _CLOCK if _clocked(self.conditions) else []
        self.matches: Callable[..., bool] = _make(
            "matches", _title(name), env, [*clock, *lines, "return True"]
        )

    def explain(self, traits: Mapping[str, Any], now: float | None = None) -> list[bool]:
        """Whether each rule passes, in order (for "why" screens)."""
        when = _now_seconds() if now is None else now
        return [matcher(traits, when) for matcher in self.matchers]
