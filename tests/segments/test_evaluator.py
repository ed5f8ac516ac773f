import pytest

from segments.codegen import CompiledSegment, compile_chooser, compile_segments
from segments.coerce import coerce_date, coerce_number, now_seconds, number_text
from segments.evaluator import Condition
from segments.operators import OPERATORS, RuleError, clean_value, operators_for

from .cases import CASES, MISSING, NOW, case_id


def traits_with(stored):
    return {} if stored is MISSING else {"t": stored}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_operator_examples(case):
    trait_type, operator, value, stored, expected = case
    condition = Condition("t", trait_type, operator, value)
    assert CompiledSegment([condition]).matches(traits_with(stored), now_seconds(NOW)) is expected


def test_every_operator_has_a_worked_example():
    assert {case[1] for case in CASES} == set(OPERATORS)


def test_match_case__makes_string_comparison_exact():
    condition = Condition("plan", "string", "equals", "free", case_sensitive=True)
    segment = CompiledSegment([condition])
    assert segment.matches({"plan": "free"})
    assert not segment.matches({"plan": "Free"})


def test_rules_are_anded_and_no_rules_match_everyone():
    free_admins = CompiledSegment(
        [
            Condition("plan", "string", "equals", "free"),
            Condition("role", "string", "equals", "admin"),
        ]
    )
    assert free_admins.matches({"plan": "free", "role": "admin"})
    assert not free_admins.matches({"plan": "free", "role": "member"})
    assert CompiledSegment([]).matches({})


def test_rule_whose_trait_changed_type__matches_nobody_even_when_negated():
    assert not CompiledSegment([Condition("plan", "number", "contains", "x")]).matches(
        {"plan": "x"}
    )
    assert not CompiledSegment([Condition("plan", "number", "not_contains", "x")]).matches({})


def test_explain__says_which_rule_failed():
    segment = CompiledSegment(
        [
            Condition("plan", "string", "equals", "free"),
            Condition("role", "string", "equals", "admin"),
        ]
    )
    assert segment.explain({"plan": "free", "role": "member"}) == [True, False]


def test_numbers__coerce_from_text_but_not_from_booleans_or_words():
    assert coerce_number("12") == coerce_number(12) == coerce_number(12.0) == 12.0
    assert coerce_number(True) is None
    assert coerce_number("12abc") is None
    assert coerce_number("١٢") is None  # Arabic-Indic digits are not numbers here


def test_timestamps_above_ten_to_the_eleven__read_as_milliseconds():
    assert coerce_date(1795258800) == coerce_date(1795258800000) == 1795258800.0


def test_date_only__means_midnight_utc():
    assert coerce_date("2026-11-20") == coerce_date("2026-11-20T00:00:00Z")
    assert coerce_date("2026-11-20T05:00:00+05:00") == coerce_date("2026-11-20")


def test_number_text__is_plain_notation():
    assert number_text(1e-07) == "0.0000001"
    assert number_text(1e16) == "10000000000000000"
    assert number_text(-0.0) == "0.0"
    assert number_text(42) == "42"


@pytest.mark.parametrize(
    ("trait_type", "operator", "value", "message"),
    [
        ("number", "greater_than", "ten", "needs a number"),
        ("string", "greater_than", 3, "does not apply to a string trait"),
        ("date", "within_last_days", 0, "whole number of days"),
        ("date", "within_last_days", 2.5, "whole number of days"),
        ("string", "in", [], "at least one value"),
        ("number", "in", [1, "x"], "list item 'x' needs a number"),
        ("date", "before", "yesterday", "needs a date"),
        ("string", "equals", "  ", "needs a text value"),
        ("string", "sounds_like", "x", "is not an operator"),
    ],
)
def test_invalid_rule_values_are_refused_with_a_reason(trait_type, operator, value, message):
    with pytest.raises(RuleError, match=message):
        clean_value(trait_type, operator, value)


