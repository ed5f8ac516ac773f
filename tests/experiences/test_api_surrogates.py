"""Lone surrogates (``"\\ud800"`` in a JSON body) are text Python holds but UTF-8 cannot encode,
nor PostgreSQL store: wherever one arrives, the API answers its JSON error with CORS, never a
500, and writes nothing."""

import pytest

from experiences.checks import user_hash
from experiences.models import Event
from segments.models import EndUser, TraitDefinition
from tests.factories import ApplicationFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

IDENTIFY, EXPERIENCES, EVENTS = "/api/v1/identify", "/api/v1/experiences", "/api/v1/events"
SURROGATE = "\\ud800"  # as it travels in the JSON text: an escape json.loads accepts


def post_raw(client, path, text):
    return client.post(path, data=text, content_type="text/plain")


def assert_json_error(response, status, field):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json()["error"]["field"] == field


@pytest.fixture
def verified_app():
    return ApplicationFactory(require_user_hash=True)


@pytest.mark.parametrize("path", [IDENTIFY, EVENTS])
def test_a_lone_surrogate_user_hash_is_a_wrong_hash__403_json(client, verified_app, path):
    EndUser.objects.create(application=verified_app, external_id="known-0")
    experience = PublishedExperienceFactory(application=verified_app)
    text = (
        f'{{"key": "{verified_app.public_key}", "id": "known-0", "user_hash": "{SURROGATE}",'
        f' "experience": {experience.pk}, "type": "seen"}}'
    )
    response = post_raw(client, path, text)
    assert_json_error(response, 403, "user_hash")
    assert response.json()["error"]["code"] == "identity_verification_failed"
    assert not Event.objects.exists()


def test_a_non_ascii_user_hash_is_a_wrong_hash__403_json(client, verified_app):
    text = f'{{"key": "{verified_app.public_key}", "id": "u1", "user_hash": "é{"0" * 63}"}}'
    assert_json_error(post_raw(client, IDENTIFY, text), 403, "user_hash")


def test_the_right_hash_in_upper_case_still_verifies(client, verified_app):
    digest = user_hash(verified_app.secret_key, "u1").upper()
    text = f'{{"key": "{verified_app.public_key}", "id": "u1", "user_hash": "{digest}"}}'
    assert post_raw(client, IDENTIFY, text).status_code == 200


@pytest.mark.parametrize("path", [IDENTIFY, EVENTS])
def test_a_lone_surrogate_key__an_unknown_key__401_json(client, path):
    ApplicationFactory()
    text = f'{{"key": "pk_{SURROGATE}", "id": "u1", "experience": 1, "type": "seen"}}'
    assert_json_error(post_raw(client, path, text), 401, "key")


@pytest.mark.parametrize(
    "fields, field",
    [
        (f'"id": "u{SURROGATE}"', "id"),
        (f'"id": "u1", "traits": {{"plan": "free{SURROGATE}"}}', "traits.plan"),
        (f'"id": "u1", "traits": {{"pl{SURROGATE}an": "free"}}', None),
        (f'"id": "u1", "url": "/a{SURROGATE}"', "url"),
    ],
)
def test_identify__a_lone_surrogate_anywhere__400_json__nothing_stored(client, fields, field):
    app = ApplicationFactory()
    response = post_raw(client, IDENTIFY, f'{{"key": "{app.public_key}", {fields}}}')
    assert response.status_code == 400, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    if field is not None:
        assert response.json()["error"]["field"] == field
    else:
        assert response.json()["error"]["field"].startswith("traits.")
    assert not EndUser.objects.exists()
    assert not TraitDefinition.objects.exists()


def test_experiences__a_percent_encoded_surrogate_in_the_query__json_answer(client):
    app = ApplicationFactory()
    EndUser.objects.create(application=app, external_id="u1")
    for params in (
        f"key={app.public_key}&id=u1&url=/%ED%A0%80",
        "key=%ED%A0%80&id=u1&url=/",
        f"key={app.public_key}&id=%ED%A0%80&url=/",
    ):
        response = client.get(f"{EXPERIENCES}?{params}")
        assert response.status_code in (200, 400, 401, 404), response.content
        assert response["Access-Control-Allow-Origin"] == "*"
