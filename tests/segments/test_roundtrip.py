"""A rule's stored value survives opening the Edit Segment form and saving it: for every
operator and every value a save path can store (the UI, the API, import), the form shows
what reads back to the same value, so saving without touching anything changes nothing."""

import json
from html.parser import HTMLParser

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.models import Segment, TraitDefinition
from segments.operators import OPERATORS, clean_value
from tests.factories import saved_segment

pytestmark = pytest.mark.django_db


class FormFields(HTMLParser):
    """What a browser submits for the page's segment form (buttons left out)."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") in ("submit", "button"):
                return
            default = "on" if a.get("type") in ("checkbox", "radio") else ""
            self.fields.append((name, a.get("value", default) or ""))
        elif tag == "select" and name and "disabled" not in a:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data):
        if self._textarea:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


# Text a browser keeps in an <input type=text> (it drops line breaks), with the characters
# that used to break the round trip: commas, quotes, spaces around.
line_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',"  '),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip())
numbers = st.one_of(
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1e-07, 1.5e300, -2.5, 12.0, 2**53 + 2.0]),
)
dates = st.one_of(
    st.dates().map(lambda d: f"{d:%Y}-{d:%m}-{d:%d}".zfill(10)),
    st.sampled_from(["2026-11-20T14:30:00Z", "2026-11-20T14:30:00.25+05:30", "2026-11-20 08:00"]),
).filter(lambda d: not d.startswith("0000"))


@st.composite
def stored_rules(draw):
    operator = draw(st.sampled_from(sorted(OPERATORS)))
    op = OPERATORS[operator]
    trait_type = draw(st.sampled_from(op.types))
    kind = op.value_kind(trait_type)
    value = {
        "text": line_text,
        "number": numbers,
        "list": st.lists(numbers if trait_type == "number" else line_text, min_size=1, max_size=4),
        "days": st.integers(1, 36500),
        "date": dates,
        "range": st.lists(numbers if trait_type == "number" else dates, min_size=2, max_size=2),
        "none": st.none(),
    }[kind]
    raw = draw(value)
    if kind == "range":
        raw = sorted(raw) if trait_type == "number" else sorted(raw, key=lambda d: d[:10])
    try:
        stored = clean_value(trait_type, operator, raw)
    except Exception:
        stored = None
    from hypothesis import assume

    assume(stored is not None or kind == "none")
    return trait_type, operator, stored, draw(st.booleans())


@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(rule=stored_rules())
def test_opening_the_edit_form_and_saving__changes_no_rule_value(client, app, rule):
    trait_type, operator, stored, case_sensitive = rule
    savepoint = transaction.savepoint_create()
    try:
        TraitDefinition.objects.get_or_create(
            application=app, key="t", defaults={"type": trait_type}
        )
        TraitDefinition.objects.filter(application=app, key="t").update(type=trait_type)
        segment = saved_segment(app, "Round trip", [("t", operator, stored, case_sensitive)])
        before = segment.rules.get()
        edit = reverse("segments:edit", args=[app.pk, segment.pk])

        form = FormFields()
        form.feed(client.get(edit).content.decode())
        data: dict[str, list[str]] = {}
        for name, value in form.fields:
            data.setdefault(name, []).append(value)
        response = client.post(edit, data)

        assert response.status_code == 302, response.content.decode()[:2000]
        after = Segment.objects.get(pk=segment.pk).rules.get()
        assert json.dumps(after.value) == json.dumps(before.value), (before.value, after.value)
        assert after.operator == before.operator
        assert after.case_sensitive == before.case_sensitive
    finally:
        transaction.savepoint_rollback(savepoint)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(rule=stored_rules(), match=st.sampled_from(["all", "any", "none"]))
def test_opening_a_nested_tree_and_saving__changes_nothing(client, app, rule, match):
    """The same for a rule two groups deep beside a segment condition: the builder shows the
    tree as stored, and posting it back stores the same definition."""
    from segments import actions

    trait_type, operator, stored, case_sensitive = rule
    savepoint = transaction.savepoint_create()
    try:
        TraitDefinition.objects.get_or_create(
            application=app, key="t", defaults={"type": trait_type}
        )
        TraitDefinition.objects.filter(application=app, key="t").update(type=trait_type)
        node = {"trait": "t", "operator": operator, "case_sensitive": case_sensitive}
        if stored is not None or OPERATORS[operator].value_kind(trait_type) != "none":
            node["value"] = stored
        everyone = Segment.objects.get(application=app, is_builtin=True)
        definition = {
            "match": match,
            "rules": [
                {"match": "none", "rules": [{"match": "any", "rules": [node]}]},
                {"segment": everyone.pk},
            ],
        }
        segment = actions.segment_create(application=app, name="Nested", definition=definition)
        before = Segment.objects.get(pk=segment.pk).definition
        edit = reverse("segments:edit", args=[app.pk, segment.pk])

        form = FormFields()
        form.feed(client.get(edit).content.decode())
        data: dict[str, list[str]] = {}
        for name, value in form.fields:
            data.setdefault(name, []).append(value)
        response = client.post(edit, data)

        assert response.status_code == 302, response.content.decode()[:2000]
        after = Segment.objects.get(pk=segment.pk).definition
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
    finally:
        transaction.savepoint_rollback(savepoint)


# --- Event and experience conditions -----------------------------------------------------


@st.composite
def event_nodes(draw):
    """A stored event condition: any operator, a count or a number of days, a window or not."""
    from segments.behaviour import EVENT_NAME, EVENT_OPERATORS

    operator = draw(st.sampled_from(list(EVENT_OPERATORS)))
    counts = EVENT_OPERATORS[operator].counts
    node = {
        "event": draw(st.from_regex(EVENT_NAME, fullmatch=True).filter(lambda n: len(n) <= 40)),
        "operator": operator,
        "value": draw(st.integers(0, 1000) if counts else st.integers(1, 36500)),
    }
    if counts and draw(st.booleans()):
        node["within_days"] = draw(st.integers(1, 36500))
    return node


def experience_nodes():
    """``experience`` is the index of one of two experiences, made per example."""
    states = st.sampled_from(["seen", "completed", "dismissed"])
    return st.fixed_dictionaries({"experience": st.sampled_from([0, 1]), "state": states})


trait_nodes = st.fixed_dictionaries(
    {"trait": st.just("plan"), "operator": st.just("equals"), "value": line_text,
     "case_sensitive": st.booleans()}
)  # fmt: skip
matches = st.sampled_from(["all", "any", "none"])


def groups(depth: int):
    """A group of 1 to 4 nodes, groups nested at most ``depth`` more levels."""
    leaf = st.one_of(event_nodes(), experience_nodes(), trait_nodes)
    node = leaf if depth == 0 else st.one_of(leaf, leaf, st.deferred(lambda: groups(depth - 1)))
    return st.fixed_dictionaries(
        {"match": matches, "rules": st.lists(node, min_size=1, max_size=4)}
    )


def _with_experiences(node, ids):
    if "rules" in node:
        return {**node, "rules": [_with_experiences(n, ids) for n in node["rules"]]}
    if "experience" in node:
        return {**node, "experience": ids[node["experience"]]}
    return node


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(definition=groups(3))
def test_opening_a_tree_of_event_and_experience_conditions_and_saving__changes_nothing(
    client, app, definition
):
    """Open-and-save of a stored definition with event and experience nodes (every operator,
    with and without a window, every state, nested in groups beside trait rules) stores the
    same definition."""
    from segments import actions
    from tests.factories import ExperienceFactory

    savepoint = transaction.savepoint_create()
    try:
        ids = [ExperienceFactory(application=app).pk for _ in range(2)]
        segment = actions.segment_create(
            application=app, name="Behaviour", definition=_with_experiences(definition, ids)
        )
        before = Segment.objects.get(pk=segment.pk).definition
        edit = reverse("segments:edit", args=[app.pk, segment.pk])

        form = FormFields()
        form.feed(client.get(edit).content.decode())
        data: dict[str, list[str]] = {}
        for name, value in form.fields:
            data.setdefault(name, []).append(value)
        response = client.post(edit, data)

        assert response.status_code == 302, response.content.decode()[:2000]
        after = Segment.objects.get(pk=segment.pk).definition
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
    finally:
        transaction.savepoint_rollback(savepoint)
