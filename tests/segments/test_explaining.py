"""Event and experience conditions in words, with the user's actual counts and times
(segments/explaining.py): what the user page and "Preview as a user" show. No database."""

from datetime import UTC, datetime

from segments.activity import summarise
from segments.behaviour import EventCondition, ExperienceCondition
from segments.explaining import ago, event_reason, experience_reason, moment

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
