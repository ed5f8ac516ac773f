import pytest
from django.core.exceptions import ValidationError

from experiences import actions
from experiences.actions import EmptyAudience
from experiences.models import Experience
from experiences.selectors import audience
from segments import actions as segments_actions
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    EndUserFactory,
    EventFactory,
    ExperienceFactory,
    RuleFactory,
    SegmentFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db


def plan_segment(application, plan, name=None):
    trait = TraitDefinitionFactory(application=application, key="plan")
    segment = SegmentFactory(application=application, name=name or f"{plan} users")
    RuleFactory(segment=segment, trait=trait, operator="equals", value=plan)
    return segment


def create(application, **overrides):
    fields = {
        "application": application,
        "name": "Upgrade banner",
        "kind": "banner",
        "content": {"text": "Upgrade now"},
    }
    return actions.experience_create(**(fields | overrides))


def test_create__a_draft_for_everyone_with_canonical_content():
    application = ApplicationFactory()
    experience = create(application, url_include="/dashboard\n/billing/**")
    assert experience.status == Experience.Status.DRAFT
    assert list(experience.segments.all()) == [application.everyone]
    assert experience.content == {"text": "Upgrade now", "position": "top", "style": "info"}
    assert experience.url_include == ["/dashboard", "/billing/**"]


def test_create__reports_every_problem_at_once_keyed_by_field():
    application = ApplicationFactory()
    other = SegmentFactory()
    with pytest.raises(ValidationError) as caught:
        create(
            application,
            name=" ",
            content={"text": ""},
            segments=[other],
            url_include=["dashboard"],
            frequency="sometimes",
            priority="high",
        )
    assert set(caught.value.message_dict) == {
        "name",
        "content.text",
        "segments",
        "url_include",
        "frequency",
        "priority",
    }
    assert not Experience.objects.exists()


def test_create__names_are_unique_per_application_ignoring_case():
    application = ApplicationFactory()
    create(application)
    with pytest.raises(ValidationError) as caught:
        create(application, name="UPGRADE banner")
    assert caught.value.message_dict == {
        "name": ['An experience named "UPGRADE banner" already exists.']
    }
    create(ApplicationFactory())  # another application may use the name


def test_update__changes_only_what_is_given_and_keeps_the_kind():
    application = ApplicationFactory()
    experience = create(application, priority=5)
    segment = plan_segment(application, "free")
    actions.experience_update(experience=experience, segments=[segment.pk], frequency="every_time")
    experience.refresh_from_db()
    assert experience.priority == 5 and experience.frequency == "every_time"
    assert list(experience.segments.all()) == [segment]
    with pytest.raises(ValidationError) as caught:  # banner content is validated as a banner
        actions.experience_update(experience=experience, content={"steps": []})
    assert "content.steps" in caught.value.message_dict


def test_publish__refuses_an_empty_audience_unless_allowed():
    application = ApplicationFactory()
    experience = create(application, segments=[plan_segment(application, "enterprise")])
    EndUserFactory(application=application, traits={"plan": "free"})
    with pytest.raises(EmptyAudience):
        actions.experience_publish(experience=experience)
    assert experience.status == Experience.Status.DRAFT
    actions.experience_publish(experience=experience, allow_empty_audience=True)
    experience.refresh_from_db()
    assert experience.status == Experience.Status.PUBLISHED and experience.published_at


def test_publish__revalidates_content_written_elsewhere():
    experience = ExperienceFactory(content={"text": ""})
    EndUserFactory(application=experience.application)
    experience.segments.add(experience.application.everyone)
    with pytest.raises(ValidationError) as caught:
        actions.experience_publish(experience=experience)
    assert not isinstance(caught.value, EmptyAudience)
    assert "content.text" in caught.value.message_dict


def test_unpublish_and_delete():
    application = ApplicationFactory()
    EndUserFactory(application=application)
    experience = actions.experience_publish(experience=create(application))
    actions.experience_unpublish(experience=experience)
    assert Experience.objects.get().status == Experience.Status.DRAFT
    EventFactory(experience=experience)
    actions.experience_delete(experience=experience)
    assert not Experience.objects.exists()


def test_audience__is_the_union_of_the_segments():
    application = ApplicationFactory()
    free, enterprise = plan_segment(application, "free"), plan_segment(application, "enterprise")
    for plan in ("free", "free", "pro", "enterprise"):
        EndUserFactory(application=application, traits={"plan": plan})
    EndUserFactory(traits={"plan": "free"})  # another application's user
    experience = create(application, segments=[free, enterprise])
    assert audience(experience).count() == 3
    actions.experience_update(experience=experience, segments=[])
    assert audience(experience).count() == 0


def test_audience__follows_segment_conditions_and_company_counts():
    """A segment that only references another, or counts a company's users, reaches users:
    publishing it is not refused as an empty audience."""
    application = ApplicationFactory()
    free = plan_segment(application, "free")
    company = CompanyFactory(application=application)
    for plan in ("free", "free", "pro"):
        EndUserFactory(application=application, traits={"plan": plan}, company=company)
    referencing = segments_actions.segment_create(
        application=application,
        name="In free",
        definition={"match": "all", "rules": [{"segment": free.pk}]},
    )
    teams = segments_actions.segment_create(
        application=application,
        name="Teams with two free users",
        definition={
            "match": "all",
            "rules": [{"company_users": {"segment": free.pk}, "operator": "at_least", "value": 2}],
        },
    )
    assert audience(create(application, segments=[referencing])).count() == 2
    experience = create(application, name="Team banner", segments=[teams])
    assert audience(experience).count() == 3
    actions.experience_publish(experience=experience)


