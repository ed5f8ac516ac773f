"""Holdouts: who is held out (a stable hash), and a serve that never serves them the
experience but records them as eligible, once, beside the users it serves."""

import json
import subprocess
import sys

import pytest
from django.db import IntegrityError, transaction

from experiences import actions, serving
from experiences.holdout import APPLICATION_WIDE, bucket, held_out
from experiences.models import Exposure
from segments.activity import exposure_of
from segments.models import EndUser
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

EXPERIENCES = "/api/v1/experiences"


# --- The assignment ------------------------------------------------------------------------


def test_buckets_are_fixed_values_of_sha256_the_same_in_every_process():
    """Known values (sha256 of "app:experience:user", first 8 bytes big-endian, mod 10,000):
    a change of the function would move users between groups mid-experiment."""
    assert [bucket(1, 2, user) for user in (1, 2, 3)] == [3262, 8502, 7260]
    assert bucket(7, APPLICATION_WIDE, 42) == 9313
    assert bucket(123, 456, 789) == 1245
    # Another interpreter (another hash seed) agrees: Python's hash() would not.
    code = "from experiences.holdout import bucket; print(bucket(123, 456, 789))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "1245"


def test_held_out_follows_the_bucket_and_the_percentage():
    assert held_out(123, 456, 789, 13)  # bucket 1245 < 1300
    assert not held_out(123, 456, 789, 12)  # 1245 >= 1200
    assert not held_out(1, 2, 1, 0)


@pytest.mark.parametrize("percent", [10, 25, 50])
def test_100000_users_are_held_out_at_the_percentage_within_0_6_points(percent):
    held = sum(held_out(3, 17, user, percent) for user in range(100_000))
    assert abs(held / 100_000 - percent / 100) < 0.006


def test_raising_the_percentage_only_adds_users_to_the_holdout():
    at_10 = {u for u in range(5000) if held_out(3, 17, u, 10)}
    at_20 = {u for u in range(5000) if held_out(3, 17, u, 20)}
    assert at_10 < at_20


def test_two_experiences_hold_out_independent_users():
    """Not the same 10% every time: about 1% of users are in both holdouts."""
    both = sum(held_out(3, 17, u, 10) and held_out(3, 18, u, 10) for u in range(100_000))
    assert 0.007 < both / 100_000 < 0.013


# --- The database -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_a_holdout_above_50_percent():
    experience = PublishedExperienceFactory()
    experience.holdout_percent = 51
    with pytest.raises(IntegrityError), transaction.atomic():
        experience.save()
    app = ApplicationFactory()
    app.holdout_percent = 60
    with pytest.raises(IntegrityError), transaction.atomic():
        app.save()


# --- The serve ----------------------------------------------------------------------------


@pytest.fixture
def half_held(db):
    """A banner for everyone with a 50% holdout, and 40 users."""
    app = ApplicationFactory()
    banner = PublishedExperienceFactory(
        application=app, name="Banner", segments=[app.everyone], holdout_percent=50
    )
    users = [EndUserFactory(application=app, external_id=f"u{n}") for n in range(40)]
    return app, banner, users


def served(client, app, user):
    response = client.get(EXPERIENCES, {"key": app.public_key, "id": user, "url": "/"})
    assert response.status_code == 200
    return [e["id"] for e in response.json()["experiences"]]


def test_a_held_out_user_is_never_served_and_both_groups_are_recorded_once(client, half_held):
    app, banner, users = half_held
    for user in users:
        expected = [] if held_out(app.pk, banner.pk, user.pk, 50) else [banner.pk]
        assert served(client, app, user.external_id) == expected
        assert served(client, app, user.external_id) == expected  # the second time too
    groups = dict(Exposure.objects.values_list("end_user_id", "group"))
    assert groups == {
        u.pk: "holdout" if held_out(app.pk, banner.pk, u.pk, 50) else "treatment" for u in users
    }
    assert 0 < list(groups.values()).count("holdout") < 40


def test_after_the_first_exposure_a_serve_is_one_query_again(
    client, half_held, django_assert_num_queries
):
    app, banner, users = half_held
    served(client, app, "u1")  # warms the targeting, records the exposure
    assert exposure_of(EndUser.objects.get(pk=users[1].pk).activity, banner.pk)
    with django_assert_num_queries(1):
        served(client, app, "u1")


