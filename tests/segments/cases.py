"""Worked examples of every operator: (trait type, operator, rule value, stored value, match).

``MISSING`` stands for a user without the trait. Each case runs through both engines: the
in-memory evaluator (test_evaluator.py) and SQL (test_sql.py).
"""

from datetime import UTC, datetime

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MISSING = object()

CASES = [
    # string: case-insensitive unless "match case", for all of Unicode
    ("string", "equals", "free", "free", True),
    ("string", "equals", "free", "FREE", True),
    ("string", "equals", "free", "Free plan", False),
    ("string", "equals", "über", "ÜBER", True),
    ("string", "equals", "i̇stanbul", "İSTANBUL", True),  # full Unicode lowercase of İ
    ("string", "equals", "οδος", "ΟΔΟΣ", True),  # Greek final sigma
    ("string", "equals", "42", 42, True),
    ("string", "equals", "12.5", 12.5, True),
    ("string", "equals", "true", True, True),
    ("string", "equals", "free", MISSING, False),
    ("string", "equals", "free", None, False),
    ("string", "not_equals", "free", "pro", True),
    ("string", "not_equals", "free", "Free", False),
    ("string", "not_equals", "free", MISSING, True),
    ("string", "not_equals", "free", None, True),
    ("string", "contains", "acme", "Acme Corp", True),
    ("string", "contains", "über", "ÜBERMENSCH", True),
    ("string", "contains", "100%", "100% sure", True),
    ("string", "contains", "a_b", "axb", False),
    ("string", "contains", "acme", MISSING, False),
    ("string", "not_contains", "acme", "Globex", True),
    ("string", "not_contains", "acme", "ACME", False),
    ("string", "not_contains", "acme", MISSING, True),
    ("string", "starts_with", "ac", "Acme", True),
    ("string", "starts_with", "me", "Acme", False),
    ("string", "starts_with", "acme inc", "Acme", False),
    ("string", "ends_with", "corp", "Acme Corp", True),
    ("string", "ends_with", "acme", "Acme Corp", False),
    ("string", "ends_with", "big acme corp", "acme corp", False),
    ("string", "in", ["free", "pro"], "PRO", True),
    ("string", "in", ["free", "pro"], "enterprise", False),
    ("string", "in", ["1", "2"], 2, True),
    ("string", "in", ["free"], MISSING, False),
    ("string", "not_in", ["free", "pro"], "enterprise", True),
    ("string", "not_in", ["free", "pro"], "Free", False),
    ("string", "not_in", ["free", "pro"], MISSING, True),
    ("string", "is_set", None, "", True),
    ("string", "is_set", None, None, False),
    ("string", "is_set", None, MISSING, False),
    ("string", "is_not_set", None, MISSING, True),
    ("string", "is_not_set", None, None, True),
    ("string", "is_not_set", None, "x", False),
    # number: stored numbers and numeric text compare as numbers; booleans are not numbers
    ("number", "equals", 12, 12, True),
    ("number", "equals", 12, "12", True),
    ("number", "equals", 12, 12.0, True),
    ("number", "equals", 12, " 12.0 ", True),
    ("number", "equals", 1, True, False),
    ("number", "equals", 12, "twelve", False),
    ("number", "not_equals", 12, "twelve", True),
    ("number", "not_equals", 12, MISSING, True),
    ("number", "not_equals", 12, 13, True),
    ("number", "greater_than", 10, 11, True),
    ("number", "greater_than", 10, 10, False),
    ("number", "greater_than", 10, "1e2", True),
    ("number", "greater_than", 10, "5e100", False),  # a three-digit exponent is not a number
    ("number", "between", [10, 50], 10, True),
    ("number", "between", [10, 50], 50, True),
    ("number", "between", [10, 50], "30", True),
    ("number", "between", [10, 50], 50.5, False),
    ("number", "between", [10, 50], "lots", False),
    ("number", "between", [10, 50], MISSING, False),
    ("number", "not_between", [10, 50], 5, True),
    ("number", "not_between", [10, 50], 30, False),
    ("number", "not_between", [10, 50], MISSING, True),
    ("number", "greater_than", 10, "11 people", False),
    ("number", "greater_than_or_equal", 10, 10, True),
    ("number", "greater_than_or_equal", 10, 9.99, False),
    ("number", "less_than", 0.5, 0.25, True),
    ("number", "less_than", 0.5, -3, True),
    ("number", "less_than", 0.5, MISSING, False),
    ("number", "less_than_or_equal", 100, 100, True),
    ("number", "less_than_or_equal", 100, 100.5, False),
    ("number", "in", [1, 2, 3], "2", True),
    ("number", "in", [1, 2, 3], 4, False),
    ("number", "not_in", [1, 2, 3], 4, True),
    ("number", "not_in", [1, 2, 3], 3.0, False),
    # date: ISO 8601 text or a Unix timestamp (seconds; above 10^11 milliseconds), UTC
    ("date", "within_last_days", 7, "2026-11-25", True),
    ("date", "within_last_days", 7, "2026-11-21T12:00:00Z", True),
    # day windows count calendar days in UTC, today included in both directions
    ("date", "within_last_days", 7, "2026-11-21T00:00:00Z", True),
    ("date", "within_last_days", 7, "2026-11-20T23:59:59Z", False),
    ("date", "within_last_days", 7, "2026-11-28T23:00:00Z", True),
    ("date", "within_last_days", 1, "2026-11-27", True),
    ("date", "within_last_days", 1, "2026-11-28", True),
    ("date", "within_last_days", 1, "2026-11-26T23:59:59Z", False),
    ("date", "within_last_days", 7, "2026-11-29", False),
    ("date", "within_last_days", 7, 1795266000, True),  # 2026-11-21 13:00 UTC
    ("date", "within_last_days", 7, 1795258800, True),  # 2026-11-21 11:00 UTC
    ("date", "within_last_days", 7, 1795219199, False),  # 2026-11-20 23:59:59 UTC
    ("date", "within_last_days", 7, 1795266000000, True),
    ("date", "within_last_days", 7, "2026-11-25T10:00:00+05:00", True),
    ("date", "within_last_days", 7, "last week", False),
    ("date", "within_last_days", 7, "2026-02-30", False),
    ("date", "more_than_days_ago", 30, "2026-10-01", True),
    ("date", "more_than_days_ago", 30, "2026-11-01", False),
    ("date", "more_than_days_ago", 30, "2026-10-28T23:59:59Z", True),
    ("date", "more_than_days_ago", 30, "2026-10-29", False),
    ("date", "more_than_days_ago", 30, MISSING, False),
    ("date", "within_next_days", 3, "2026-11-30", True),
    ("date", "within_next_days", 3, "2026-12-02", False),
    ("date", "within_next_days", 3, "2026-11-27", False),
    ("date", "within_next_days", 3, "2026-12-01T23:59:59Z", True),
    ("date", "within_next_days", 1, "2026-11-28", True),  # "trial ends today", all day
    ("date", "within_next_days", 1, "2026-11-28T00:00:00Z", True),
    ("date", "between", ["2026-11-01", "2026-11-30"], "2026-11-01", True),
    ("date", "between", ["2026-11-01", "2026-11-30"], "2026-11-30T23:59:59Z", True),
    ("date", "between", ["2026-11-01", "2026-11-30"], "2026-12-01", False),
    ("date", "between", ["2026-11-01", "2026-11-30"], "2026-10-31T23:59:59Z", False),
    ("date", "between", ["2026-11-01", "2026-11-20T12:00:00Z"], "2026-11-20T12:00:01Z", False),
    ("date", "between", ["2026-11-01", "2026-11-30"], MISSING, False),
    ("date", "not_between", ["2026-11-01", "2026-11-30"], "2026-12-01", True),
    ("date", "not_between", ["2026-11-01", "2026-11-30"], "2026-11-15", False),
    ("date", "not_between", ["2026-11-01", "2026-11-30"], MISSING, True),
    ("date", "before", "2026-11-20", "2026-11-19T23:59:59Z", True),
    ("date", "before", "2026-11-20", "2026-11-20", False),
    ("date", "after", "2026-11-20", "2026-11-20T00:00:01Z", True),
    ("date", "after", "2026-11-20T00:00:00Z", "2026-11-20", False),
    ("date", "is_set", None, "not a date", True),
    # up to nine fractional digits (Go, Java); those past microseconds are dropped
    ("date", "after", "2026-11-20", "2020-06-09T18:53:52.123456789Z", False),
    ("date", "after", "2020-06-09", "2020-06-09T18:53:52.123456789Z", True),
    ("date", "before", "2020-06-09T18:53:52.123457Z", "2020-06-09T18:53:52.123456789Z", True),
    ("date", "before", "2020-06-09T18:53:52.123456Z", "2020-06-09T18:53:52.1234569Z", False),
    # boolean: true/false, and the text "true"/"false" in any case
    ("boolean", "is_true", None, True, True),
    ("boolean", "is_true", None, "TRUE", True),
    ("boolean", "is_true", None, 1, False),
    ("boolean", "is_true", None, False, False),
    ("boolean", "is_false", None, "false", True),
    ("boolean", "is_false", None, MISSING, False),
    ("boolean", "is_not_set", None, False, False),
]


def case_id(case: tuple) -> str:
    trait_type, operator, value, stored, expected = case
    shown = "missing" if stored is MISSING else repr(stored)
    verdict = "matches" if expected else "does_not_match"
    return f"{trait_type}-{operator}-{value!r}--{shown}--{verdict}"
