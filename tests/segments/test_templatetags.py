"""The project's template filters (segments/templatetags/callout.py)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from segments.templatetags.callout import ago
from tests.factories import saved_segment


def test_ago__just_now_within_a_minute__else_the_time_since():
    now = timezone.now()
    assert ago(now) == "just now"
    assert ago(now - timedelta(seconds=59)) == "just now"
    assert ago(now + timedelta(seconds=5)) == "just now"  # a clock a little ahead
    assert ago(now - timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"
    assert ago(now - timedelta(days=2, hours=1)) == "2\xa0days, 1\xa0hour ago"
    assert ago(None) == ""


@pytest.mark.django_db
def test_a_segment_edited_a_moment_ago_was_edited_just_now(client, app):
    saved_segment(app, "Pro", [("plan", "equals", "pro")])
    page = client.get(reverse("segments:list", args=[app.pk])).content.decode()
    assert "just now</time>" in page
    assert "0\xa0minutes" not in page
