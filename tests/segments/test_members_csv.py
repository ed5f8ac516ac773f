"""A segment's members as CSV (segments/views/export.py): the same users as the segment's
count, one column per user trait, streamed, formula-like cells quoted, within the
application."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from segments import selectors
from tests.factories import (
    ApplicationFactory,
    CompanyTraitFactory,
    EndUserFactory,
    MembershipFactory,
    segment_with_rules,
)

pytestmark = pytest.mark.django_db


def url(segment):
    return reverse("segments:segment_members_csv", args=[segment.application_id, segment.pk])


def rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_rows_are_the_segments_count_of_users(client, app):
    segment = segment_with_rules(app, "Pro", ("plan", "string", "equals", "pro"))
    response = client.get(url(segment))
    _, *members = rows(response)
    count = selectors.count_users(app, {"n": segment.tree})["n"]
    assert len(members) == count == 4
    assert [m[0] for m in members] == ["u00", "u01", "u02", "u03"]


def test_the_columns_are_the_external_id_then_the_user_traits_sorted(client, app):
    CompanyTraitFactory(application=app, key="industry")
    segment = segment_with_rules(app, "Pro", ("plan", "string", "equals", "pro"))
    header, first, *_ = rows(client.get(url(segment)))
    assert header == ["external_id", "plan", "role", "teamSize"]
    assert first == ["u00", "pro", "admin", "1"]


def test_unset_traits_are_empty_and_booleans_are_words(client, app):
    segment = segment_with_rules(app, "Beta", ("beta", "boolean", "is_set", None))
    EndUserFactory(application=app, external_id="b1", traits={"beta": True})
    header, *members = rows(client.get(url(segment)))
    assert header == ["external_id", "beta", "plan", "role", "teamSize"]
    assert members == [["b1", "true", "", "", ""]]


def test_cells_that_look_like_formulas_are_quoted(client, app):
    segment = segment_with_rules(app, "Odd", ("role", "string", "equals", "=SUM(A1)"))
    EndUserFactory(application=app, external_id="@evil", traits={"role": "=SUM(A1)"})
    _, member = rows(client.get(url(segment)))
    assert member[0] == "'@evil"
    assert member[2] == "'=SUM(A1)"


def test_the_export_streams(client, app):
    segment = segment_with_rules(app, "Free", ("plan", "string", "equals", "free"))
    response = client.get(url(segment))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 6  # a header, then a row at a time


def test_a_viewer_may_export(client, app):
    viewer = MembershipFactory(application=app, role="viewer")
    client.force_login(viewer.user)
    segment = segment_with_rules(app, "Pro", ("plan", "string", "equals", "pro"))
    assert client.get(url(segment)).status_code == 200


def test_another_applications_segment_is_404(client, member):
    other = segment_with_rules(ApplicationFactory(), "Theirs", ("plan", "string", "equals", "x"))
    wrong = reverse("segments:segment_members_csv", args=[member.application_id, other.pk])
    assert client.get(wrong).status_code == 404


def test_the_segment_page_links_to_the_export(client, app):
    segment = segment_with_rules(app, "Pro", ("plan", "string", "equals", "pro"))
    page = client.get(reverse("segments:detail", args=[app.pk, segment.pk])).content.decode()
    assert "Download members (CSV)" in page and url(segment) in page


def test_everyones_export_lists_every_user(client, app):
    everyone = app.everyone
    _, *members = rows(client.get(url(everyone)))
    assert len(members) == 10 == selectors.count_users(app, {"n": everyone.tree})["n"]
