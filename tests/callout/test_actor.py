"""Who writes (callout/actor.py): the actor versions and the audit log record."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory

from callout import actor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_outside_any_entry_point_the_actor_is_the_system():
    assert actor.current() == actor.SYSTEM
    assert actor.current().name == "the system"


def test_acting_sets_the_actor_for_the_block_only():
    user = UserFactory(username="maria")
    with actor.acting(actor.Actor(via="engage", user=user)):
        assert actor.current().person == user
        assert actor.current().name == "maria"
        with actor.acting(actor.Actor(via="import")):
            assert actor.current().name == "an import"
        assert actor.current().via == "engage"
    assert actor.current() == actor.SYSTEM


def test_a_token_is_named_by_its_name():
    token = SimpleNamespace(name="Deploy bot")
    assert actor.Actor(via="api", token=token).name == "API token “Deploy bot”"


@pytest.mark.parametrize(("path", "via"), [("/admin/segments/", "admin"), ("/app/1/", "engage")])
def test_the_middleware_makes_the_request_s_user_the_actor(path, via):
    user = UserFactory()
    seen = []

    def view(request):
        seen.append(actor.current())
        return HttpResponse()

    request = RequestFactory().get(path)
    request.user = user
    actor.ActorMiddleware(view)(request)
    assert seen[0].via == via and seen[0].person == user
    assert actor.current() == actor.SYSTEM


def test_an_anonymous_visitor_is_no_person():
    assert actor.Actor(via="engage", user=AnonymousUser()).person is None
