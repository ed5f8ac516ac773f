import pytest
from django.core.exceptions import ValidationError

from segments import actions
from segments.models import EndUser, Rule, Segment, TraitDefinition
from tests.factories import ApplicationFactory, TraitDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    for key, type_ in [("plan", "string"), ("role", "string"), ("teamSize", "number")]:
        TraitDefinitionFactory(application=application, key=key, type=type_)
    return application


def test_every_application_gets_a_builtin_everyone_segment(app):
    everyone = app.everyone
    assert everyone.name == "Everyone" and everyone.is_builtin
    assert everyone.conditions == []


def test_segment_create__stores_rules_in_order(app):
    segment = actions.segment_create(
        application=app,
        name="Pro Plan Admins",
        rules=[
            {"trait": "plan", "operator": "equals", "value": "pro"},
            {"trait": "role", "operator": "equals", "value": "admin", "case_sensitive": True},
        ],
    )
    assert segment.describe() == 'plan equals "pro" AND role equals "admin" (match case)'


def test_segment_create__reports_every_problem_and_saves_nothing(app):
    with pytest.raises(ValidationError) as error:
        actions.segment_create(
            application=app,
            name="",
            rules=[
                {"trait": "teamSize", "operator": "greater_than", "value": "ten"},
                {"trait": "plan", "operator": "greater_than", "value": 3},
                {"trait": "nope", "operator": "equals", "value": "x"},
                {"trait": "plan", "operator": "in", "value": []},
            ],
        )
    assert set(error.value.message_dict) == {
        "name",
        "rules.0.value",
        "rules.1.operator",
        "rules.2.trait",
        "rules.3.value",
    }
    assert "Rule 1 (teamSize is greater than): needs a number" in str(error.value)
    assert Segment.objects.filter(application=app).count() == 1  # only Everyone
    assert not Rule.objects.exists()


def test_segment_names_are_unique_per_application_ignoring_case(app):
    actions.segment_create(application=app, name="Free Admins")
    with pytest.raises(ValidationError, match="already exists"):
        actions.segment_create(application=app, name="free admins")
    actions.segment_create(application=ApplicationFactory(), name="Free Admins")


def test_a_trait_of_another_application_cannot_be_used(app):
    foreign = TraitDefinitionFactory(key="plan")
    with pytest.raises(ValidationError, match="choose a trait of this application"):
        actions.segment_create(
            application=app,
            name="X",
            rules=[{"trait": foreign, "operator": "equals", "value": "free"}],
        )


def test_segment_update__replaces_rules_atomically(app):
    segment = actions.segment_create(
        application=app,
        name="Free",
        rules=[{"trait": "plan", "operator": "equals", "value": "free"}],
    )
    with pytest.raises(ValidationError):
        actions.segment_update(
            segment=segment, rules=[{"trait": "teamSize", "operator": "less_than", "value": "x"}]
        )
    segment.refresh_from_db()
    assert Segment.objects.get(pk=segment.pk).describe() == 'plan equals "free"'
    actions.segment_update(
        segment=segment, rules=[{"trait": "teamSize", "operator": "less_than", "value": "5"}]
    )
    assert segment.describe() == "teamSize is less than 5"


def test_everyone_cannot_be_edited_or_deleted(app):
    with pytest.raises(ValidationError, match="cannot be edited"):
        actions.segment_update(segment=app.everyone, name="All")
    with pytest.raises(ValidationError, match="cannot be deleted"):
        actions.segment_delete(segment=app.everyone)


def test_trait_used_by_rules_cannot_be_deleted(app):
    actions.segment_create(
        application=app,
        name="Free",
        rules=[{"trait": "plan", "operator": "equals", "value": "free"}],
    )
    with pytest.raises(ValidationError, match='used by the rules of "Free"'):
        actions.trait_definition_delete(trait=app.trait_definitions.get(key="plan"))
    actions.trait_definition_delete(trait=app.trait_definitions.get(key="role"))


@pytest.mark.parametrize("key", ["", "1plan", "pl an", "a" * 129, "plan$"])
def test_trait_definition_keys_are_validated(app, key):
    with pytest.raises(ValidationError):
        actions.trait_definition_create(application=app, key=key)


def test_identify__merges_traits_and_null_removes_one(app):
    actions.end_user_identify(
        application=app, external_id="u1", traits={"plan": "free", "teamSize": 3}
    )
    user = actions.end_user_identify(
        application=app, external_id="u1", traits={"teamSize": None, "role": "admin"}
    )
    assert user.traits == {"plan": "free", "role": "admin"}
    assert user.last_seen >= user.first_seen


def test_identify__discovers_new_traits_with_an_inferred_type(app):
    actions.end_user_identify(
        application=app,
        external_id="u1",
        traits={"beta": True, "seats": 4.5, "signupDate": "2026-11-20", "city": "Oslo", "x": None},
    )
    discovered = dict(
        TraitDefinition.objects.filter(application=app, auto_discovered=True).values_list(
            "key", "type"
        )
    )
    assert discovered == {
        "beta": "boolean",
        "seats": "number",
        "signupDate": "date",
        "city": "string",
    }


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"tags": ["a", "b"]}, "traits.tags"),
        ({"profile": {"a": 1}}, "traits.profile"),
        ({"bad key": 1}, "traits.bad key"),
        ({"bio": "x" * 2001}, "traits.bio"),
        ({"n": float("inf")}, "traits.n"),
        ({"nul": "a\x00b"}, "traits.nul"),
    ],
)
def test_identify__refuses_bad_traits_and_stores_nothing(app, traits, field):
    with pytest.raises(ValidationError) as error:
        actions.end_user_identify(application=app, external_id="u1", traits={"ok": 1, **traits})
    assert field in error.value.message_dict
    assert not EndUser.objects.exists()
    assert not TraitDefinition.objects.filter(key="ok").exists()


def test_identify__refuses_more_than_200_traits(app):
    with pytest.raises(ValidationError, match="at most 200 traits"):
        actions.end_user_identify(
            application=app, external_id="u1", traits={f"t{i}": i for i in range(201)}
        )


def test_an_application_with_segments_and_rules_can_be_deleted(app):
    actions.segment_create(
        application=app,
        name="Free",
        rules=[{"trait": "plan", "operator": "equals", "value": "free"}],
    )
    app.delete()
    assert not Rule.objects.exists() and not TraitDefinition.objects.exists()


def test_a_trait_that_rules_use_cannot_be_deleted_even_bypassing_the_action(app):
    from django.db.models import RestrictedError

    actions.segment_create(
        application=app,
        name="Free",
        rules=[{"trait": "plan", "operator": "equals", "value": "free"}],
    )
    with pytest.raises(RestrictedError):
        app.trait_definitions.get(key="plan").delete()


def test_trait_definition_create__past_the_limit__refused(app, settings):
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 4  # plan, role and teamSize are defined
    actions.trait_definition_create(application=app, key="seats")
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_create(application=app, key="other")
    assert "at most 4 traits" in error.value.message_dict["key"][0]
    assert not app.trait_definitions.filter(key="other").exists()
