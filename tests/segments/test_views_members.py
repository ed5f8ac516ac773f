"""Setup > Members (segments/views/members.py): the list for every member, writes for owners
only, the last owner's inline error, invite links shown once and answered at /invite/<token>/,
within the application (another application's ids are 404)."""

import html
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from segments import actions
from segments.models import Invite, Membership
from tests.factories import ApplicationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

OWNER, EDITOR, VIEWER = Membership.Role.OWNER, Membership.Role.EDITOR, Membership.Role.VIEWER
HTMX = {"HX-Request": "true"}
LAST_OWNER = "is the last owner of"


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=OWNER, user__username="olga", application__name="Acme")
    client.force_login(membership.user)
    return membership


@pytest.fixture
def team(owner):
    """Olga (owner, logged in), Ed (editor) and Vera (viewer) of Acme."""
    app = owner.application
    editor = MembershipFactory(application=app, role=EDITOR, user__username="ed")
    viewer = MembershipFactory(application=app, role=VIEWER, user__username="vera")
    return app, editor, viewer


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def member_rows(response) -> dict[str, str]:
    """Each member's row: {username: its HTML}."""
    found = {}
    for row in re.findall(r'<tr id="member-\d+".*?</tr>', response.content.decode(), re.S):
        name = re.search(r'<th scope="row">([^<]+)', row).group(1).strip()
        found[name] = row
    return found


# --- The list ----------------------------------------------------------------------------


def test_the_page_lists_members_with_email_and_role_owners_first(client, team):
    app, _, _ = team
    response = client.get(url("members", app))
    assert response.status_code == 200
    rows = member_rows(response)
    assert list(rows) == ["olga", "ed", "vera"]
    assert "vera@example.com" in rows["vera"]
    assert '<option value="viewer" selected>' in rows["vera"]


@pytest.mark.parametrize("role", [EDITOR, VIEWER])
def test_editors_and_viewers_see_the_list_read_only(client, team, role):
    app, editor, viewer = team
    me = editor if role == EDITOR else viewer
    client.force_login(me.user)
    response = client.get(url("members", app))
    page = page_text(response)
    assert response.status_code == 200
    assert list(member_rows(response)) == ["olga", "ed", "vera"]
    assert "Add member" not in page and "<select" not in page
    assert 'aria-label="Remove' not in page
    assert "Only an owner of Acme can add, change or remove members." in page


def test_the_navigation_links_the_members_page_for_every_role(client, team):
    app, _, viewer = team
    client.force_login(viewer.user)
    page = client.get(url("list", app)).content.decode()
    assert f'href="{url("members", app)}">Members</a>' in page
    page = client.get(url("members", app)).content.decode()
    assert f'href="{url("members", app)}" aria-current="page">Members</a>' in page
    assert re.findall(r'aria-current="page">([^<]+)</a>', page) == ["Members"]


def test_the_page_takes_the_same_queries_whatever_the_number_of_members(
    client, team, django_assert_num_queries
):
    app, _, _ = team
    actions.invite_create(application=app, email="a@example.com", role=EDITOR)
    # session, user, membership, switcher, members with their users, pending invites
    with django_assert_num_queries(6):
        assert len(member_rows(client.get(url("members", app)))) == 3
    for n in range(10):
        MembershipFactory(application=app, role=VIEWER)
        actions.invite_create(application=app, username=f"later{n}", role=VIEWER)
    with django_assert_num_queries(6):
        response = client.get(url("members", app))
    assert len(member_rows(response)) == 13
    assert page_text(response).count('aria-label="Revoke the invite for') == 11