def test_the_first_exposure_is_one_insert_and_the_users_row_updated(
    client, half_held, django_assert_max_num_queries
):
    app, _, _ = half_held
    served(client, app, "u0")  # warms the targeting
    # lookup; savepoint; INSERT ... ON CONFLICT DO NOTHING; lock; UPDATE; release.
    with django_assert_max_num_queries(6):
        served(client, app, "u2")
    assert Exposure.objects.filter(end_user__external_id="u2").count() == 1


def test_an_exposure_written_by_a_concurrent_serve_is_kept_not_duplicated(half_held):
    app, banner, users = half_held
    for _ in range(2):
        actions.exposures_record(
            application_id=app.pk,
            end_user_id=users[0].pk,
            exposures=[(banner.pk, Exposure.Group.TREATMENT)],
        )
    assert Exposure.objects.filter(end_user=users[0]).count() == 1


def test_an_unmeasured_experience_records_nothing(client, db, django_assert_num_queries):
    app = ApplicationFactory()
    PublishedExperienceFactory(application=app, segments=[app.everyone])
    EndUserFactory(application=app, external_id="u1")
    served(client, app, "u1")
    with django_assert_num_queries(1):
        assert len(served(client, app, "u1")) == 1
    assert not Exposure.objects.exists()
    assert "g" not in EndUser.objects.get(external_id="u1").activity


def test_the_application_wide_holdout_keeps_its_users_from_every_experience(client, db):
    app = ApplicationFactory(holdout_percent=30)
    first = PublishedExperienceFactory(application=app, segments=[app.everyone], priority=2)
    second = PublishedExperienceFactory(
        application=app,
        segments=[app.everyone],
        priority=1,
        kind="tooltip",
        content={"text": "Hi", "selector": "#a"},
    )
    users = [EndUserFactory(application=app, external_id=f"u{n}") for n in range(30)]
    for user in users:
        out = held_out(app.pk, APPLICATION_WIDE, user.pk, 30)
        assert served(client, app, user.external_id) == ([] if out else [first.pk, second.pk])
        groups = set(Exposure.objects.filter(end_user=user).values_list("group", flat=True))
        assert groups == {"holdout" if out else "treatment"}
        assert Exposure.objects.filter(end_user=user).count() == 2


def test_a_held_out_experience_leaves_its_place_to_the_next_one(client, db):
    """Two tours: one runs per page. Held out of the first, the user gets the second, as
    without the first."""
    app = ApplicationFactory()
    steps = {"steps": [{"title": "Hi", "body": "Hello"}]}
    first = PublishedExperienceFactory(
        application=app,
        kind="tour",
        content=steps,
        priority=2,
        holdout_percent=50,
        segments=[app.everyone],
    )
    second = PublishedExperienceFactory(
        application=app, kind="tour", content=steps, priority=1, segments=[app.everyone]
    )
    user = next(
        u
        for n in range(100)
        if held_out(
            app.pk, first.pk, (u := EndUserFactory(application=app, external_id=f"u{n}")).pk, 50
        )
    )
    assert served(client, app, user.external_id) == [second.pk]
    exposure = Exposure.objects.get(end_user=user)
    assert (exposure.experience_id, exposure.group) == (first.pk, "holdout")


def test_the_explanation_says_the_user_is_held_out(half_held):
    app, banner, users = half_held
    user = next(u for u in users if held_out(app.pk, banner.pk, u.pk, 50))
    [decision] = serving.explain_serve(app, user, "/")
    assert not decision.served
    assert decision.reason == "held out: in its holdout group (50%)"
    assert not Exposure.objects.exists()  # an explanation writes nothing


def test_the_exposure_marker_in_the_summary_survives_json(half_held):
    app, banner, users = half_held
    actions.exposures_record(
        application_id=app.pk, end_user_id=users[0].pk, exposures=[(banner.pk, "holdout")]
    )
    stored = EndUser.objects.get(pk=users[0].pk).activity
    assert exposure_of(json.loads(json.dumps(stored)), banner.pk)[1] is None
