"""Event, experience and company conditions in words, with the user's actual counts and
times or their company's trait value and count (segments/explaining.py): what the user page
and "Preview as a user" show. No database."""

from datetime import UTC, datetime

from segments.accounts import CompanyTraitCondition, CompanyUsersCondition
from segments.activity import summarise
from segments.behaviour import EventCondition, ExperienceCondition
from segments.evaluator import Condition
from segments.explaining import (
    CompanyFacts,
    ago,
    company_trait_reason,
    company_users_reason,
    event_reason,
    experience_reason,
    moment,
)

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0


def did(*hours_ago, kept=4):
    return summarise([("project_created", NOW - h * HOUR) for h in hours_ago], kept=kept)


def reason(operator, value, within_days=None, activity=None):
    node = EventCondition("project_created", operator, value, within_days)
    return event_reason(node, activity if activity is not None else did(), NOW)


def test_moment_is_utc_to_the_minute():
    assert moment(datetime(2026, 11, 30, 14, 2, 59, tzinfo=UTC).timestamp()) == (
        "2026-11-30 14:02 UTC"
    )


def test_never_did_it__whatever_the_operator():
    for operator, value in (("at_least", 3), ("exactly", 0), ("first_within_last_days", 7)):
        assert reason(operator, value, activity={}) == "never did project_created"


def test_a_count__in_all__or_in_the_window_with_the_last_time():
    activity = did(4, 30, 24 * 9)
    last = moment(NOW - 4 * HOUR)
    assert reason("at_least", 3, activity=activity) == f"3 times in all (last on {last})"
    assert reason("at_least", 3, 7, activity) == f"2 times in the last 7 days (last on {last})"
    assert reason("exactly", 1, 1, activity) == f"once in the last 1 days (last on {last})"
    assert reason("at_most", 0, 1, did(30)) == (
        f"0 times in the last 1 days (last on {moment(NOW - 30 * HOUR)})"
    )


def test_a_window_fuller_than_the_times_kept__says_at_least():
    """The summary keeps the latest few times (enough for every rule to be exact): when all of
    them are in the window and there were more, the window has at least that many."""
    activity = did(1, 2, 3, 4, 5, 6, kept=4)
    assert reason("at_least", 3, 7, activity).startswith("at least 4 times in the last 7 days")
    # Some kept times outside the window: the count is exact.
    activity = did(1, 2, 24 * 10, 24 * 11, 24 * 12, kept=4)
    assert reason("at_least", 3, 7, activity).startswith("2 times in the last 7 days")


def test_first_and_last_times__with_how_long_ago():
    activity = did(5, 24 * 3 + 12)
    first, last = moment(NOW - (24 * 3 + 12) * HOUR), moment(NOW - 5 * HOUR)
    assert (
        reason("first_within_last_days", 7, activity=activity) == f"first on {first}, 3.5 days ago"
    )
    assert reason("last_more_than_days_ago", 1, activity=activity) == f"last on {last}, 5 hours ago"


def test_ago__hours_then_days_with_one_decimal():
    assert ago(NOW - 20 * 60, NOW) == "less than an hour ago"
    assert ago(NOW - HOUR, NOW) == "1 hour ago"
    assert ago(NOW - 2 * DAY, NOW) == "2 days ago"
    assert ago(NOW - 6.96 * DAY, NOW) == "6.9 days ago"  # inside 7 days: never "7 days"
    assert ago(NOW + 60, NOW) == "in the future"


def test_an_experience__what_happened_and_when__and_what_did_not():
    shown, done = NOW - 2 * DAY, NOW - DAY
    activity = summarise([], [(7, "shown", shown), (7, "completed", done), (8, "shown", shown)])
    completed = ExperienceCondition(7, "completed")
    assert experience_reason(completed, activity) == (
        f"shown on {moment(shown)}, completed on {moment(done)}"
    )
    assert experience_reason(ExperienceCondition(8, "completed"), activity) == (
        f"shown on {moment(shown)}, not completed"
    )
    assert experience_reason(ExperienceCondition(8, "dismissed"), activity) == (
        f"shown on {moment(shown)}, not dismissed"
    )
    assert experience_reason(ExperienceCondition(9, "seen"), activity) == "never shown"


def test_a_company_is_called_by_its_name_trait__else_by_its_id():
    assert CompanyFacts.of("acme-1", {"name": " Acme "}, {}).label == "Acme"
    assert CompanyFacts.of("acme-1", {"name": ""}, {}).label == "acme-1"
    assert CompanyFacts.of("acme-1", {"name": 42}, {}).label == "acme-1"
    assert CompanyFacts.of("acme-1", None, {}).label == "acme-1"


def test_a_company_trait__the_companys_value_not_set_or_not_of_the_type():
    acme = CompanyFacts("Acme", {"plan": "trial", "seats": "many", "active": True})

    def reason(trait, type_, operator="equals", value="x"):
        node = CompanyTraitCondition(Condition(trait, type_, operator, value))
        return company_trait_reason(node, acme)

    assert reason("plan", "string") == 'Acme\'s plan is "trial"'
    assert reason("active", "boolean", "is_true", None) == "Acme's active is true"
    assert reason("seats", "number", "greater_than", 3) == 'Acme\'s seats is "many" (not a number)'
    assert reason("region", "string") == "Acme's region is not set"
    node = CompanyTraitCondition(Condition("plan", "string", "is_not_set"))
    assert company_trait_reason(node, None) == "no company (every company trait is missing)"


def test_a_company_count__how_many_beside_what_the_rule_needs():
    names = {7: "Completed setup"}
    acme = CompanyFacts("Acme", {}, {7: 2, 8: 1})

    def reason(operator, value, segment=7, company=acme):
        return company_users_reason(CompanyUsersCondition(segment, operator, value), company, names)

    assert reason("at_least", 3) == 'Acme has 2 users in "Completed setup" (needs at least 3)'
    assert reason("exactly", 1, segment=8) == (
        "Acme has 1 user in a segment that is gone (needs exactly 1)"
    )
    assert reason("at_most", 0, segment=9) == (
        "Acme has 0 users in a segment that is gone (needs at most 0)"
    )  # a segment the caller did not count: 0
    assert reason("at_most", 5, company=None) == (
        'no company, so 0 users in "Completed setup" (needs at most 5)'
    )