def test_another_applications_members_page_and_ids_are_404(client, owner):
    other = MembershipFactory(role=EDITOR).application
    stranger = other.memberships.get()
    invite, _ = actions.invite_create(application=other, email="x@example.com", role=VIEWER)
    mine = owner.application
    assert client.get(url("members", other)).status_code == 404
    assert client.post(url("member_add", other), {"who": "olga", "role": OWNER}).status_code == 404
    # Another application's member or invite, through my own application's URLs.
    assert client.post(url("member_role", mine, stranger.pk), {"role": VIEWER}).status_code == 404
    assert client.get(url("member_remove", mine, stranger.pk)).status_code == 404
    assert client.post(url("member_remove", mine, stranger.pk)).status_code == 404
    assert client.post(url("member_invite_revoke", mine, invite.pk)).status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == EDITOR
    assert Invite.objects.get(pk=invite.pk).revoked_at is None
    assert not Membership.objects.filter(user=owner.user, application=other).exists()


# --- Writes: owners only -------------------------------------------------------------------


@pytest.mark.parametrize("role", [EDITOR, VIEWER])
def test_editors_and_viewers_get_403_on_every_write(client, team, role):
    app, editor, viewer = team
    me = editor if role == EDITOR else viewer
    client.force_login(me.user)
    invite, _ = actions.invite_create(application=app, email="x@example.com", role=VIEWER)
    owner = app.memberships.get(role=OWNER)
    before = list(Membership.objects.order_by("pk").values_list("pk", "role"))
    writes = [
        (url("member_add", app), {"who": "newbie@example.com", "role": OWNER}),
        (url("member_role", app, me.pk), {"role": OWNER}),
        (url("member_role", app, owner.pk), {"role": VIEWER}),
        (url("member_remove", app, owner.pk), {}),
        (url("member_invite_revoke", app, invite.pk), {}),
    ]
    for path, data in writes:
        response = client.post(path, data)
        assert response.status_code == 403, path
        assert "only an owner can do this" in page_text(response)
        response = client.post(path, data, headers=HTMX)
        assert response.status_code == 403
        assert "callout:forbidden" in json.loads(response.headers["HX-Trigger"])
    assert list(Membership.objects.order_by("pk").values_list("pk", "role")) == before
    assert Invite.objects.get() == invite and invite.revoked_at is None


def test_an_owner_adds_an_existing_user_by_username(client, owner):
    bob = UserFactory(username="bob")
    response = client.post(url("member_add", owner.application), {"who": "bob", "role": VIEWER})
    assert response.status_code == 302
    assert Membership.objects.get(user=bob, application=owner.application).role == VIEWER
    page = page_text(client.get(response.url))
    assert "bob is now a member (viewer)." in page


def test_adding_a_member_again_is_an_inline_field_error(client, team):
    app, _, _ = team
    response = client.post(url("member_add", app), {"who": "ed@example.com", "role": OWNER})
    assert response.status_code == 400
    page = page_text(response)
    assert (
        '<span class="error" id="member-who-error">ed is already a member of Acme (editor).' in page
    )
    assert 'value="ed@example.com"' in page
    assert app.memberships.get(user__username="ed").role == EDITOR


def test_an_unknown_email_gets_an_invite_whose_link_is_shown_once(client, owner):
    app = owner.application
    response = client.post(url("member_add", app), {"who": "nina@example.com", "role": EDITOR})
    assert response.status_code == 201
    page = page_text(response)
    link = re.search(r'aria-label="Invite link">(http://testserver/invite/([^/]+)/)</pre>', page)
    assert link, page
    invite = Invite.objects.get()
    assert (invite.email, invite.role, invite.created_by) == (
        "nina@example.com",
        EDITOR,
        owner.user,
    )
    token = link.group(2)
    assert token not in invite.digest
    # Listed as pending; the link itself is never shown again.
    again = page_text(client.get(url("members", app)))
    assert "nina@example.com" in again and token not in again
    assert "Revoke the invite for nina@example.com" in again


def test_an_owner_revokes_an_invite_and_its_link_stops_working(client, owner):
    invite, token = actions.invite_create(
        application=owner.application, email="nina@example.com", role=EDITOR
    )
    response = client.post(url("member_invite_revoke", owner.application, invite.pk))
    assert response.status_code == 302
    assert "Revoke the invite for" not in page_text(client.get(response.url))
    client.force_login(UserFactory(username="nina", email="nina@example.com"))
    response = client.get(reverse("invite", args=[token]))
    assert response.status_code == 410
    assert "This invite was revoked" in page_text(response)


