"""The serve sends the application's theme with what it serves (docs/api.md)."""

import pytest

from segments import actions
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

DARK = {"background": "#1b1d24", "text": "#f2f3f7", "primary": "#8ea2ff", "on_primary": "#10131c"}


@pytest.fixture
def app():
    application = ApplicationFactory()
    everyone = application.segments.get(is_builtin=True)
    PublishedExperienceFactory(
        application=application,
        name="Welcome",
        kind="banner",
        content={"text": "Hi"},
        url_include=["/dashboard"],
        segments=[everyone],
    )
    EndUserFactory(application=application, external_id="u1")
    return application


def _serve(client, app, url):
    response = client.get("/api/v1/experiences", {"key": app.public_key, "id": "u1", "url": url})
    assert response.status_code == 200
    return response.json()


def test_the_default_theme_sends_nothing(client, app):
    body = _serve(client, app, "/dashboard")
    assert [e["name"] for e in body["experiences"]] == ["Welcome"]
    assert "theme" not in body


def test_a_theme_goes_with_what_is_served_and_only_then(client, app, django_assert_num_queries):
    actions.application_set_theme(application=app, theme={**DARK, "launcher": "left"})
    _serve(client, app, "/dashboard")  # compiles the new version
    with django_assert_num_queries(1):  # still the serve's one query
        body = _serve(client, app, "/dashboard")
    assert body["theme"] == {**DARK, "launcher": "left"}
    assert _serve(client, app, "/elsewhere") == {"id": "u1", "experiences": []}


def test_identify_sends_it_too(client, app):
    actions.application_set_theme(application=app, theme={"radius": 0})
    response = client.post(
        "/api/v1/identify",
        {"key": app.public_key, "id": "u1", "url": "https://x.test/dashboard"},
        content_type="application/json",
    )
    assert response.json()["theme"] == {"radius": 0}
