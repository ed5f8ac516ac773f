"""Roles on every Engage URL: the matrix is generated from Django's URL resolver, so a new view
is covered the day it is added.

Every URL pattern under ``apps/<app_id>/``, by every role (viewer, editor, owner), by GET / POST,
built with real ids of the member's own objects. Viewers read everything (but the audit log,
``read_role``) and write nothing
(403, not a row changed); editors write all but what ``write_role=owner`` keeps for owners;
a member of another application gets 404 whatever the method.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from experiences import versions as experience_versions
from experiences.models import Event, Experience, ExperienceVersion
from management_api.actions import api_token_create
from management_api.models import ApiToken
from segments.access import RANK, Role
from segments.actions import invite_create
from segments.models import (
    Application,
    Company,
    EndUser,
    EventDefinition,
    Invite,
    Membership,
    Rule,
    Segment,
    SegmentVersion,
    TraitDefinition,
)
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    EndUserFactory,
    EventDefinitionFactory,
    EventFactory,
    MembershipFactory,
    TourFactory,
    TraitDefinitionFactory,
    saved_segment,
)

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.EDITOR, Role.OWNER]
METHODS = ["get", "post"]


def engage_patterns() -> list[tuple[str, str, Any]]:
    """(url name, full route, view) of every pattern whose route takes an ``app_id``."""
    found = []

    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and "<int:app_id>" in route:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append((name, route, pattern.callback))

    walk(get_resolver().url_patterns, "", None)
    return found


PATTERNS = engage_patterns()
NAMES = [name for name, _route, _view in PATTERNS]


def test_the_matrix_covers_both_engage_apps():
    # manage_settings: Settings > API tokens (management_api/settings_urls.py).
    assert {name.split(":")[0] for name in NAMES} == {"segments", "experiences", "manage_settings"}
    assert len(NAMES) == len(set(NAMES)) >= 25


@pytest.mark.parametrize(("name", "route", "view"), PATTERNS, ids=NAMES)
def test_every_engage_view_goes_through_application_view(name, route, view):
    """The role check lives in access.application_view: a view without it has no role check."""
    assert getattr(view, "write_role", None) in RANK, name
    assert getattr(view, "read_role", None) in RANK, name


def _objects(application: Application) -> dict[str, Any]:
    """One of each object an Engage URL names, in ``application``."""
    TraitDefinitionFactory(application=application, key="plan")
    unused = TraitDefinitionFactory(application=application, key="unused")
    segment = saved_segment(application, "Pro", [("plan", "equals", "pro")])
    company = CompanyFactory(application=application, traits={"plan": "pro"})
    end_user = EndUserFactory(application=application, traits={"plan": "pro"}, company=company)
    experience = TourFactory(application=application)
    experience_versions.record(experience)  # made by a factory: its first version by hand
    # Another segment than the one the URLs name: a segment in use cannot be deleted.
    experience.segments.set([saved_segment(application, "Used", [("plan", "is_set", None)])])
    EventFactory(experience=experience, end_user=end_user)
    token, _ = api_token_create(application=application, name="CI", role="editor")
    event_name = EventDefinitionFactory(application=application, name="signed_up")
    # Setup > Members: another member (an editor) and a pending invite.
    member = MembershipFactory(application=application, role=Role.EDITOR)
    invite, _ = invite_create(application=application, email="new@example.com", role="viewer")
    # By the route's first part: /segments/<pk>/, /traits/<pk>/, /users/<pk>/, ...
    return {
        "settings": token,
        "segments": segment,
        "traits": unused,
        "events": event_name,
        "users": end_user,
        "companies": company,
        "experiences": experience,
        "members": member,
        "invites": invite,
    }


def _url(name: str, route: str, application: Application, objects: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {"app_id": application.pk}
    rest = route.split("<int:app_id>/", 1)[1]
    if "<int:pk>" in rest:
        kind = rest.split("/")[0]
        assert kind in objects, f"{name}: no test object for /{kind}/<pk>/ (add one to _objects)"
        kwargs["pk"] = objects[kind].pk
    if "<str:kind>" in rest:
        kwargs["kind"] = Experience.Kind.TOUR
    if "<int:number>" in rest:
        kwargs["number"] = 1  # a version: each object of _objects has its first
    known = rest.replace("<int:pk>", "").replace("<str:kind>", "").replace("<int:number>", "")
    unknown = {p for p in ("<", ">") if p in known}
    assert not unknown, f"{name}: a URL argument this test does not know how to fill: {route}"
    return reverse(name, kwargs=kwargs)


# What a write would send if the role allowed it: enough for the action to change something, so
# that "nothing changed" below is a real check. A URL missing here is still posted (empty).
POST_DATA = {
    "segments:create": {"name": "Viewers", "rules": "0", "rules-0-trait": "plan",
                        "rules-0-operator": "is_set"},
    "segments:edit": {"name": "Renamed", "rules": "0", "rules-0-trait": "plan",
                      "rules-0-operator": "is_set"},
    "segments:trait_create": {"key": "newTrait", "type": "string"},
    "segments:trait_create_company": {"key": "newTrait", "type": "string"},
    "segments:trait_edit": {"label": "Relabelled", "type": "string"},
    "segments:event_create": {"name": "new_event", "description": "By hand"},
    "segments:event_edit": {"description": "Redescribed"},
    "segments:set_identity_verification": {"required": "1"},
    "segments:app_settings": {"max_banners_per_edge": "3", "cap_per_day": "5",
                              "cap_per_session": ""},
    "experiences:create": {"name": "New tour", "url_include": "/", "frequency": "once",
                           "priority": "0", "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
                           "steps-0-type": "modal", "steps-0-title": "Hi"},
    "experiences:publish": {"allow_empty": "1"},
    "manage_settings:token_create": {"name": "Bot", "role": "editor"},
    "segments:member_add": {"who": "someone@example.com", "role": "viewer"},
    "segments:member_role": {"role": "viewer"},
}  # fmt: skip


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row an Engage write could touch, to compare before and after."""
    models = [Application, Membership, TraitDefinition, EndUser, Segment, Rule, Experience, Event]
    models += [ApiToken, EventDefinition, Company, Invite, SegmentVersion, ExperienceVersion]
    return {
        model.__name__: [
            json.loads(json.dumps(row, default=str))
            for row in model.objects.order_by("pk").values()
        ]
        for model in models
    }


