"""One meaning, two engines: for any stored traits and any rule, ``Segment.matches`` (Python)
and ``Segment.members`` (SQL) pick the same users, on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.codegen import CompiledSegment, compile_segments
from segments.coerce import DAY, iso_micros, now_seconds
from segments.evaluator import Condition
from segments.models import EndUser
from segments.operators import OPERATORS, clean_value
from segments.sql import conditions_q
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
MISSING = object()

# Text: any Unicode scalar that JSON and PostgreSQL can store (no NUL, no lone surrogate),
# weighted towards letters with case so that folding is exercised.
unicode_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)
cased_text = st.text(st.sampled_from("aAbBzZ üÜßẞİıΣσςΑαÅåǅǆ0%_-.12"), max_size=6)
texts = st.one_of(cased_text, unicode_text)

numbers = st.one_of(
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.integers(min_value=-20, max_value=20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.5, 1e-07, 1e16, 12.0, -0.0, 2.5e-5, 123456.789]),
)
numeric_text = st.builds(
    lambda sign, whole, frac, exp, pad: f"{pad}{sign}{whole}{frac}{exp}{pad}",
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["0", "1", "12", "007", "99999999999999999999", ""]),
    st.sampled_from(["", ".", ".5", ".25", ".000000000000000000001"]),
    st.sampled_from(["", "e2", "E-3", "e+99", "e100"]),
    st.sampled_from(["", " ", "\t", "\n"]),
)


def iso(dt: datetime, style: int) -> str:
    if style == 0:
        return dt.strftime("%Y-%m-%d")
    if style == 1:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 2:
        return dt.isoformat(timespec="microseconds")
    shifted = dt.astimezone(UTC) + timedelta(hours=5, minutes=30)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S") + "+05:30"


# Dates around every boundary the date operators draw: now, and now ± N days, ± a second.
offsets = st.builds(
    lambda days, delta: days * DAY + delta,
    st.sampled_from([0, 1, 7, 30, -1, -7, -30]),
    # NOW is 12:00:00.123456 UTC: -43200.123456 is midnight, 43199.876543 a microsecond
    # before the next one (the day windows count calendar days).
    st.sampled_from([0, 1, -1, 0.5, -0.5, 3600, -86399, -43200.123456, 43199.876543]),
)
dates = st.one_of(
    st.builds(
        lambda off, style: iso(NOW + timedelta(seconds=off), style), offsets, st.integers(0, 3)
    ),
    st.builds(lambda off: round(now_seconds(NOW) + off), offsets),
    st.builds(lambda off: round((now_seconds(NOW) + off) * 1000), offsets),
    st.sampled_from(
        [
            "2026-02-29",
            "2024-02-29",
            "2026-13-01",
            "0000-01-01",
            "9999-12-31T23:59:59-05:00",
            "2026-11-28T24:00:00",
            "2026-11-28\n",
            "1e11",
            "2026-11-28T12:00:00.5+14:59",
        ]
    ),
)
booleans_text = st.sampled_from(["true", "TRUE", "False", "yes", "1", "tRuE ", "ｔｒｕｅ"])

stored_values = st.one_of(
    st.just(MISSING),
    st.none(),
    st.booleans(),
    numbers,
    texts,
    numeric_text,
    dates,
    booleans_text,
)


@st.composite
def conditions(draw, stored):
    operator = draw(st.sampled_from(sorted(OPERATORS)))
    op = OPERATORS[operator]
    trait_type = draw(st.sampled_from(op.types))
    kind = op.value_kind(trait_type)
    # Often compare against a value a user actually has, so that rules do match.
    seen = [v for v in stored if v is not MISSING and v is not None]

    def text() -> str:
        if seen and draw(st.booleans()):
            value = draw(st.sampled_from(seen))
            value = value if isinstance(value, str) else str(value)
            # The same word in another case: folding must agree between the engines.
            value = draw(st.sampled_from([str, str.upper, str.lower, str.swapcase]))(value)
            if operator in ("contains", "not_contains", "starts_with", "ends_with") and value:
                start = draw(st.integers(0, len(value) - 1))
                value = value[start : draw(st.integers(start + 1, len(value)))]
            if value.strip():
                return value
        return draw(texts.filter(lambda s: s.strip()))

    def number() -> float:
        candidates = [v for v in seen if type(v) in (int, float)]
        if candidates and draw(st.booleans()):
            return draw(st.sampled_from(candidates))
        return draw(numbers)

    if kind == "text":
        value = text()
    elif kind == "number":
        value = number()
    elif kind == "list":
        item = number if trait_type == "number" else text
        value = [item() for _ in range(draw(st.integers(1, 3)))]
    elif kind == "days":
        value = draw(st.sampled_from([1, 7, 30]))
    elif kind == "date":
        value = iso(NOW + timedelta(seconds=draw(offsets)), draw(st.integers(0, 3)))
    elif kind == "range":
        if trait_type == "number":
            value = sorted([number(), number()])
        else:
            ends = [iso(NOW + timedelta(seconds=draw(offsets)), draw(st.integers(0, 3)))]
            ends.append(iso(NOW + timedelta(seconds=draw(offsets)), draw(st.integers(0, 3))))
            value = sorted(ends, key=iso_micros)
    else:
        value = None
    value = clean_value(trait_type, operator, value)
    if draw(st.integers(0, 7)) == 0:
        # A stored value no save path produces (a list as text, a date with spaces, a number
        # for a text rule, a value left behind by a retyped trait): both engines must still
        # agree, and what cannot be read matches nobody.
        value = draw(raw_values)
    return Condition("t", trait_type, operator, value, draw(st.booleans()))


raw_values = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    texts,
    dates.map(lambda d: f" {d} " if isinstance(d, str) else d),
    st.lists(st.one_of(texts, numbers), max_size=3),
    st.just("free, pro"),
)


@st.composite
def scenarios(draw):
    stored = draw(st.lists(stored_values, min_size=1, max_size=6))
    rules = [draw(conditions(stored)) for _ in range(draw(st.integers(1, 2)))]
    return stored, rules


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_evaluator_and_sql_agree(scenario):
    stored, rules = scenario
    segment = CompiledSegment(rules)
    now = now_seconds(NOW)
    savepoint = transaction.savepoint_create()
    try:
        application = ApplicationFactory()
        users = EndUser.objects.bulk_create(
            EndUser(
                application=application,
                external_id=str(i),
                traits={} if value is MISSING else {"t": value},
            )
            for i, value in enumerate(stored)
        )
        expected = {u.external_id for u in users if segment.matches(u.traits, now)}
        # The generated hot path and the per-rule reference (used by "why" screens) agree.
        # So does the serve's one function for many segments, which shares identical rules.
        shared = compile_segments({0: rules, 1: rules[:1], 2: rules[::-1]})
        for user in users:
            passes = segment.explain(user.traits, now)
            assert all(passes) == segment.matches(user.traits, now)
            assert shared(user.traits, now) == {0: all(passes), 1: passes[0], 2: all(passes)}
        in_sql = set(
            EndUser.objects.filter(application=application)
            .filter(conditions_q(rules, NOW))
            .values_list("external_id", flat=True)
        )
        # Read back what the database stored: the evaluator must agree on that too.
        reloaded = {
            u.external_id: u.traits for u in EndUser.objects.filter(application=application)
        }
        assert expected == {i for i, t in reloaded.items() if segment.matches(t, now)}
        assert in_sql == expected, {
            "rules": [r.describe() for r in rules],
            "stored": {i: reloaded[i].get("t", "<missing>") for i in reloaded},
        }
    finally:
        transaction.savepoint_rollback(savepoint)