def test_rule_values_are_normalised():
    assert clean_value("number", "greater_than", "10") == 10
    assert clean_value("string", "in", "free, pro,free") == ["free", "pro"]
    assert clean_value("date", "within_last_days", "7") == 7
    assert clean_value("boolean", "is_true", "ignored") is None


def test_operators_for_a_type():
    assert [op.name for op in operators_for("boolean")] == [
        "is_true",
        "is_false",
        "is_set",
        "is_not_set",
    ]


def test_large_integers_compare_as_64_bit_floats_on_the_fast_path_too():
    # 2**53 + 1 is not a float: as a float it is 2**53, so it does not exceed 2**53.
    big = CompiledSegment([Condition("n", "number", "greater_than", 2**53)])
    assert not big.matches({"n": 2**53 + 1})
    assert big.matches({"n": 2**53 + 2})
    small = CompiledSegment([Condition("n", "number", "greater_than", 18)])
    assert small.matches({"n": 19}) and small.matches({"n": 18.5}) and not small.matches({"n": 18})


def test_segments_without_day_windows_never_read_the_clock(monkeypatch):
    from segments import coerce

    class NoClock:
        @staticmethod
        def now(tz=None):
            pytest.fail("read the clock")

    monkeypatch.setattr(coerce, "datetime", NoClock)
    assert CompiledSegment([Condition("plan", "string", "equals", "pro")]).matches({"plan": "PRO"})
    recent = CompiledSegment([Condition("signup", "date", "within_last_days", 7)])
    with pytest.raises(pytest.fail.Exception):
        recent.matches({"signup": "2026-11-20"})


def test_rule_whose_value_no_longer_fits_its_retyped_trait__matches_nobody():
    # "plan equals free" was saved on a text trait; then plan became a number trait.
    retyped = Condition("plan", "number", "equals", "free")
    assert not retyped.valid
    assert not CompiledSegment([retyped]).matches({"plan": "free"})
    assert not CompiledSegment([Condition("plan", "number", "not_equals", "free")]).matches({})


def test_describe__says_a_rule_that_no_longer_fits_its_trait_matches_nobody():
    assert Condition("plan", "number", "equals", "free").describe() == (
        'plan equals "free" (does not fit a number trait: matches nobody)'
    )
    assert Condition("signup", "date", "within_last_days", 7).describe() == (
        "signup is within the last 7 days"
    )


def test_compile_segments__answers_every_operator_example_as_one_segment_would():
    conditions = {i: [Condition("t", c[0], c[1], c[2])] for i, c in enumerate(CASES)}
    shared = compile_segments(conditions)
    now = now_seconds(NOW)
    for i, (_, _, _, stored, expected) in enumerate(CASES):
        assert shared(traits_with(stored), now)[i] is expected, CASES[i]


def test_compile_chooser__keeps_the_choices_whose_any_segment_matches__in_order():
    pro = Condition("plan", "string", "equals", "pro")
    admin = Condition("role", "string", "equals", "admin")
    recent = Condition("signup", "date", "within_last_days", 30)
    segments = {1: [pro], 2: [admin], 3: [pro, recent], 4: []}
    choose = compile_chooser(
        segments,
        [("a", [2]), ("b", [1, 2]), ("c", [3]), ("gone", [99]), ("d", [99, 4]), ("e", [])],
    )
    now = now_seconds(NOW)
    assert choose({"plan": "pro", "signup": "2026-11-20"}, now) == ["b", "c", "d"]
    assert choose({"plan": "PRO", "role": "admin"}, now) == ["a", "b", "d"]
    assert choose({}, now) == ["d"]
    # Each choice's answer is its segments' answers, or'ed, as compile_segments gives them.
    shared = compile_segments(segments)({"plan": "pro"}, now)
    assert choose({"plan": "pro"}, now) == ["b", "d"] and shared[1] and not shared[3]