def test_an_owner_changes_a_role_without_javascript(client, team):
    app, editor, _ = team
    response = client.post(url("member_role", app, editor.pk), {"role": VIEWER})
    assert response.status_code == 302
    editor.refresh_from_db()
    assert editor.role == VIEWER
    assert "ed is now a viewer." in page_text(client.get(response.url))


def test_an_owner_changes_a_role_in_its_row_with_htmx(client, team):
    app, editor, _ = team
    row = f"member-{editor.pk}"
    response = client.post(
        url("member_role", app, editor.pk), {"role": OWNER}, headers=HTMX | {"HX-Target": row}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="{row}" class="flash">')
    assert "<html" not in body
    assert '<option value="owner" selected>' in body
    editor.refresh_from_db()
    assert editor.role == OWNER


def test_demoting_the_last_owner_is_an_inline_error_not_a_500(client, team):
    app, _, _ = team
    me = app.memberships.get(role=OWNER)
    response = client.post(url("member_role", app, me.pk), {"role": EDITOR})
    assert response.status_code == 400
    row = member_rows(response)["olga"]
    assert "olga is the last owner of Acme: make another member an owner first." in html.unescape(
        row
    )
    assert 'aria-invalid="true"' in row
    row_id = f"member-{me.pk}"
    response = client.post(
        url("member_role", app, me.pk), {"role": VIEWER}, headers=HTMX | {"HX-Target": row_id}
    )
    assert response.status_code == 400
    assert LAST_OWNER in response.content.decode() and "<html" not in response.content.decode()
    me.refresh_from_db()
    assert me.role == OWNER


def test_removing_the_last_owner_is_an_inline_error(client, team):
    app, _, _ = team
    me = app.memberships.get(role=OWNER)
    response = client.post(url("member_remove", app, me.pk))
    assert response.status_code == 400
    assert LAST_OWNER in html.unescape(member_rows(response)["olga"])
    response = client.post(
        url("member_remove", app, me.pk), headers=HTMX | {"HX-Target": f"member-{me.pk}"}
    )
    assert response.status_code == 400 and LAST_OWNER in response.content.decode()
    assert Membership.objects.filter(pk=me.pk).exists()


def test_remove_asks_first_without_javascript_then_removes(client, team):
    app, editor, _ = team
    confirm = client.get(url("member_remove", app, editor.pk))
    assert confirm.status_code == 200
    page = page_text(confirm)
    assert "Remove ed from Acme?" in page and "Remove member</button>" in page
    assert Membership.objects.filter(pk=editor.pk).exists()
    response = client.post(url("member_remove", app, editor.pk))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=editor.pk).exists()
    assert "ed is no longer a member of Acme." in page_text(client.get(response.url))


def test_remove_with_htmx_empties_the_row(client, team):
    app, _, viewer = team
    response = client.post(
        url("member_remove", app, viewer.pk), headers=HTMX | {"HX-Target": f"member-{viewer.pk}"}
    )
    assert response.status_code == 200 and response.content == b""
    assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_an_owner_who_demotes_themselves_gets_the_whole_page_again(client, team):
    app, editor, _ = team
    actions.membership_change_role(membership=editor, role=OWNER)
    me = app.memberships.get(user__username="olga")
    response = client.post(
        url("member_role", app, me.pk),
        {"role": EDITOR},
        headers=HTMX | {"HX-Target": f"member-{me.pk}"},
    )
    assert response.headers["HX-Redirect"] == url("members", app)
    page = page_text(client.get(url("members", app)))
    assert "You are now an editor of Acme." in page and "Add member" not in page


def test_an_owner_who_leaves_goes_home(client, team):
    app, editor, _ = team
    actions.membership_change_role(membership=editor, role=OWNER)
    me = app.memberships.get(user__username="olga")
    response = client.post(url("member_remove", app, me.pk))
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(url("members", app)).status_code == 404


# --- The invite link -----------------------------------------------------------------------