def _member(client, role: str) -> tuple[Application, dict[str, Any]]:
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    return membership.application, _objects(membership.application)


def _accepts(view: Any, method: str) -> bool:
    """Whether ``view`` answers ``method`` at all: require_GET / require_POST answer 405
    before anything else, so a bare anonymous request tells (login_required stops it before
    the view's body, with no query; also at collection, before pytest-django's hosts)."""
    from django.test import RequestFactory, override_settings

    request = getattr(RequestFactory(), method)("/")
    request.user = AnonymousUser()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        return view(request, app_id=0).status_code != 405


def _accepts_post(view: Any) -> bool:
    return _accepts(view, "post")


def _accepts_get(view: Any) -> bool:
    return _accepts(view, "get")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "route", "view"), PATTERNS, ids=NAMES)
def test_role_matrix(client, name, route, view, role, method):
    application, objects = _member(client, role)
    url = _url(name, route, application, objects)
    before = snapshot()
    response = getattr(client, method)(url, POST_DATA.get(name, {}) if method == "post" else {})
    status = response.status_code
    allowed_methods = ("POST",) if not _accepts_get(view) else ("GET", "POST")
    if method == "get":
        if "GET" not in allowed_methods:
            assert status == 405
        elif RANK[role] < RANK[view.read_role]:
            # A page kept from some members (the audit log: editors and owners).
            assert status == 403, (name, role, status)
            assert "can do this" in response.content.decode()
        else:
            # Every role reads every other page (a redirect is a no-JavaScript fallback).
            assert status in (200, 302), (name, role, status)
            assert snapshot() == before, f"GET {name} wrote"
        return
    if not _accepts_post(view):
        assert status == 405, (name, status)
        assert snapshot() == before
        return
    if RANK[role] < RANK[view.write_role]:
        assert status == 403, (name, role, status)
        assert snapshot() == before, f"a {role} changed something through POST {name}"
        assert "can do this" in response.content.decode()
    else:
        assert status not in (403, 404, 405) and status < 500, (name, role, status)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("name", "route", "view"), PATTERNS, ids=NAMES)
def test_a_non_member_gets_404_on_every_engage_url(client, name, route, view, method):
    other = ApplicationFactory()
    objects = _objects(other)
    MembershipFactory(role=Role.OWNER)  # an owner, of another application
    outsider = Membership.objects.exclude(application=other).get()
    client.force_login(outsider.user)
    before = snapshot()
    response = getattr(client, method)(_url(name, route, other, objects), POST_DATA.get(name, {}))
    allowed = {"get": _accepts_get(view), "post": _accepts_post(view)}[method]
    assert response.status_code == (404 if allowed else 405), name
    assert snapshot() == before


