"""Paths under /api/v1/ that are no endpoint (found by tests/experiences/test_fuzz.py): our
JSON 404 with CORS, like every other refusal of the API, not Django's HTML page."""

import pytest

from tests.factories import ApplicationFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/identify/", "/api/v1/IDENTIFY", "/api/v1/", "/api/v1/events/1", "/api/v1/x"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
def test_no_endpoint__404_json_with_cors__nothing_written(client, path, method):
    app = ApplicationFactory()
    body = f'{{"key": "{app.public_key}", "id": "u1"}}'
    response = client.generic(method, path, data=body, content_type="text/plain")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {
        "error": {"code": "not_found", "message": f"No endpoint {path}: see docs/api.md."}
    }
    assert not app.end_users.exists()