@pytest.fixture
def invited(owner):
    invite, token = actions.invite_create(
        application=owner.application, email="nina@example.com", role=EDITOR, created_by=owner.user
    )
    return invite, reverse("invite", args=[token])


def test_someone_not_logged_in_logs_in_first_and_comes_back(client, invited):
    _, link = invited
    client.logout()
    response = client.get(link)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={link}"
    nina = UserFactory(username="nina", email="nina@example.com")
    response = client.post(
        response.url, {"username": "nina", "password": "correct horse battery", "next": link}
    )
    assert response.status_code == 302 and response.url == link
    page = page_text(client.get(link))
    assert "Join Acme" in page and "olga invites you to Acme as editor." in page
    assert not Membership.objects.filter(user=nina).exists()  # opening the link is not joining


def test_the_invitee_joins_and_lands_in_the_application(client, invited):
    invite, link = invited
    nina = UserFactory(username="nina", email="nina@example.com")
    client.force_login(nina)
    response = client.post(link)
    assert response.status_code == 302
    assert response.url == reverse("segments:list", args=[invite.application_id])
    assert Membership.objects.get(user=nina, application=invite.application).role == EDITOR
    page = page_text(client.get(response.url))
    assert "Welcome to Acme: you are an editor." in page
    # Now in the switcher, with the other applications they are a member of.
    assert ">Acme</a>" in page


def test_nina_in_two_applications_switches_between_them(client, invited):
    invite, link = invited
    nina = UserFactory(username="nina", email="nina@example.com")
    elsewhere = MembershipFactory(user=nina, application__name="Beta", role=VIEWER).application
    client.force_login(nina)
    client.post(link)
    page = page_text(client.get(url("list", elsewhere)))
    assert f'href="{url("list", invite.application)}">Acme</a>' in page
    assert f'href="{url("list", elsewhere)}" aria-current="true">Beta</a>' in page


def test_a_used_link_says_so(client, invited):
    _, link = invited
    client.force_login(UserFactory(username="nina", email="nina@example.com"))
    client.post(link)
    response = client.get(link)
    assert response.status_code == 410
    assert "This invite was already used" in page_text(response)
    assert client.post(link).status_code == 410


def test_an_expired_link_says_so_and_joins_nobody(client, invited):
    invite, link = invited
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    nina = UserFactory(username="nina", email="nina@example.com")
    client.force_login(nina)
    response = client.get(link)
    assert response.status_code == 410
    assert "This invite has expired" in page_text(response)
    response = client.post(link)
    assert response.status_code == 410
    assert not Membership.objects.filter(user=nina).exists()


def test_a_link_for_someone_else_is_refused(client, invited):
    _, link = invited
    mallory = UserFactory(username="mallory", email="mallory@example.com")
    client.force_login(mallory)
    response = client.post(link)
    assert response.status_code == 403
    assert "This invite is for nina@example.com" in page_text(response)
    assert not Membership.objects.filter(user=mallory).exists()


def test_an_unknown_link_is_404(client, owner):
    response = client.get(reverse("invite", args=["nope"]))
    assert response.status_code == 404
    assert "This invite link is not valid." in page_text(response)


def test_a_member_already_opening_the_link_is_sent_to_the_application(client, invited):
    invite, link = invited
    membership = MembershipFactory(
        application=invite.application, role=VIEWER, user__email="nina@example.com"
    )
    client.force_login(membership.user)
    response = client.get(link)
    assert response.status_code == 200
    assert "You are already a member of Acme." in page_text(response)
    assert f'href="{url("list", invite.application)}"' in response.content.decode()


def test_the_invite_link_of_another_application_never_shows_its_members(client, owner):
    """An invite names its application to whoever holds the link, nothing more."""
    other = ApplicationFactory(name="Secret")
    MembershipFactory(application=other, role=OWNER, user__username="boss")
    _, token = actions.invite_create(application=other, email="nina@example.com", role=VIEWER)
    client.force_login(UserFactory(username="nina", email="nina@example.com"))
    page = page_text(client.get(reverse("invite", args=[token])))
    assert "Join Secret" in page and "boss" not in page
