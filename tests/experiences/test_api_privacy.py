"""What the snippet's API tells a caller who has only the public key (docs/api.md, "What
identify answers" and "Identity verification"): identify never answers a user's stored traits,
and with identity verification on, every call (events too) needs the user's hash."""

import io
import json

import pytest

from experiences import identify, lookup
from experiences.checks import user_hash
from experiences.models import Event
from segments.importing import read_jsonl, users_import
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

IDENTIFY, EXPERIENCES, EVENTS = "/api/v1/identify", "/api/v1/experiences", "/api/v1/events"
SECRET = "salary-band-7"  # a trait value set server-side, which no page should be able to read


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="text/plain")


@pytest.fixture(params=["in steps", "at once"])
def identify_path(request, monkeypatch):
    """identify's two paths (experiences/identify.py): the general one, and the one statement
    of a process that already knows the application."""
    if request.param == "in steps":
        monkeypatch.setattr(identify, "identify_at_once", lambda data: None)
    return request.param


@pytest.fixture
def imported_user():
    """A user whose traits came from a bulk import on the server, never from a page."""
    app = ApplicationFactory()
    PublishedExperienceFactory(application=app)
    line = json.dumps({"id": "u1", "traits": {"plan": "pro", "band": SECRET}})
    users_import(application=app, rows=read_jsonl(io.StringIO(line)))
    return app


@pytest.mark.parametrize("extra", [{}, {"traits": {}}, {"url": "https://app.acme.com/"}])
def test_identify__with_the_public_key_and_an_id__does_not_answer_the_stored_traits(
    client, imported_user, identify_path, extra
):
    app = imported_user
    if identify_path == "at once":
        lookup.lookup(app.public_key, "warm-up")  # this process knows the application
    response = post(client, IDENTIFY, {"key": app.public_key, "id": "u1", **extra})
    assert response.status_code == 200
    assert set(response.json()) == ({"id", "experiences"} if "url" in extra else {"id"})
    assert SECRET.encode() not in response.content
    assert b"plan" not in response.content


def test_identify__new_traits_are_stored__but_not_echoed(client, imported_user, identify_path):
    app = imported_user
    body = {"key": app.public_key, "id": "u1", "traits": {"seats": 3}}
    assert post(client, IDENTIFY, body).json() == {"id": "u1"}
    assert app.end_users.get(external_id="u1").traits == {
        "plan": "pro",
        "band": SECRET,
        "seats": 3,
    }


# --- Identity verification on: events need user_hash too ------------------------------


@pytest.fixture
def verified():
    """An application requiring user_hash, with a user and a published experience."""
    app = ApplicationFactory(require_user_hash=True)
    user = EndUserFactory(application=app, external_id="u1")
    experience = PublishedExperienceFactory(application=app)
    return app, user, experience


@pytest.mark.parametrize(
    ("given", "message"),
    [(None, "It is missing."), ("0" * 64, "It does not match."), ("wrong", "It does not match.")],
)
@pytest.mark.parametrize("kind", ["shown", "dismissed", "completed"])
def test_events__verification_on__without_the_right_hash__403_and_nothing_recorded(
    client, verified, given, message, kind
):
    """Else anyone with the public key could dismiss or complete any user's experiences."""
    app, _, experience = verified
    body = {"key": app.public_key, "id": "u1", "experience": experience.pk, "type": kind}
    if given is not None:
        body["user_hash"] = given
    response = post(client, EVENTS, body)
    assert response.status_code == 403
    assert response["Access-Control-Allow-Origin"] == "*"
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("identity_verification_failed", "user_hash")
    assert error["message"].endswith(message)
    assert not Event.objects.exists()


def test_events__verification_on__another_users_hash__403(client, verified):
    app, _, experience = verified
    EndUserFactory(application=app, external_id="u2")
    body = {
        "key": app.public_key,
        "id": "u1",
        "experience": experience.pk,
        "type": "dismissed",
        "user_hash": user_hash(app.secret_key, "u2"),
    }
    assert post(client, EVENTS, body).status_code == 403
    assert not Event.objects.exists()


def test_events__verification_on__the_right_hash__recorded(client, verified):
    app, user, experience = verified
    body = {
        "key": app.public_key,
        "id": "u1",
        "experience": experience.pk,
        "type": "dismissed",
        "user_hash": user_hash(app.secret_key, "u1"),
    }
    assert post(client, EVENTS, body).status_code == 201
    assert list(Event.objects.values_list("end_user", "type")) == [(user.pk, "dismissed")]


def test_events__verification_off__no_hash_needed(client):
    app = ApplicationFactory(require_user_hash=False)
    EndUserFactory(application=app, external_id="u1")
    experience = PublishedExperienceFactory(application=app)
    body = {"key": app.public_key, "id": "u1", "experience": experience.pk, "type": "shown"}
    assert post(client, EVENTS, body).status_code == 201
