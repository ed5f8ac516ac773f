import pytest
from django.urls import reverse

from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_pages_require_login(client):
    application = ApplicationFactory()
    response = client.get(reverse("segments:list", args=[application.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_opens_the_managers_first_application(client, member):
    response = client.get("/")
    assert response.url == reverse("segments:list", args=[member.application.pk])


def test_another_applications_pages_answer_404(client, member):
    other = ApplicationFactory()
    for name in ("segments:list", "experiences:list"):
        assert client.get(reverse(name, args=[other.pk])).status_code == 404
        assert client.get(reverse(name, args=[member.application.pk])).status_code == 200


def test_the_switcher_lists_only_the_managers_applications(client, member):
    ApplicationFactory(name="Someone Else's App")
    page = client.get(reverse("segments:list", args=[member.application.pk])).content.decode()
    assert member.application.name in page
    assert "Someone Else&#x27;s App" not in page and "Someone Else's App" not in page


# --- Every URL of the app, scoped to the application -------------------------------------

# How to call each URL: method, whether it names an object (pk), and GET params.
# A new URL without an entry here fails test_every_url_is_covered.
URLS = {
    "segments:list": ("get", None, {}),
    "segments:create": ("get", None, {}),
    "segments:preview": ("get", None, {"rules": "0", "rules-0-trait": "plan"}),
    "segments:rule_row": ("get", None, {"rules": "0", "rules-0-trait": "plan"}),
    "segments:node": ("get", None, {"add": "event"}),
    "segments:detail": ("get", "segment", {}),
    "segments:edit": ("get", "segment", {}),
    "segments:delete": ("get", "segment", {}),
    "segments:history": ("get", "segment", {}),
    "segments:segment_members_csv": ("get", "segment", {}),
    "segments:restore": ("post", "segment", {}),
    "segments:traits": ("get", None, {}),
    "segments:traits_company": ("get", None, {}),
    "segments:trait_create_company": ("post", None, {"key": "seats", "type": "number"}),
    "segments:companies": ("get", None, {}),
    "segments:company_detail": ("get", "company", {}),
    "segments:trait_create": ("post", None, {"key": "newTrait", "type": "string"}),
    "segments:trait_row": ("get", "trait", {}),
    "segments:trait_edit": ("get", "trait", {}),
    "segments:trait_delete": ("post", "trait", {}),
    "segments:events": ("get", None, {}),
    "segments:event_create": ("post", None, {"name": "new_event"}),
    "segments:event_row": ("get", "event", {}),
    "segments:event_edit": ("get", "event", {}),
    "segments:event_delete": ("post", "event", {}),
    "segments:users": ("get", None, {}),
    "segments:user_detail": ("get", "end_user", {}),
    "segments:install": ("get", None, {}),
    "segments:rotate_keys": ("post", None, {}),
    "segments:set_identity_verification": ("post", None, {"required": "1"}),
    "segments:app_settings": ("get", None, {}),
    "segments:app_settings_theme": ("post", None, {"primary": "#000000"}),
    "segments:audit": ("get", None, {"who": "maria"}),
    "segments:audit_export": ("get", None, {}),
    "segments:members": ("get", None, {}),
    "segments:member_add": ("post", None, {"who": "nobody@example.com", "role": "viewer"}),
    "segments:member_role": ("post", "membership", {"role": "viewer"}),
    "segments:member_remove": ("get", "membership", {}),
    "segments:member_invite_revoke": ("post", "invite", {}),
    "experiences:list": ("get", None, {}),
}
# Writes only an owner may make: the test's member (an editor) is refused, not "not found".
OWNERS_ONLY = {
    "segments:rotate_keys",
    "segments:set_identity_verification",
    "segments:member_add",
    "segments:member_role",
    "segments:member_invite_revoke",
    "segments:app_settings_theme",
}


def _objects(application):
    from segments import actions
    from segments.models import TraitDefinition
    from tests.factories import (
        CompanyFactory,
        EndUserFactory,
        EventDefinitionFactory,
        MembershipFactory,
        TraitDefinitionFactory,
        saved_segment,
    )

    trait = TraitDefinitionFactory(application=application, key="plan")
    unused = TraitDefinition.objects.create(application=application, key="unused")
    segment = saved_segment(application, "Pro", [("plan", "equals", "pro")])
    return {
        "segment": segment,
        "trait": trait,
        "unused_trait": unused,
        "end_user": EndUserFactory(application=application, traits={"plan": "pro"}),
        "event": EventDefinitionFactory(application=application, name="signed_up"),
        "company": CompanyFactory(application=application, traits={"plan": "pro"}),
        "membership": MembershipFactory(application=application),
        "invite": actions.invite_create(
            application=application, role="viewer", email=f"new-{application.pk}@example.com"
        )[0],
    }


def test_every_url_is_covered():
    from django.urls import get_resolver

    resolver = get_resolver()
    names = set()
    for pattern in resolver.url_patterns:
        if getattr(pattern, "namespace", None) == "segments":
            names |= {f"segments:{p.name}" for p in pattern.url_patterns}
    # The experiences screens' own scoping tests are in tests/experiences/test_views.py.
    assert names == set(URLS) - {"experiences:list"}


@pytest.mark.parametrize("name", sorted(URLS))
@pytest.mark.parametrize("htmx", [False, True])
def test_another_applications_objects_answer_404_on_every_url(client, member, name, htmx):
    """Through the other application's id, and through ours with the other's objects."""
    method, kind, params = URLS[name]
    other = ApplicationFactory()
    theirs = _objects(other)
    ours = _objects(member.application)
    headers = {"HX-Request": "true"} if htmx else {}
    call = getattr(client, method)

    def url(app, objects):
        args = [app.pk]
        if kind:
            key = "unused_trait" if name == "segments:trait_delete" else kind
            args.append(objects[key].pk)
        if name == "segments:restore":
            args.append(1)  # the segment's first version
        return reverse(name, args=args)

    assert call(url(other, theirs), params, headers=headers).status_code == 404
    if kind:
        # An owner's write is refused to an editor before any object is looked up, whichever
        # it names: the same 403 for ours and theirs, so nothing leaks (an owner's 404 on
        # another application's members: tests/segments/test_views_members.py).
        refused = 403 if name in OWNERS_ONLY else 404
        assert call(url(member.application, theirs), params, headers=headers).status_code == refused
    # The same request on our own objects works (a redirect is fine: no-JS fallbacks); an
    # owner's write (rotating keys, members) is refused to an editor rather than not found.
    allowed = (403,) if name in OWNERS_ONLY else (200, 302)
    assert call(url(member.application, ours), params, headers=headers).status_code in allowed


def test_a_preview_cannot_name_another_applications_segment(client, member):
    theirs = _objects(ApplicationFactory())["segment"]
    url = reverse("segments:preview", args=[member.application.pk])
    response = client.get(url, {"segment": theirs.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 404


def test_a_rule_cannot_use_another_applications_trait(client, member):
    from segments.models import Segment

    _objects(ApplicationFactory())  # has "plan"; ours has no trait at all
    url = reverse("segments:create", args=[member.application.pk])
    data = {"name": "Sneaky", "rules": "0", "rules-0-trait": "plan", "rules-0-operator": "is_set"}
    response = client.post(url, data)
    assert response.status_code == 400
    assert not Segment.objects.filter(name="Sneaky").exists()


def test_writes_need_a_csrf_token():
    from django.test import Client

    from tests.factories import MembershipFactory

    membership = MembershipFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)
    url = reverse("segments:trait_create", args=[membership.application.pk])
    assert client.post(url, {"key": "x", "type": "string"}).status_code == 403
    page = client.get(reverse("segments:traits", args=[membership.application.pk]))
    token = page.cookies["csrftoken"].value
    # What htmx sends: the token in a header (hx-headers on <body>).
    assert b'hx-headers=\'{"X-CSRFToken": "' in page.content
    response = client.post(url, {"key": "x", "type": "string"}, headers={"X-CSRFToken": token})
    assert response.status_code == 302
