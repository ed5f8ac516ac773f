"""Setup > Audit log (segments/views/audit.py): filters, the CSV export, tenancy and roles;
the retention on the Settings page."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from segments.models import AuditEntry, Membership
from tests.factories import ApplicationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def entry(application, *, days_ago=0, **fields):
    values = {
        "actor_name": "maria",
        "action": "segment.created",
        "object_type": "segment",
        "object_id": 1,
        "object_name": "Pro",
        "summary": "Created the segment “Pro”",
        **fields,
    }
    return AuditEntry.objects.create(
        application=application, at=timezone.now() - timedelta(days=days_ago), **values
    )


@pytest.fixture
def editor(client):
    # Logged in before joining: a login is itself an entry, and these tests count theirs.
    user = UserFactory()
    client.force_login(user)
    return MembershipFactory(user=user, role=Membership.Role.EDITOR)


@pytest.fixture
def log(editor):
    app = editor.application
    entry(app, summary="Created the segment “Pro”")
    entry(
        app,
        actor_name="lee",
        action="trait.created",
        object_type="trait",
        object_name="plan",
        summary="Created the trait “plan”",
        days_ago=3,
    )
    entry(
        app,
        actor_name="API token “CI”",
        via="api",
        token_name="CI",
        action="experience.published",
        object_type="experience",
        object_name="=Welcome tour",
        summary="Published the experience “=Welcome tour”",
        days_ago=10,
    )
    return app


def url(app, name="segments:audit"):
    return reverse(name, args=[app.pk])


def rows(response):
    return response.content.decode().count("<tr>") - 1  # less the header


def test_the_page_lists_the_entries_newest_first(client, log):
    response = client.get(url(log))

    page = response.content.decode()
    assert response.status_code == 200
    assert rows(response) == 3
    assert page.index("Created the segment") < page.index("Created the trait")
    assert ">Audit log</a>" in page  # the sidebar's link


def test_filter_by_person(client, log):
    response = client.get(url(log), {"who": "lee"})

    assert rows(response) == 1
    assert "Created the trait “plan”" in response.content.decode()


def test_the_person_filter_offers_who_appears_in_this_application_only(client, log):
    entry(ApplicationFactory(), actor_name="stranger")

    page = client.get(url(log)).content.decode()

    assert '<option value="lee">lee</option>' in page
    assert "stranger" not in page


def test_filter_by_object_type_and_name(client, log):
    assert rows(client.get(url(log), {"object_type": "trait"})) == 1
    response = client.get(url(log), {"object": "welc"})
    assert rows(response) == 1
    assert "Welcome tour" in response.content.decode()


def test_filter_by_dates__inclusive(client, log):
    today = timezone.localdate()
    since = (today - timedelta(days=5)).isoformat()
    assert rows(client.get(url(log), {"since": since})) == 2
    until = (today - timedelta(days=3)).isoformat()
    assert rows(client.get(url(log), {"until": until})) == 2


def test_a_bad_date__says_so_and_does_not_fail(client, log):
    response = client.get(url(log), {"since": "yesterday-ish"})

    assert response.status_code == 200
    assert "From: Enter a valid date." in response.content.decode()
    assert rows(response) == 1  # "No entry matches.", not every entry
    export = client.get(url(log, "segments:audit_export"), {"since": "yesterday-ish"})
    assert len(b"".join(export.streaming_content).decode().strip().splitlines()) == 1


def test_htmx_filtering__answers_the_results_only(client, log):
    response = client.get(
        url(log), {"who": "lee"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )

    page = response.content.decode()
    assert "<table" in page and '<nav class="sidebar"' not in page
    assert rows(response) == 1


def test_pages_of_fifty(client, editor):
    for n in range(55):
        entry(editor.application, summary=f"Entry {n}")

    assert rows(client.get(url(editor.application))) == 50
    assert rows(client.get(url(editor.application), {"page": 2})) == 5


def test_csv_export__streams_the_filtered_entries(client, log):
    response = client.get(url(log, "segments:audit_export"), {"who": "API token “CI”"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0] == [
        "at",
        "who",
        "via",
        "token",
        "action",
        "object_type",
        "object_id",
        "object_name",
        "summary",
    ]
    assert len(table) == 2
    assert table[1][1:5] == ["API token “CI”", "api", "CI", "experience.published"]
    # A name a spreadsheet would run as a formula is quoted.
    assert table[1][7] == "'=Welcome tour"


def test_csv_export__all_entries_without_filters(client, log):
    response = client.get(url(log, "segments:audit_export"))

    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 4


def test_another_applications_log_is_404__and_its_entries_never_shown(client, log):
    other = ApplicationFactory()
    entry(other, summary="Their secret segment")

    assert client.get(url(other)).status_code == 404
    assert client.get(url(other, "segments:audit_export")).status_code == 404
    assert "Their secret segment" not in client.get(url(log)).content.decode()
    export = b"".join(client.get(url(log, "segments:audit_export")).streaming_content)
    assert b"Their secret segment" not in export


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_owners_and_editors_read_it(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)

    assert client.get(url(membership.application)).status_code == 200
    assert client.get(url(membership.application, "segments:audit_export")).status_code == 200


def test_a_viewer_is_refused__and_has_no_link(client):
    membership = MembershipFactory(role=Membership.Role.VIEWER)
    client.force_login(membership.user)

    response = client.get(url(membership.application))

    assert response.status_code == 403
    assert "only an editor or an owner can do this" in response.content.decode()
    assert client.get(url(membership.application, "segments:audit_export")).status_code == 403
    page = client.get(reverse("segments:list", args=[membership.application.pk])).content
    assert b">Audit log</a>" not in page


def test_writes_are_not_allowed(client, log):
    assert client.post(url(log)).status_code == 405


def test_a_write_in_engage_shows_up_with_its_author(client, editor):
    client.post(
        reverse("segments:trait_create", args=[editor.application.pk]),
        {"key": "plan", "type": "string"},
    )

    page = client.get(url(editor.application)).content.decode()
    assert "Created the trait “plan”" in page
    assert editor.user.get_username() in page


# --- The retention, on the Settings page --------------------------------------------------


def test_an_owner_sets_the_retention(client):
    membership = MembershipFactory(role=Membership.Role.OWNER, user=UserFactory(username="o"))
    client.force_login(membership.user)
    settings_url = reverse("segments:app_settings", args=[membership.application.pk])

    response = client.post(settings_url, {"section": "audit", "days": "90"})

    assert response.status_code == 302
    membership.application.refresh_from_db()
    assert membership.application.audit_retention_days == 90
    assert "Audit log retention saved." in client.get(settings_url).content.decode()
    assert AuditEntry.objects.filter(action="settings.changed", actor_name="o").exists()


def test_a_retention_out_of_range__inline_error(client):
    membership = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(membership.user)
    settings_url = reverse("segments:app_settings", args=[membership.application.pk])

    response = client.post(settings_url, {"section": "audit", "days": "0"})

    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()
    membership.application.refresh_from_db()
    assert membership.application.audit_retention_days == 365


def test_an_editor_cannot_set_the_retention(client, editor):
    settings_url = reverse("segments:app_settings", args=[editor.application.pk])

    assert client.post(settings_url, {"section": "audit", "days": "30"}).status_code == 403
    editor.application.refresh_from_db()
    assert editor.application.audit_retention_days == 365
