from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from management_api.actions import api_token_create, api_token_revoke
from management_api.models import ApiToken, token_hash
from segments.models import Membership
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_token__stored_as_its_sha256_never_in_plaintext(app):
    token, plaintext = api_token_create(application=app, name="CI", role="editor")

    assert token.digest == token_hash(plaintext) != plaintext
    assert plaintext not in {str(v) for v in ApiToken.objects.values_list().get()}


@pytest.mark.parametrize(
    "header",
    [None, "Bearer ", "Basic abc", "Bearer clt_unknown", "bearer"],
)
def test_missing_or_unknown_token__401_in_the_error_shape(api, header):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}

    response = api("GET", "segments", token=None, **headers)

    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "message"}


def test_revoked_token__401(api, app, editor_token):
    api_token_revoke(token=ApiToken.objects.get(digest=token_hash(editor_token)))

    assert api("GET", "segments").status_code == 401


def test_viewer_token__reads_but_every_write_is_403(viewer_api, app):
    everyone = app.everyone.pk
    writes = [
        ("POST", "traits"),
        ("PATCH", "traits/plan"),
        ("DELETE", "traits/role"),
        ("POST", "segments"),
        ("PUT", f"segments/{everyone}"),
        ("DELETE", f"segments/{everyone}"),
        ("POST", "count"),
        ("POST", "evaluate"),
        ("POST", "experiences"),
    ]

    assert viewer_api("GET", "segments").status_code == 200
    for method, path in writes:
        response = viewer_api(method, path, {})
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "forbidden"
    assert app.trait_definitions.filter(key="role").exists()


def test_wrong_method__405_with_allow(api):
    response = api("PATCH", "segments", {})

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_last_used_at__recorded_at_most_once_a_minute(api, editor_token):
    token = ApiToken.objects.get(digest=token_hash(editor_token))
    assert token.last_used_at is None

    api("GET", "traits")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    api("GET", "traits")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first is not None

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    api("GET", "traits")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - timedelta(seconds=1)


def test_command__prints_the_token_alone_on_its_last_line(app, client):
    out, err = StringIO(), StringIO()

    call_command(
        "create_api_token", str(app.pk), "--name", "CI", "--role", "editor", stdout=out, stderr=err
    )

    plaintext = out.getvalue().strip().splitlines()[-1]
    assert ApiToken.objects.get(digest=token_hash(plaintext)).role == "editor"
    response = client.get("/api/v1/manage/traits", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200


# --- Settings > API tokens ---------------------------------------------------------------


def member_of(client, app, role):
    membership = MembershipFactory(application=app, role=role)
    client.force_login(membership.user)
    return membership


def test_page__owner_creates_a_token_shown_once(client, app):
    member_of(client, app, Membership.Role.OWNER)
    url = f"/apps/{app.pk}/settings/api-tokens/"

    created = client.post(url + "new/", {"name": "Deploy", "role": "editor"})

    token = ApiToken.objects.get(application=app, name="Deploy")
    plaintext = created.context["plaintext"]
    assert created.status_code == 201
    assert plaintext in created.content.decode()
    assert token.digest == token_hash(plaintext)
    assert plaintext not in client.get(url).content.decode()  # once only


def test_page__owner_revokes(client, app, editor_token):
    member_of(client, app, Membership.Role.OWNER)
    token = ApiToken.objects.get(digest=token_hash(editor_token))

    response = client.post(f"/apps/{app.pk}/settings/api-tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_page__invalid_form__400_inline_errors_nothing_created(client, app):
    member_of(client, app, Membership.Role.OWNER)

    response = client.post(f"/apps/{app.pk}/settings/api-tokens/new/", {"name": "", "role": "x"})

    assert response.status_code == 400
    assert set(response.context["errors"]) == {"name", "role"}
    assert not ApiToken.objects.filter(application=app).exists()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.EDITOR])
def test_page__non_owner_sees_the_list_but_cannot_create_or_revoke(client, app, editor_token, role):
    member_of(client, app, role)
    token = ApiToken.objects.get(digest=token_hash(editor_token))
    base = f"/apps/{app.pk}/settings/api-tokens/"

    page = client.get(base)
    create = client.post(base + "new/", {"name": "Mine", "role": "editor"})
    revoke = client.post(f"{base}{token.pk}/revoke/")

    assert page.status_code == 200 and "CI" in page.content.decode()
    assert "Create token" not in page.content.decode()
    assert (create.status_code, revoke.status_code) == (403, 403)
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.filter(application=app).count() == 1


def test_page__another_applications_token__404(client, app, other):
    member_of(client, app, Membership.Role.OWNER)
    theirs, _ = api_token_create(application=other["app"], name="Theirs", role="editor")

    response = client.post(f"/apps/{app.pk}/settings/api-tokens/{theirs.pk}/revoke/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
