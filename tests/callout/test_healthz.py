from unittest import mock

import pytest
from django.db.utils import OperationalError

from callout import views

pytestmark = pytest.mark.django_db


def test_healthz__database_and_cache_answer__200_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz__database_down__503_names_it(client):
    def broken() -> None:
        raise OperationalError("connection refused")

    with mock.patch.dict(views.CHECKS, {"database": broken}):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == {
        "status": "error",
        "error": "OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }
    assert body["checks"]["cache"]["status"] == "ok"


def test_healthz__cache_loses_writes__503(client):
    with mock.patch.object(views.cache, "get", return_value=None):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "error"


def test_healthz__post__405(client):
    assert client.post("/healthz").status_code == 405
