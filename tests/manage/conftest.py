import json

import pytest

from management_api.actions import api_token_create
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    ExperienceFactory,
    TraitDefinitionFactory,
    saved_segment,
)


class Api:
    """The test client speaking to /api/v1/manage/ with one token."""

    def __init__(self, client, token):
        self.client, self.token = client, token

    def __call__(self, method, path, body=None, token=..., raw=None, **headers):
        token = self.token if token is ... else token
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        url = path if path.startswith(("/", "http")) else f"/api/v1/manage/{path}"
        if method == "GET":
            return self.client.get(url, **headers)
        return self.client.generic(method, url, data, content_type="application/json", **headers)


@pytest.fixture
def app(db):
    """An application with plan/role/teamSize traits and ten users: 4 pro, 6 free."""
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan", type="string")
    TraitDefinitionFactory(application=application, key="role", type="string")
    TraitDefinitionFactory(application=application, key="teamSize", type="number")
    for n in range(10):
        EndUserFactory(
            application=application,
            external_id=f"u{n:02d}",
            traits={"plan": "pro" if n < 4 else "free", "role": "admin", "teamSize": n + 1},
        )
    return application


@pytest.fixture
def editor_token(app):
    return api_token_create(application=app, name="CI", role="editor")[1]


@pytest.fixture
def viewer_token(app):
    return api_token_create(application=app, name="Reader", role="viewer")[1]


@pytest.fixture
def api(client, editor_token):
    return Api(client, editor_token)


@pytest.fixture
def viewer_api(client, viewer_token):
    return Api(client, viewer_token)


@pytest.fixture
def other(db):
    """Another application, with a trait (of its users and of its companies), a segment, a
    user and an experience of its own."""
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="secret", type="string")
    TraitDefinitionFactory(application=application, scope="company", key="secret")
    EndUserFactory(application=application, external_id="theirs", traits={"secret": "x"})
    segment = saved_segment(application, "Theirs", [("secret", "equals", "x")])
    experience = ExperienceFactory(application=application)
    experience.segments.set([segment])
    return {"app": application, "segment": segment, "experience": experience}


PRO = {"match": "all", "rules": [{"trait": "plan", "operator": "equals", "value": "pro"}]}