def test_compile_segments__shares_rules_and_keeps_each_segment_apart():
    pro = Condition("plan", "string", "in", ["pro", "team"])
    recent = Condition("signup", "date", "within_last_days", 30)
    retyped = Condition("plan", "number", "equals", "free")
    shared = compile_segments(
        {
            1: [pro, recent],
            2: [pro],
            3: [],
            4: [recent, retyped],
            5: [Condition("plan", "string", "in", ["pro", "team"])],
        }
    )
    now = now_seconds(NOW)
    assert shared({"plan": "PRO", "signup": "2026-11-20"}, now) == {
        1: True, 2: True, 3: True, 4: False, 5: True
    }  # fmt: skip
    assert shared({"plan": "free", "signup": "2026-11-20"}, now) == {
        1: False, 2: False, 3: True, 4: False, 5: False
    }  # fmt: skip
    assert shared({"plan": "team"}, now) == {1: False, 2: True, 3: True, 4: False, 5: True}


# A number trait's rules, then the trait retyped to text: the stored numbers are not text
# values any save path would store, so the rules match nobody (they used to raise
# AttributeError: 'int' object has no attribute 'lower', in every engine and in the serve).
RETYPED_TO_TEXT = [
    Condition("plan", "string", "equals", 0),
    Condition("plan", "string", "in", [1]),
    Condition("plan", "string", "not_in", [1, 2]),
    Condition("plan", "string", "starts_with", 2.5, case_sensitive=True),
]
# Stored values no save path produces: a list as text, a date with spaces around it.
UNREADABLE = [
    Condition("plan", "string", "in", "free, pro"),
    Condition("signup", "date", "before", " 2026-11-20 "),
    Condition("signup", "date", "between", ["2026-11-30", "2026-11-01"]),
]


@pytest.mark.parametrize("condition", RETYPED_TO_TEXT + UNREADABLE, ids=Condition.describe)
def test_stored_value_no_save_path_produces__matches_nobody_in_every_engine(condition):
    assert not condition.valid
    everyone = [{"plan": "0"}, {"plan": "f"}, {"plan": "1"}, {"plan": "2.5x"}, {}]
    everyone += [{"signup": "2026-11-10"}, {"signup": "2026-11-19"}]
    segment = CompiledSegment([condition])
    shared = compile_segments({1: [condition], 2: []})
    choose = compile_chooser({1: [condition], 2: []}, [("a", [1]), ("b", [2])])
    for traits in everyone:
        assert not segment.matches(traits)
        assert segment.explain(traits) == [False]
        assert shared(traits) == {1: False, 2: True}
        assert choose(traits) == ["b"]
    assert "matches nobody" in condition.describe()


def test_between__is_one_row_checked_on_save():
    assert clean_value("number", "between", ["10", 50.0]) == [10, 50]
    assert clean_value("date", "between", ["2026-11-20", "2026-11-20"]) == [
        "2026-11-20",
        "2026-11-20",
    ]
    with pytest.raises(RuleError, match="low end is above the high end"):
        clean_value("number", "between", [50, 10])
    with pytest.raises(RuleError, match="low end is above the high end"):
        clean_value("date", "between", ["2026-11-21", "2026-11-20T23:59:59Z"])
    with pytest.raises(RuleError, match="two values"):
        clean_value("number", "between", [1])
    assert Condition("teamSize", "number", "between", [10, 50]).describe() == (
        "teamSize is between 10 and 50"
    )


def test_generated_code__is_readable_in_a_traceback():
    import linecache

    segment = CompiledSegment(
        [Condition("plan", "string", "equals", "free"), Condition("n", "number", "less_than", 3)],
        name="segment 12: Free admins",
    )
    filename = segment.matches.__code__.co_filename
    assert filename.startswith("<segment 12: Free admins #")
    lines = "".join(linecache.getlines(filename))
    assert "# 'plan equals \"free\"'" in lines and "# 'n is less than 3'" in lines


def test_generated_code__emits_only_literals_of_known_types():
    from segments.codegen import _literal

    assert _literal("a'b\nc", numeric=False) == repr("a'b\nc")
    assert _literal(12.0, numeric=True) == "12"
    with pytest.raises(TypeError):
        _literal(object(), numeric=False)
    with pytest.raises(TypeError):
        _literal(float("nan"), numeric=True)