@pytest.mark.parametrize(
    ("name", "route", "view"),
    [p for p in PATTERNS if _accepts_post(p[2])],
    ids=[name for name, _route, view in PATTERNS if _accepts_post(view)],
)
def test_a_viewers_htmx_write_is_refused_with_an_event_the_page_shows(client, name, route, view):
    application, objects = _member(client, Role.VIEWER)
    before = snapshot()
    response = client.post(
        _url(name, route, application, objects),
        POST_DATA.get(name, {}),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 403
    event = json.loads(response.headers["HX-Trigger"])["callout:forbidden"]
    assert event["message"].startswith(f"You are a viewer of {application.name}: only ")
    assert snapshot() == before


def test_the_forbidden_page_names_the_role_it_needs(client):
    application, _ = _member(client, Role.EDITOR)
    response = client.post(reverse("segments:rotate_keys", args=[application.pk]))
    assert response.status_code == 403
    page = response.content.decode()
    assert f"You are a editor of {application.name}" not in page
    assert f"You are an editor of {application.name}: only an owner can do this." in page
    assert "Nothing was changed." in page


# --- Controls a role cannot use are not shown ---------------------------------------------

# (page, its object, text of a control that writes): shown to editors and owners only.
CONTROLS = [
    ("segments:list", None, "Create Segment"),
    ("segments:detail", "segments", "Edit segment"),
    ("segments:detail", "segments", "Delete segment"),
    ("segments:edit", "segments", "Save segment"),
    ("segments:delete", "segments", 'class="primary danger-fill"'),
    ("segments:traits", None, "Add a trait"),
    ("segments:traits", None, 'aria-label="Delete unused"'),
    ("segments:traits", None, 'aria-label="Edit unused"'),
    ("segments:events", None, "Add an event"),
    ("segments:events", None, 'aria-label="Edit signed_up"'),
    ("segments:events", None, 'aria-label="Delete signed_up"'),
    ("experiences:list", None, "New experience"),
    ("experiences:detail", "experiences", ">Publish</button>"),
    ("experiences:detail", "experiences", "Delete this experience"),
    ("experiences:edit", "experiences", "+ Add step"),
    ("experiences:edit", "experiences", '<button class="primary" type="submit">Save</button>'),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "kind", "control"), CONTROLS)
def test_write_controls_are_shown_only_to_roles_that_can_use_them(
    client, role, name, kind, control
):
    application, objects = _member(client, role)
    args = [application.pk] + ([objects[kind].pk] if kind else [])
    page = client.get(reverse(name, args=args)).content.decode()
    assert (control in page) == (role != Role.VIEWER), (name, role, control)


@pytest.mark.parametrize("role", ROLES)
def test_owner_controls_are_shown_only_to_owners(client, role):
    application, _ = _member(client, role)
    page = client.get(reverse("segments:install", args=[application.pk])).content.decode()
    assert ("Rotate keys" in page) == (role == Role.OWNER)
    assert (application.secret_key in page) == (role == Role.OWNER)
    members = client.get(reverse("segments:members", args=[application.pk])).content.decode()
    for control in ("Add member", "<select", 'aria-label="Remove ', 'aria-label="Revoke '):
        assert (control in members) == (role == Role.OWNER), control


# --- The Django admin: operators only ------------------------------------------------------


def test_a_staff_member_with_every_permission_cannot_use_the_admin(client):
    """The admin spans every application and skips Engage's role checks: superusers only."""
    from django.contrib.auth.models import Permission

    membership = MembershipFactory(role=Role.VIEWER)
    objects = _objects(membership.application)
    user = membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)
    before = snapshot()
    assert client.get("/admin/").status_code == 302  # to the admin's login page
    segment = objects["segments"]
    change = reverse("admin:segments_segment_change", args=[segment.pk])
    assert client.get(change).status_code == 302
    client.post(change, {"name": "Hijacked", "description": ""})
    client.post(reverse("admin:segments_segment_delete", args=[segment.pk]), {"post": "yes"})
    delete = reverse("admin:experiences_experience_delete", args=[objects["experiences"].pk])
    client.post(delete, {"post": "yes"})
    assert snapshot() == before


def test_a_superuser_still_uses_the_admin(client):
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
