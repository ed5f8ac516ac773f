"""Names and keys under concurrency: what the actions promise (segment and experience names
unique ignoring case, trait keys unique exactly) holds in the database, and a save that loses a
race gets the same field error as one the check refused: never a 500, never a duplicate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.test import Client
from django.urls import reverse

from experiences import actions as experience_actions
from experiences.models import Experience
from segments import actions
from segments.models import Membership, Segment, TraitDefinition
from tests.factories import ApplicationFactory, MembershipFactory, TraitDefinitionFactory

CONTENT = {"text": "Hello", "position": "top", "style": "info"}


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(n)`` in ``count`` threads released together; each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        except Exception as error:  # the test inspects what each thread met
            results[n] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists on PostgreSQL")


def _letter_case(n: int, name: str) -> str:
    return [name.lower(), name.upper(), name.title(), name.swapcase()][n % 4]


# --- In the database ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Segment, Experience])
def test_names_are_unique_ignoring_case_in_the_database(model):
    application = ApplicationFactory()
    extra = {"kind": "banner"} if model is Experience else {}
    model.objects.create(application=application, name="Pro Users", **extra)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(application=application, name="PRO users", **extra)
    # Per application.
    model.objects.create(application=ApplicationFactory(), name="pro users", **extra)


@pytest.mark.django_db
def test_trait_keys_are_unique_exactly_so_plan_and_PLAN_are_two_traits():
    application = ApplicationFactory()
    actions.trait_definition_create(application=application, key="plan")
    actions.trait_definition_create(application=application, key="PLAN")
    assert sorted(application.trait_definitions.values_list("key", flat=True)) == ["PLAN", "plan"]
    with pytest.raises(ValidationError) as refused:
        actions.trait_definition_create(application=application, key="plan")
    assert refused.value.message_dict == {"key": ['A trait "plan" already exists.']}


# --- A save that lost the race (deterministic: the check is made to miss the clash) --------


def _check_misses_the_clash():
    """The state right after another request passed the same uniqueness check: every
    ``exists()`` answers False, as it did before the other row was committed."""
    return mock.patch.object(QuerySet, "exists", return_value=False)


@pytest.mark.django_db
def test_segment_create_that_loses_the_race_gets_a_field_error():
    application = ApplicationFactory()
    actions.segment_create(application=application, name="Pro")
    with _check_misses_the_clash(), pytest.raises(ValidationError) as refused:
        actions.segment_create(application=application, name="pro")
    assert refused.value.message_dict == {"name": ['A segment named "pro" already exists.']}
    assert application.segments.filter(name__iexact="pro").count() == 1


@pytest.mark.django_db
def test_segment_update_that_loses_the_race_gets_a_field_error_and_changes_nothing():
    application = ApplicationFactory()
    actions.segment_create(application=application, name="Pro")
    other = actions.segment_create(application=application, name="Free", description="kept")
    with _check_misses_the_clash(), pytest.raises(ValidationError) as refused:
        actions.segment_update(segment=other, name="PRO", description="changed")
    assert refused.value.message_dict == {"name": ['A segment named "PRO" already exists.']}
    other.refresh_from_db()
    assert (other.name, other.description) == ("Free", "kept")


@pytest.mark.django_db
def test_trait_create_that_loses_the_race_gets_a_field_error():
    application = ApplicationFactory()
    actions.trait_definition_create(application=application, key="plan")
    with _check_misses_the_clash(), pytest.raises(ValidationError) as refused:
        actions.trait_definition_create(application=application, key="plan")
    assert refused.value.message_dict == {"key": ['A trait "plan" already exists.']}


@pytest.mark.django_db
@pytest.mark.parametrize("update", [False, True])
def test_experience_save_that_loses_the_race_gets_a_field_error(update):
    application = ApplicationFactory()
    fields = {"application": application, "kind": "banner", "content": CONTENT}
    experience_actions.experience_create(name="Welcome", **fields)
    other = experience_actions.experience_create(name="Other", **fields)
    with _check_misses_the_clash(), pytest.raises(ValidationError) as refused:
        if update:
            experience_actions.experience_update(experience=other, name="WELCOME")
        else:
            experience_actions.experience_create(name="WELCOME", **fields)
    assert refused.value.message_dict == {"name": ['An experience named "WELCOME" already exists.']}
    assert Experience.objects.filter(application=application, name__iexact="welcome").count() == 1


@pytest.mark.django_db
def test_a_lost_race_in_the_edit_form_is_an_inline_error_not_a_500(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    application = membership.application
    actions.segment_create(application=application, name="Pro")
    other = actions.segment_create(application=application, name="Free")
    url = reverse("segments:edit", args=[application.pk, other.pk])
    with _check_misses_the_clash():
        response = client.post(url, {"name": "PRO", "description": "", "rules": []})
    assert response.status_code == 400
    assert "A segment named &quot;PRO&quot; already exists." in response.content.decode()


# --- Real threads on PostgreSQL ------------------------------------------------------------


def _logged_in(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.mark.django_db(transaction=True)
def test_parallel_renames_to_one_name_in_any_case_leave_one_and_no_500():
    postgresql_only()
    membership = MembershipFactory()
    application = membership.application
    count = 20
    segments = [actions.segment_create(application=application, name=f"S{n}") for n in range(count)]
    clients = [_logged_in(membership) for _ in range(count)]

    def rename(n: int) -> int:
        url = reverse("segments:edit", args=[application.pk, segments[n].pk])
        data = {"name": _letter_case(n, "Power Users"), "description": "", "rules": []}
        return clients[n].post(url, data).status_code

    statuses = in_parallel(count, rename)
    assert sorted(statuses) == [302] + [400] * (count - 1), statuses
    named = application.segments.annotate(lname=Lower("name")).filter(lname="power users")
    assert named.count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_of_one_name_in_different_case_leave_one():
    postgresql_only()
    application = ApplicationFactory()
    count = 12

    def create_segment(n: int) -> Any:
        return actions.segment_create(application=application, name=_letter_case(n, "Trial"))

    def create_experience(n: int) -> Any:
        return experience_actions.experience_create(
            application=application, name=_letter_case(n, "Tour"), kind="banner", content=CONTENT
        )

    for create, queryset in [
        (create_segment, application.segments.filter(is_builtin=False)),
        (create_experience, Experience.objects.filter(application=application)),
    ]:
        results = in_parallel(count, create)
        refused = [r for r in results if isinstance(r, ValidationError)]
        assert len(refused) == count - 1, results
        assert all(set(r.message_dict) == {"name"} for r in refused)
        assert queryset.count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_add_trait_with_one_key_creates_one_and_no_500():
    postgresql_only()
    membership = MembershipFactory()
    application = membership.application
    TraitDefinitionFactory(application=application, key="plan")  # the page has a row already
    count = 40  # 50 in the report; 40 leaves connections for the shared CI server
    clients = [_logged_in(membership) for _ in range(count)]
    url = reverse("segments:trait_create", args=[application.pk])

    def add(n: int) -> int:
        return clients[n].post(url, {"key": "teamSize", "type": "number"}).status_code

    statuses = in_parallel(count, add)
    assert sorted(statuses) == [302] + [400] * (count - 1), statuses
    assert TraitDefinition.objects.filter(application=application, key="teamSize").count() == 1


# --- The migration: names that already clash --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_names_that_already_clash_ignoring_case():
    from django.db.migrations.executor import MigrationExecutor

    before = [("segments", "0006_inline_date_functions"), ("experiences", "0002_targeting_version")]
    after = [
        ("segments", "0007_segment_name_unique_ignoring_case"),
        ("experiences", "0003_experience_name_unique_ignoring_case"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        Application = old.get_model("segments", "Application")
        OldSegment = old.get_model("segments", "Segment")
        OldExperience = old.get_model("experiences", "Experience")
        app, other = Application.objects.create(name="A"), Application.objects.create(name="B")
        for name in ["Pro", "PRO", "pro", "Pro (2)", "x" * 100, "X" * 100]:
            OldSegment.objects.create(application=app, name=name)
        OldSegment.objects.create(application=other, name="PRO")
        for name in ["Tour", "TOUR"]:
            OldExperience.objects.create(application=app, name=name, kind="tour")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        names = sorted(OldSegment.objects.filter(application=app).values_list("name", flat=True))
        assert names == sorted(
            ["Pro", "Pro (2)", "PRO (3)", "pro (4)", "x" * 100, "X" * 96 + " (2)"]
        )
        assert OldSegment.objects.get(application=other).name == "PRO"
        assert sorted(OldExperience.objects.values_list("name", flat=True)) == ["TOUR (2)", "Tour"]
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
