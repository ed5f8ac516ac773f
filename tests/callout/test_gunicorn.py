"""gunicorn as docs/deploy.md runs it (callout/gunicorn.conf.py): the API's documented limits
are reachable through it, its own refusals are our JSON error with CORS, and it does not name
itself in a Server header."""

import http.client
import json
import os
import urllib.parse

import pytest

from segments.models import EndUser
from tests.experiences.test_multiprocess import _database_url
from tests.factories import ApplicationFactory
from tests.throwaway import Gunicorn, server_env


@pytest.fixture
def server(transactional_db):
    server = Gunicorn(server_env(DATABASE_URL=_database_url()))
    yield server
    server.stop()


def request(server, method, target, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target, body=body)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_a_4096_character_url_percent_encoded__200_json(server):
    app = ApplicationFactory()
    EndUser.objects.create(application=app, external_id="u1")
    path = "/reports/" + "/".join(["quarterly-summary"] * 300)
    url = ("https://app.example.com" + path)[:4070] + "?tab=a&x=1"
    url += "y" * (4096 - len(url))
    assert len(url) == 4096
    query = urllib.parse.urlencode({"key": app.public_key, "id": "u1", "url": url})
    assert len(query) > 4094  # what gunicorn refused by default
    response, body = request(server, "GET", f"/api/v1/experiences?{query}")
    assert response.status == 200, body
    assert json.loads(body) == {"id": "u1", "experiences": []}


def test_a_request_line_over_gunicorns_limit__414_json_with_cors(server):
    response, body = request(server, "GET", "/api/v1/experiences?url=" + "a" * 9000)
    assert response.status == 414
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert json.loads(body)["error"]["code"] == "request_too_long"


def test_no_server_header(server):
    response, _ = request(server, "GET", "/healthz")
    assert response.status == 200
    assert response.getheader("Server") is None
    refused, _ = request(server, "GET", "/" + "a" * 9000)
    assert refused.getheader("Server") is None


def test_benchmarks_and_docs_start_gunicorn_with_the_configuration():
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    for name in ("docs/deploy.md", "benchmarks/serve.py"):
        with open(os.path.join(root, name)) as file:
            assert "gunicorn.conf.py" in file.read(), name
