"""The audit log's entries (segments/audit.py): one per write, whoever made it and through
what; logins and failed logins; nothing for a refused write; append-only; the retention."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from callout.actor import Actor, acting
from experiences import actions as experience_actions
from management_api.actions import api_token_create, api_token_revoke
from segments import actions, audit, events
from segments.models import AuditEntry
from tests.factories import (
    ApplicationFactory,
    ExperienceFactory,
    MembershipFactory,
    TraitDefinitionFactory,
    UserFactory,
    saved_segment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return ApplicationFactory(name="Acme")


@pytest.fixture
def maria(app):
    return MembershipFactory(application=app, user=UserFactory(username="maria"), role="owner")


def entries(app, **lookup):
    return list(AuditEntry.objects.filter(application=app, **lookup).order_by("pk"))


def last(app):
    return AuditEntry.objects.filter(application=app).latest("pk")


# --- Every kind of write ------------------------------------------------------------------


def test_segment_created_in_engage__records_who_what_and_the_object(app, maria):
    with acting(Actor(via="engage", user=maria.user)):
        TraitDefinitionFactory(application=app, key="plan")
        segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    entry = last(app)
    assert entry.action == "segment.created"
    assert (entry.actor, entry.actor_name, entry.via) == (maria.user, "maria", "engage")
    assert (entry.object_type, entry.object_id, entry.object_name) == ("segment", segment.pk, "Pro")
    assert entry.summary == "Created the segment “Pro”"
    assert timezone.now() - entry.at < timedelta(minutes=1)


def test_segment_updated_and_deleted__each_an_entry_naming_the_segment(app, maria):
    TraitDefinitionFactory(application=app, key="plan")
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    pk = segment.pk
    with acting(Actor(via="engage", user=maria.user)):
        actions.segment_update(segment=segment, name="Pro users")
        actions.segment_delete(segment=segment)

    updated, deleted = entries(app)[-2:]
    assert (updated.action, updated.summary) == (
        "segment.updated",
        "Edited the segment “Pro users”",
    )
    assert (deleted.action, deleted.object_id) == ("segment.deleted", pk)
    assert deleted.summary == "Deleted the segment “Pro users”"


def test_a_refused_write_records_nothing(app, maria):
    before = AuditEntry.objects.count()

    with pytest.raises(ValidationError):
        actions.segment_create(application=app, name="", rules=[])
    with pytest.raises(ValidationError):
        actions.trait_definition_create(application=app, key="9 lives")

    assert AuditEntry.objects.count() == before


def test_a_write_rolled_back_after_recording__leaves_no_entry(app):
    """The entry is in the write's transaction: a delete refused after it is recorded (the
    experience used by a segment) takes its entry with it."""
    experience = ExperienceFactory(application=app, name="Tour")
    segment = actions.segment_create(
        application=app,
        name="Toured",
        definition={
            "match": "all",
            "rules": [{"experience": experience.pk, "state": "completed"}],
        },
    )
    count = AuditEntry.objects.count()

    with pytest.raises(ValidationError):
        experience_actions.experience_delete(experience=experience)

    assert AuditEntry.objects.count() == count
    assert segment.pk


def test_traits_and_events__created_updated_deleted(app):
    trait = actions.trait_definition_create(application=app, key="plan")
    actions.trait_definition_update(trait=trait, label="Plan")
    actions.trait_definition_delete(trait=trait)
    company = actions.trait_definition_create(application=app, key="seats", scope="company")
    event = events.event_definition_create(application=app, name="signed_up")
    events.event_definition_update(event=event, description="First visit")
    events.event_definition_delete(event=event)

    assert [(e.action, e.summary) for e in entries(app)] == [
        ("trait.created", "Created the trait “plan”"),
        ("trait.updated", "Edited the trait “plan”"),
        ("trait.deleted", "Deleted the trait “plan”"),
        ("trait.created", "Created the company trait “seats”"),
        ("event.created", "Created the event “signed_up”"),
        ("event.updated", "Edited the event “signed_up”"),
        ("event.deleted", "Deleted the event “signed_up”"),
    ]
    assert entries(app)[3].object_id == company.pk


def test_experience_created_updated_published_unpublished_deleted(app, maria):
    with acting(Actor(via="engage", user=maria.user)):
        experience = experience_actions.experience_create(
            application=app,
            name="Welcome",
            kind="banner",
            content={"text": "Hello", "position": "top", "style": "info"},
        )
        experience_actions.experience_update(experience=experience, priority=5)
        experience_actions.experience_publish(experience=experience, allow_empty_audience=True)
        experience_actions.experience_unpublish(experience=experience)
        experience_actions.experience_delete(experience=experience)

    assert [e.action for e in entries(app)] == [
        "experience.created",
        "experience.updated",
        "experience.published",
        "experience.unpublished",
        "experience.deleted",
    ]
    assert entries(app)[2].summary == "Published the experience “Welcome”"


def test_key_rotation_and_settings(app):
    actions.application_rotate_keys(application=app)
    actions.application_set_identity_verification(application=app, required=True)
    actions.application_set_delivery(
        application=app, max_banners_per_edge=1, cap_per_day=3, cap_per_session=None
    )
    actions.application_set_audit_retention(application=app, days=90)
    actions.application_set_theme(application=app, theme={"radius": 0})

    assert [(e.action, e.summary) for e in entries(app)] == [
        ("keys.rotated", audit.KEYS_ROTATED),
        ("settings.changed", "Required identity verification (identify calls carry user_hash)"),
        (
            "settings.changed",
            "Changed delivery: 1 banner per edge, 3 per user per day, no cap per session, "
            "application-wide holdout 0%",
        ),
        ("settings.changed", "Set the audit log to keep 90 days"),
        ("settings.changed", "Set the theme: radius 0"),
    ]


def test_retention_out_of_range__a_field_error_and_nothing_recorded(app):
    with pytest.raises(ValidationError) as error:
        actions.application_set_audit_retention(application=app, days=0)

    assert "days" in error.value.message_dict
    assert entries(app) == []
    app.refresh_from_db()
    assert app.audit_retention_days == 365


def test_role_changes_invites_and_members(app, maria):
    lee = UserFactory(username="lee")
    with acting(Actor(via="engage", user=maria.user)):
        membership = actions.membership_add(application=app, user=lee, role="editor")
        actions.membership_change_role(membership=membership, role="viewer")
        invite, _ = actions.invite_create(application=app, role="viewer", email="sam@example.com")
        actions.invite_revoke(invite=invite)
        actions.membership_remove(membership=membership)

    assert [(e.action, e.summary, e.object_name) for e in entries(app)] == [
        ("member.added", "Added lee as editor", "lee"),
        ("member.role_changed", "Changed the role of lee from editor to viewer", "lee"),
        ("member.invited", "Invited sam@example.com as viewer", "sam@example.com"),
        ("invite.revoked", "Revoked the invite for sam@example.com", "sam@example.com"),
        ("member.removed", "Removed lee (viewer)", "lee"),
    ]
    assert {e.actor_name for e in entries(app)} == {"maria"}


def test_an_accepted_invite__is_the_new_members_entry(app):
    sam = UserFactory(username="sam")
    _, token = actions.invite_create(application=app, role="editor", username="sam")
    with acting(Actor(via="engage", user=sam)):
        actions.invite_accept(token=token, user=sam)

    entry = last(app)
    assert (entry.action, entry.actor_name) == ("member.joined", "sam")
    assert entry.summary == "Joined as editor with the invite for sam"


def test_api_writes__record_the_tokens_name(app, client):
    TraitDefinitionFactory(application=app, key="plan")
    _, plaintext = api_token_create(application=app, name="CI deploy", role="editor")

    response = client.post(
        "/api/v1/manage/segments",
        json.dumps({"name": "Pro", "definition": {"match": "all", "rules": []}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
    )

    assert response.status_code == 201
    entry = last(app)
    assert (entry.action, entry.via, entry.token_name) == ("segment.created", "api", "CI deploy")
    assert entry.actor is None and entry.actor_name == "API token “CI deploy”"


def test_api_tokens_created_and_revoked(app, maria):
    with acting(Actor(via="engage", user=maria.user)):
        token, _ = api_token_create(application=app, name="CI", role="viewer")
        api_token_revoke(token=token)

    assert [(e.action, e.summary) for e in entries(app)] == [
        ("token.created", "Created the API token “CI” (viewer)"),
        ("token.revoked", "Revoked the API token “CI”"),
    ]


def test_an_import__one_entry_by_the_import(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,plan\nu1,pro\nu2,free\n")

    call_command(
        "import_users", str(path), "--app", str(app.pk), "--no-progress", stdout=StringIO()
    )

    imported = entries(app, action="users.imported")
    assert len(imported) == 1
    assert imported[0].via == "import" and imported[0].actor_name == "an import"
    assert imported[0].summary.startswith("Imported users from users.csv: 2 rows, 2 created")


def test_a_write_with_no_one_said__is_the_systems(app):
    actions.trait_definition_create(application=app, key="plan")

    assert (last(app).via, last(app).actor_name) == ("system", "the system")


def test_the_admins_role_change__recorded_as_the_admin(app, maria, client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    lee = MembershipFactory(application=app, user=UserFactory(username="lee"), role="editor")
    client.force_login(admin)

    response = client.post(
        f"/admin/segments/membership/{lee.pk}/change/",
        {"user": lee.user.pk, "application": app.pk, "role": "viewer"},
    )

    assert response.status_code == 302
    entry = last(app)
    assert (entry.action, entry.via, entry.actor_name) == ("member.role_changed", "admin", "root")
    assert entry.summary == "Changed the role of lee from editor to viewer"


# --- Logins -------------------------------------------------------------------------------


@pytest.fixture
def fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_login__an_entry_in_each_of_the_persons_applications(fast_hashes, app, maria):
    other = MembershipFactory(user=maria.user, application=ApplicationFactory()).application
    elsewhere = ApplicationFactory()

    response = Client().post(
        "/login/", {"username": "maria", "password": "correct horse battery"}, REMOTE_ADDR="1.2.3.4"
    )

    assert response.status_code == 302
    for application in (app, other):
        entry = last(application)
        assert (entry.action, entry.actor_name) == ("login", "maria")
        assert entry.summary == "Logged in from 1.2.3.4"
    assert entries(elsewhere) == []


def test_a_failed_login__recorded_for_the_username_tried(fast_hashes, app, maria):
    response = Client().post("/login/", {"username": "maria", "password": "wrong"})

    assert response.status_code == 200  # the form again (django-axes counts it too)
    entry = last(app)
    assert (entry.action, entry.actor, entry.summary) == (
        "login.failed",
        maria.user,
        "Failed login as maria from 127.0.0.1",
    )


def test_a_failed_login_of_an_unknown_username__records_nothing(fast_hashes, app, maria):
    Client().post("/login/", {"username": "nobody", "password": "wrong"})

    assert AuditEntry.objects.count() == 0


def test_a_lockout_still_answers_its_page(fast_hashes, app, maria, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        response = Client().post("/login/", {"username": "maria", "password": "wrong"})

    assert response.status_code == 429
    assert len(entries(app, action="login.failed")) == 2


# --- Append-only, and the retention -------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted(app):
    entry = audit.record(application=app, action="keys.rotated", summary="Rotated")

    entry.summary = "Nothing happened"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="Nothing")
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Rotated"


def test_a_deleted_person__keeps_their_name_on_their_entries(app, maria):
    with acting(Actor(via="engage", user=maria.user)):
        actions.application_rotate_keys(application=app)

    maria.user.delete()

    entry = last(app)
    assert entry.actor is None and entry.actor_name == "maria"


def test_the_admin_can_neither_add_nor_change_nor_delete(app, client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    entry = audit.record(application=app, action="keys.rotated", summary="Rotated")

    assert client.get("/admin/segments/auditentry/").status_code == 200
    assert client.get("/admin/segments/auditentry/add/").status_code == 403
    assert client.post(f"/admin/segments/auditentry/{entry.pk}/delete/").status_code == 403
    response = client.post(f"/admin/segments/auditentry/{entry.pk}/change/", {"summary": "Nothing"})
    assert response.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Rotated"


def test_prune_audit__deletes_what_is_past_each_applications_retention(app):
    short = ApplicationFactory(audit_retention_days=30)
    now = timezone.now()
    for application in (app, short):
        for days in (10, 100, 400):
            AuditEntry.objects.create(
                application=application,
                at=now - timedelta(days=days),
                actor_name="maria",
                action="keys.rotated",
                summary=f"{days} days ago",
            )
    out = StringIO()

    call_command("prune_audit", stdout=out)

    assert [e.summary for e in entries(app)] == ["10 days ago", "100 days ago"]
    assert [e.summary for e in entries(short)] == ["10 days ago"]
    assert "3 audit entries" in out.getvalue()


def test_deleting_an_application__takes_its_entries(app):
    audit.record(application=app, action="keys.rotated", summary="Rotated")

    app.delete()

    assert AuditEntry.objects.count() == 0


def test_a_command__recorded_as_a_command(app):
    call_command(
        "create_api_token", str(app.pk), "--name", "CI", "--role", "viewer", stdout=StringIO()
    )

    entry = last(app)
    assert (entry.action, entry.via, entry.actor_name) == ("token.created", "command", "a command")