def test_event_record__writes_the_event():
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application)
    event = actions.event_record(
        application_id=experience.application_id,
        end_user_id=user.pk,
        experience_id=experience.pk,
        type="step",
        step=2,
    )
    assert (event.experience, event.end_user, event.type, event.step) == (
        experience,
        user,
        "step",
        2,
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"type": "clicked"}, "type"), ({"type": "step"}, "step"), ({"step": 10_001}, "step")],
)
def test_event_record__refuses_bad_fields_and_writes_nothing(fields, field):
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application)
    ids = {"application_id": experience.application_id, "end_user_id": user.pk}
    with pytest.raises(ValidationError) as error:
        actions.event_record(**ids, experience_id=experience.pk, **{"type": "shown", **fields})
    assert field in error.value.message_dict
    assert not experience.events.exists()


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at commit: autocommit here
def test_event_record__an_experience_deleted_meanwhile__field_error():
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application)
    ids = {"application_id": experience.application_id, "end_user_id": user.pk}
    with pytest.raises(ValidationError) as error:
        actions.event_record(**ids, experience_id=experience.pk + 1000, type="shown")
    assert "experience" in error.value.message_dict


def test_event_record__shown_dismissed_completed__the_first_time_of_each_in_the_summary():
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application, activity={"e": {"x": [1, 5, 5, [5]]}})
    ids = {"application_id": experience.application_id, "end_user_id": user.pk}
    first, last = {}, {}
    for kind in ("shown", "step", "shown", "dismissed", "completed", "dismissed"):
        event = actions.event_record(
            **ids, experience_id=experience.pk, type=kind, step=0 if kind == "step" else None
        )
        first.setdefault(kind, event.created_at.timestamp())
        last[kind] = event.created_at.timestamp()
    user.refresh_from_db()
    states = {k: first[k] for k in ("shown", "dismissed", "completed")}
    assert user.activity == {
        "e": {"x": [1, 5, 5, [5]]},  # what the user did stays as it was
        # and the latest shown, with the session, for delivery's caps
        "x": {str(experience.pk): states | {"last_shown": last["shown"]}},
        "s": [first["shown"], last["shown"]],
    }
    assert experience.events.count() == 6


def test_event_record__a_step_leaves_the_summary_alone():
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application)
    ids = {"application_id": experience.application_id, "end_user_id": user.pk}
    actions.event_record(**ids, experience_id=experience.pk, type="step", step=1)
    user.refresh_from_db()
    assert user.activity == {}


def test_event_record__a_refused_event_leaves_the_summary_alone():
    experience = ExperienceFactory()
    user = EndUserFactory(application=experience.application)
    ids = {"application_id": experience.application_id, "end_user_id": user.pk}
    with pytest.raises(ValidationError):
        actions.event_record(**ids, experience_id=experience.pk, type="step")
    user.refresh_from_db()
    assert user.activity == {}


def segment_on(experience, name, state="completed"):
    """A segment whose rule names ``experience`` ("has completed ...")."""
    from segments import actions as segment_actions

    definition = {"match": "all", "rules": [{"experience": experience.pk, "state": state}]}
    return segment_actions.segment_create(
        application=experience.application, name=name, definition=definition
    )


def test_delete__used_by_segment_rules__refused_in_use_naming_them_and_nothing_deleted():
    experience = ExperienceFactory(name="Welcome tour")
    segment_on(experience, "Toured")
    segment_on(experience, "Skipped", state="dismissed")
    EventFactory(experience=experience)

    with pytest.raises(ValidationError) as caught:
        actions.experience_delete(experience=experience)

    error = caught.value
    assert error.code == "in_use"
    assert error.message == (
        '"Welcome tour" is used by the rules of the segments "Skipped", "Toured": '
        "remove those rules first."
    )
    assert [s.name for s in error.segments] == ["Skipped", "Toured"]
    assert Experience.objects.filter(pk=experience.pk).exists()
    assert experience.events.count() == 1


def test_delete__once_the_rule_is_gone__deleted():
    from segments import actions as segment_actions

    experience = ExperienceFactory()
    segment = segment_on(experience, "Toured")
    segment_actions.segment_update(segment=segment, definition={"match": "all", "rules": []})

    actions.experience_delete(experience=experience)

    assert not Experience.objects.filter(pk=experience.pk).exists()


def test_delete__a_rule_taken_after_the_check__still_refused_in_use(monkeypatch):
    """The database holds it too (RESTRICT): a rule saved between the check and the delete
    is refused with the same error, not an IntegrityError."""
    experience = ExperienceFactory(name="Tour")
    segment_on(experience, "Late")
    real, calls = actions.experience_users, []

    def misses_it_the_first_time(found):
        calls.append(found)
        return [] if len(calls) == 1 else real(found)

    monkeypatch.setattr(actions, "experience_users", misses_it_the_first_time)

    with pytest.raises(actions.ExperienceInUse) as caught:
        actions.experience_delete(experience=experience)

    assert [s.name for s in caught.value.segments] == ["Late"]
    assert Experience.objects.filter(pk=experience.pk).exists()
