import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from experiences.models import Experience
from segments import actions
from segments.models import (
    Application,
    Company,
    CompanyUsersRule,
    EndUser,
    EventDefinition,
    Invite,
    Membership,
    Rule,
    Segment,
    TrackedEvent,
    TraitDefinition,
)
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    EndUserFactory,
    EventDefinitionFactory,
    EventFactory,
    MembershipFactory,
    RuleFactory,
    SegmentFactory,
    TourFactory,
    TrackedEventFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(user)
    return user


def admin_url(model, action="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def segment_post(application, name, rules, **extra):
    data = {
        "application": application.pk,
        "name": name,
        "description": "",
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for i, rule in enumerate(rules):
        for field, value in rule.items():
            data[f"rules-{i}-{field}"] = value
    return data | extra


MODELS = [Application, Membership, TraitDefinition, EndUser, Segment, Rule, Experience]
MODELS += [EventDefinition, TrackedEvent, Company, CompanyUsersRule]


@pytest.mark.parametrize("model", [*MODELS, "event"])
def test_every_model_has_a_changelist_filtered_by_application(client, operator, model):
    from experiences.models import Event

    model = Event if model == "event" else model
    event = EventFactory()
    RuleFactory(segment__application=event.application)
    MembershipFactory(application=event.application)
    company_users_segment(event.application)
    response = client.get(admin_url(model))
    assert response.status_code == 200
    if model is not Application:
        on_segment = model in (Rule, CompanyUsersRule)
        lookup = "segment__application__id__exact" if on_segment else "application__id__exact"
        response = client.get(admin_url(model), {lookup: event.application.pk})
        assert response.status_code == 200, model


def test_invite__shown_never_made_or_changed_nor_its_digest(client, operator):
    application = ApplicationFactory()
    invite, token = actions.invite_create(
        application=application, email="nina@example.com", role="editor"
    )
    listing = client.get(admin_url(Invite), {"application__id__exact": application.pk})
    assert listing.status_code == 200 and "nina@example.com" in listing.content.decode()
    page = client.get(admin_url(Invite, "change", invite.pk)).content.decode()
    assert invite.digest not in page and token not in page
    assert client.get(admin_url(Invite, "add")).status_code == 403
    client.post(admin_url(Invite, "change", invite.pk), {"role": "owner", "revoked_at_0": ""})
    assert Invite.objects.get(pk=invite.pk).role == "editor"


def test_application__the_secret_key_is_masked(client, operator):
    application = ApplicationFactory()
    for page in (admin_url(Application), admin_url(Application, "change", application.pk)):
        html = client.get(page).content.decode()
        assert application.public_key in html
        assert application.secret_key not in html
        assert application.secret_key[:5] + "…" in html


def test_segment__rules_in_words_in_the_list(client, operator):
    rule = RuleFactory(operator="equals", value="free", trait__key="plan")
    html = client.get(admin_url(Segment)).content.decode()
    assert "plan equals &quot;free&quot;" in html or 'plan equals "free"' in html
    assert rule.segment.name in html


def test_segment__an_invalid_rule_is_refused_with_the_actions_message(client, operator):
    application = ApplicationFactory()
    trait = TraitDefinitionFactory(application=application, key="teamSize", type="number")
    response = client.post(
        admin_url(Segment, "add"),
        segment_post(
            application,
            "Large",
            [{"trait": trait.pk, "operator": "greater_than", "value": "lots"}],
        ),
    )
    assert response.status_code == 200
    assert "Rule 1 (teamSize is greater than): needs a number, not &#x27;lots&#x27;." in (
        response.content.decode()
    )
    assert not Segment.objects.filter(name="Large").exists()


def test_segment__a_duplicate_name_is_refused_as_in_the_ui(client, operator):
    application = ApplicationFactory()
    SegmentFactory(application=application, name="Admins")
    response = client.post(admin_url(Segment, "add"), segment_post(application, "ADMINS", []))
    assert "A segment named &quot;ADMINS&quot; already exists." in response.content.decode()


def test_segment__saved_with_its_rules_through_the_action(client, operator):
    application = ApplicationFactory()
    plan = TraitDefinitionFactory(application=application, key="plan")
    size = TraitDefinitionFactory(application=application, key="teamSize", type="number")
    response = client.post(
        admin_url(Segment, "add"),
        segment_post(
            application,
            " Big free teams ",
            [
                {"trait": plan.pk, "operator": "in", "value": "free, trial"},
                {"trait": size.pk, "operator": "greater_than", "value": "10"},
            ],
        ),
    )
    assert response.status_code == 302
    segment = Segment.objects.get(name="Big free teams")  # stripped by the action
    assert segment.describe() == 'plan is one of "free", "trial" AND teamSize is greater than 10'
    assert [r.position for r in segment.rules.all()] == [0, 1]


def test_segment__everyone_is_read_only(client, operator):
    everyone = ApplicationFactory().everyone
    page = client.get(admin_url(Segment, "change", everyone.pk)).content.decode()
    assert 'name="_save"' not in page
    response = client.post(admin_url(Segment, "change", everyone.pk), {"name": "Renamed"})
    assert response.status_code == 403
    assert client.post(admin_url(Segment, "delete", everyone.pk)).status_code == 403
    everyone.refresh_from_db()
    assert everyone.name == "Everyone"


def test_segment__the_rules_table_names_its_headers_and_fields(client, operator):
    """templates/admin/edit_inline/tabular.html: no empty column header, no unnamed field."""
    rule = RuleFactory(operator="equals", value="free")
    page = client.get(admin_url(Segment, "change", rule.segment.pk)).content.decode()
    assert '<th class="original"><span class="visually-hidden">Rule</span></th>' in page
    for name, label in [("trait", "Trait"), ("operator", "Operator"), ("value", "Value")]:
        field = re.search(rf'<(select|input)[^>]* name="rules-0-{name}"[^>]*>', page).group(0)
        assert f'aria-label="{label}"' in field
    delete = re.search(r'<input[^>]* name="rules-0-DELETE"[^>]*>', page).group(0)
    assert 'aria-label="Delete"' in delete


def test_segment__bulk_delete_goes_through_the_action_and_never_takes_everyone(client, operator):
    application = ApplicationFactory()
    other, another = SegmentFactory.create_batch(2, application=application)

    def delete(*segments):
        return client.post(
            admin_url(Segment),
            {
                "action": "delete_selected",
                "_selected_action": [s.pk for s in segments],
                "post": "yes",
            },
        )

    assert delete(application.everyone, other).status_code == 403
    assert application.segments.count() == 3
    assert delete(other, another).status_code == 302
    assert list(application.segments.all()) == [application.everyone]


def test_trait_definition__an_invalid_key_is_refused_with_the_actions_message(client, operator):
    application = ApplicationFactory()
    response = client.post(
        admin_url(TraitDefinition, "add"),
        {"application": application.pk, "key": "9lives", "type": "string"},
    )
    assert "Trait key &#x27;9lives&#x27; is invalid" in response.content.decode()
    assert not TraitDefinition.objects.exists()


def test_trait_definition__type_filter(client, operator):
    TraitDefinitionFactory(key="teamSize", type="number")
    TraitDefinitionFactory(key="plan", type="string")
    html = client.get(admin_url(TraitDefinition), {"type__exact": "number"}).content.decode()
    assert "teamSize" in html and ">plan<" not in html


def test_end_user__searchable_by_id_and_trait(client, operator):
    EndUserFactory(external_id="alice", traits={"plan": "enterprise"})
    EndUserFactory(external_id="bob", traits={"plan": "free"})
    by_trait = client.get(admin_url(EndUser), {"q": "enterprise"}).context["cl"].result_list
    assert [u.external_id for u in by_trait] == ["alice"]
    by_id = client.get(admin_url(EndUser), {"q": "bob"}).context["cl"].result_list
    assert [u.external_id for u in by_id] == ["bob"]


def test_end_user__traits_are_written_through_identify(client, operator):
    user = EndUserFactory(traits={"plan": "free", "role": "admin"})
    response = client.post(
        admin_url(EndUser, "change", user.pk), {"traits": '{"plan": "pro", "teamSize": 3}'}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.traits == {"plan": "pro", "teamSize": 3}
    # ... and a new key is discovered as a trait definition, as identify does.
    assert user.application.trait_definitions.filter(key="teamSize", type="number").exists()
    response = client.post(admin_url(EndUser, "change", user.pk), {"traits": '{"plan": [1]}'})
    assert "trait values must be text, numbers" in response.content.decode()


def test_event_definition__added_through_the_action_and_a_bad_name_refused(client, operator):
    application = ApplicationFactory()
    add = admin_url(EventDefinition, "add")
    response = client.post(add, {"application": application.pk, "name": "9lives"})
    assert "An event name is 1 to 128 letters" in response.content.decode()
    data = {"application": application.pk, "name": "signup", "description": "Signed up"}
    assert client.post(add, data).status_code == 302
    event = EventDefinition.objects.get()
    assert (event.name, event.description, event.auto_discovered) == ("signup", "Signed up", False)


def test_event_definition__a_name_that_rules_use_is_protected_from_delete(client, operator):
    from segments import actions

    event = EventDefinitionFactory(name="project_created")
    actions.segment_create(
        application=event.application,
        name="Makers",
        definition={
            "match": "all",
            "rules": [{"event": "project_created", "operator": "at_least", "value": 1}],
        },
    )
    delete = admin_url(EventDefinition, "delete", event.pk)
    page = html.unescape(client.get(delete).content.decode())
    assert "Cannot delete event definition" in page
    assert 'Segment "Makers" (a rule on "project_created")' in page
    client.post(delete, {"post": "yes"})
    assert EventDefinition.objects.filter(pk=event.pk).exists()


def test_tracked_event__read_only(client, operator):
    event = TrackedEventFactory(name="signup", properties={"plan": "pro"})
    assert client.get(admin_url(TrackedEvent, "add")).status_code == 403
    change = admin_url(TrackedEvent, "change", event.pk)
    page = client.get(change)
    assert page.status_code == 200 and "signup" in page.content.decode()
    assert b'type="submit"' not in page.content.split(b'id="content-main"')[1]
    client.post(change, {"name": "renamed"})
    client.post(admin_url(TrackedEvent, "delete", event.pk), {"post": "yes"})
    event.refresh_from_db()
    assert event.name == "signup"


def experience_post(application, **overrides):
    return {
        "application": application.pk,
        "kind": "tour",
        "name": "Welcome tour",
        "segments": [application.everyone.pk],
        "url_include": '["/dashboard"]',
        "url_exclude": "[]",
        "frequency": "once",
        "priority": "0",
        "content": '{"steps": [{"type": "modal", "title": "Hi"}]}',
    } | overrides


def test_experience__invalid_content_is_refused_with_the_editors_message(client, operator):
    application = ApplicationFactory()
    response = client.post(
        admin_url(Experience, "add"),
        experience_post(
            application,
            content='{"steps": [{"type": "modal", "title": "Hi"}, {"type": "tooltip"}]}',
            url_include='["dashboard"]',
        ),
    )
    html = response.content.decode()
    assert "Step 2: give the step a CSS selector (#save, .nav a)." in html
    assert "&quot;dashboard&quot;: start with / for a path" in html
    assert not Experience.objects.exists()


def test_experience__another_applications_segment_is_refused(client, operator):
    application = ApplicationFactory()
    response = client.post(
        admin_url(Experience, "add"),
        experience_post(application, segments=[SegmentFactory().pk]),
    )
    assert "Choose segments of this application." in response.content.decode()


def test_experience__a_schedule_ending_before_it_starts_is_refused_on_the_end(client, operator):
    application = ApplicationFactory()
    schedule = {
        "starts_at_0": "2026-12-04",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2026-12-03",
        "ends_at_1": "09:00:00",
    }
    response = client.post(admin_url(Experience, "add"), experience_post(application, **schedule))
    assert response.context["adminform"].form.errors == {
        "ends_at": ["The end must be after the start."]
    }
    assert not Experience.objects.exists()

    schedule["ends_at_0"] = "2026-12-05"
    client.post(admin_url(Experience, "add"), experience_post(application, **schedule))
    assert Experience.objects.get().ends_at.isoformat() == "2026-12-05T09:00:00+00:00"


def test_experience__created_and_changed_through_the_actions(client, operator):
    application = ApplicationFactory()
    response = client.post(admin_url(Experience, "add"), experience_post(application))
    assert response.status_code == 302
    experience = Experience.objects.get()
    assert experience.status == "draft"
    assert experience.content == {"steps": [{"type": "modal", "title": "Hi"}]}
    assert list(experience.segments.all()) == [application.everyone]
    response = client.post(
        admin_url(Experience, "change", experience.pk),
        experience_post(application, name="Renamed", priority="5"),
    )
    assert response.status_code == 302
    experience.refresh_from_db()
    assert (experience.name, experience.priority, experience.kind) == ("Renamed", 5, "tour")


def test_experience__filters_and_publish_action(client, operator):
    tour = TourFactory()
    tour.segments.add(tour.application.everyone)
    html = client.get(admin_url(Experience), {"kind__exact": "tour", "status__exact": "draft"})
    assert tour.name in html.content.decode()
    # Nobody in the audience yet: refused, with the reason.
    response = client.post(
        admin_url(Experience),
        {"action": "publish", "_selected_action": [tour.pk]},
        follow=True,
    )
    assert "Nobody is in this audience" in response.content.decode()
    EndUserFactory(application=tour.application)
    client.post(admin_url(Experience), {"action": "publish", "_selected_action": [tour.pk]})
    tour.refresh_from_db()
    assert tour.status == "published"


# --- Each save runs its action once ------------------------------------------------------


def _counting(monkeypatch, module, name):
    """Wrap ``module.name`` (an action) to count its calls."""
    calls = []
    action = getattr(module, name)

    def counted(**kwargs):
        calls.append(kwargs)
        return action(**kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_each_admin_save_runs_its_action_once(client, operator, monkeypatch):
    from experiences import actions as experience_actions
    from segments import actions

    application = ApplicationFactory()
    plan = TraitDefinitionFactory(application=application, key="plan")

    calls = _counting(monkeypatch, actions, "trait_definition_create")
    data = {"application": application.pk, "key": "seats", "type": "number"}
    assert client.post(admin_url(TraitDefinition, "add"), data).status_code == 302
    assert len(calls) == 1

    calls = _counting(monkeypatch, actions, "segment_create")
    rules = [{"trait": plan.pk, "operator": "equals", "value": "pro"}]
    response = client.post(admin_url(Segment, "add"), segment_post(application, "Pro", rules))
    assert response.status_code == 302
    assert len(calls) == 1
    segment = Segment.objects.get(name="Pro")
    calls = _counting(monkeypatch, actions, "segment_update")
    response = client.post(
        admin_url(Segment, "change", segment.pk), segment_post(application, "Pro plan", rules)
    )
    assert response.status_code == 302
    assert len(calls) == 1
    segment.refresh_from_db()
    assert (segment.name, segment.describe()) == ("Pro plan", 'plan equals "pro"')

    calls = _counting(monkeypatch, experience_actions, "experience_create")
    assert (
        client.post(admin_url(Experience, "add"), experience_post(application)).status_code == 302
    )
    assert len(calls) == 1
    experience = Experience.objects.get()
    calls = _counting(monkeypatch, experience_actions, "experience_update")
    response = client.post(
        admin_url(Experience, "change", experience.pk), experience_post(application, name="New")
    )
    assert response.status_code == 302
    assert len(calls) == 1


def test_a_page_shown_again_with_errors_keeps_nothing_the_action_wrote(
    client, operator, monkeypatch
):
    """The action runs while the form is validated; a check after it (here the model's own
    clean(), run by the form once clean() is done) refuses the page: nothing may stay."""
    from django.core.exceptions import ValidationError

    application = ApplicationFactory()

    def refuse(self):
        raise ValidationError("Refused after the action ran.")

    monkeypatch.setattr(TraitDefinition, "clean", refuse)
    data = {"application": application.pk, "key": "seats", "type": "number"}
    response = client.post(admin_url(TraitDefinition, "add"), data)
    assert response.status_code == 200
    assert "Refused after the action ran." in response.content.decode()
    assert not TraitDefinition.objects.filter(key="seats").exists()


# --- Companies ---------------------------------------------------------------------------


def company_users_segment(application, name="Teams"):
    """A segment "at least 2 users of the company in Admins" (and Admins, a flat segment)."""
    admins = SegmentFactory(application=application, name=f"{name} admins")
    return actions.segment_create(
        application=application,
        name=name,
        definition={
            "match": "all",
            "rules": [
                {"company_users": {"segment": admins.pk}, "operator": "at_least", "value": 2}
            ],
        },
    )


def test_company__searchable_by_id_filtered_by_application_with_its_users_linked(client, operator):
    acme = CompanyFactory(external_id="acme", traits={"plan": "enterprise"})
    CompanyFactory(external_id="globex")
    other = CompanyFactory(external_id="acme-elsewhere")
    for n in range(3):
        EndUserFactory(application=acme.application, company=acme, external_id=f"a{n}")
    EndUserFactory(application=acme.application, external_id="loner")

    found = client.get(admin_url(Company), {"q": "acme"}).context["cl"].result_list
    assert {c.external_id for c in found} == {"acme", "acme-elsewhere"}
    mine = client.get(admin_url(Company), {"application__id__exact": acme.application.pk})
    assert [c.external_id for c in mine.context["cl"].result_list] == ["acme"]
    html = mine.content.decode()
    link = f"{admin_url(EndUser)}?company__id__exact={acme.pk}"
    assert f'<a href="{link}">3</a>' in html and "plan: enterprise" in html
    users = client.get(admin_url(EndUser), {"company__id__exact": acme.pk}).context["cl"]
    assert sorted(u.external_id for u in users.result_list) == ["a0", "a1", "a2"]
    assert other.application != acme.application


def test_company__read_only(client, operator):
    company = CompanyFactory(external_id="acme", traits={"plan": "free"})
    page = client.get(admin_url(Company, "change", company.pk)).content.decode()
    assert 'name="_save"' not in page and "acme" in page
    client.post(admin_url(Company, "change", company.pk), {"external_id": "mine"})
    assert client.post(admin_url(Company, "delete", company.pk), {"post": "yes"}).status_code == 403
    company.refresh_from_db()
    assert company.external_id == "acme"
    assert client.get(admin_url(Company, "add")).status_code == 403


def test_end_user__a_traits_save_keeps_the_users_company(client, operator):
    company = CompanyFactory()
    user = EndUserFactory(application=company.application, company=company, traits={"plan": "free"})
    response = client.post(admin_url(EndUser, "change", user.pk), {"traits": '{"plan": "pro"}'})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.traits, user.company_id) == ({"plan": "pro"}, company.pk)
    assert company.external_id in client.get(admin_url(EndUser)).content.decode()


def test_trait_definition__a_company_trait_added_through_the_action(client, operator):
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan")
    data = {"application": application.pk, "scope": "company", "key": "plan", "type": "string"}
    response = client.post(admin_url(TraitDefinition, "add"), data)
    assert response.status_code == 302
    assert application.trait_definitions.filter(key="plan").count() == 2
    again = client.post(admin_url(TraitDefinition, "add"), data)
    assert "A company trait &quot;plan&quot; already exists." in again.content.decode()
    scoped = client.get(admin_url(TraitDefinition), {"scope__exact": "company"})
    assert [t.scope for t in scoped.context["cl"].result_list] == ["company"]


def test_company_users_rules__listed_with_the_segment_they_count(client, operator):
    teams = company_users_segment(ApplicationFactory())

    html = client.get(admin_url(CompanyUsersRule)).content.decode()

    assert html.count("at least 2 users of the company in segment &quot;Teams admins&quot;") == 1
    assert "Teams" in html
    assert CompanyUsersRule.objects.get().segment == teams


def test_segment__a_tree_is_shown_with_its_company_rows_and_not_saved_flat(client, operator):
    teams = company_users_segment(ApplicationFactory())
    change = admin_url(Segment, "change", teams.pk)

    page = client.get(change).content.decode()

    assert "company users condition" in page.lower() and "Teams admins" in page
    assert 'name="_save"' not in page
    assert client.post(change, {"name": "Flat"}).status_code == 403
    teams.refresh_from_db()
    assert teams.name == "Teams" and teams.company_users_rules.count() == 1
