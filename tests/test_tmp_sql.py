import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from segments import tracking
from tests.factories import ApplicationFactory

@pytest.mark.django_db
def test_x():
    app = ApplicationFactory()
    with CaptureQueriesContext(connection) as c:
        n = tracking.events_track(application=app, external_id="u1", events=[{"name": "a"}, {"name": "b", "properties": {"x": 1}}])
    for q in c.captured_queries: print(q["sql"][:400])
    with CaptureQueriesContext(connection) as c:
        n = tracking.events_track(application=app, external_id="u1", events=[{"name": "a"}]*20)
    for q in c.captured_queries: print(q["sql"][:300])
    from segments.models import EndUser
    print(EndUser.objects.get().activity)
