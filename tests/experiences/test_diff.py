"""experiences/diff.py: what changed between two versions of an experience (no database)."""

from experiences.diff import diff

BASE = {
    "name": "Welcome",
    "kind": "tour",
    "status": "draft",
    "content": {"steps": [{"type": "modal", "title": "Hi", "body": "Hello"}]},
    "segments": [1],
    "url_include": ["/dashboard"],
    "url_exclude": [],
    "frequency": "once",
    "priority": 0,
    "starts_at": None,
    "ends_at": None,
}


def test_the_same__no_change():
    assert diff(BASE, dict(BASE)) == []


def test_name_status_priority_and_frequency():
    new = {**BASE, "name": "Tour", "status": "published", "priority": 5}
    new["frequency"] = "every_time"
    assert diff(BASE, new) == [
        'Name: "Welcome" → "Tour"',
        "Status: draft → published",
        "How often: Once (until dismissed or completed) → Every time",
        "Priority: 0 → 5",
    ]


def test_segments_added_and_removed__by_name():
    lines = diff(BASE, {**BASE, "segments": [2]}, names={1: "Everyone", 2: "Admins"})
    assert lines == [
        'Segment "Admins" added to the audience',
        'Segment "Everyone" removed from the audience',
    ]


def test_a_url_pattern_changed_added_and_removed():
    assert diff(BASE, {**BASE, "url_include": ["/home"]}) == [
        'URL pattern changed in "Show on": /dashboard → /home'
    ]
    assert diff(BASE, {**BASE, "url_exclude": ["/admin/**"]}) == [
        'URL pattern added to "Never on": /admin/**'
    ]


def test_a_step_field_changed_and_a_step_added():
    steps = [
        {"type": "modal", "title": "Hello", "body": "Hello"},
        {"type": "modal", "title": "Bye"},
    ]
    lines = diff(BASE, {**BASE, "content": {"steps": steps}})
    assert lines == ['Step 1 title: "Hi" → "Hello"', 'Step 2 added: "Bye"']


def test_the_schedule():
    lines = diff(BASE, {**BASE, "starts_at": "2026-12-04T09:00:00Z"})
    assert lines == ["Start: none → 2026-12-04 09:00 UTC"]


def test_a_banner_text():
    old = {**BASE, "kind": "banner", "content": {"text": "Hi", "button_label": ""}}
    new = {**old, "content": {"text": "Hello", "button_label": "Go"}}
    assert diff(old, new) == ['Text: "Hi" → "Hello"', 'Button label: (empty) → "Go"']


def test_a_translation_changed_is_one_line_per_language_naming_its_texts():
    old = BASE | {"translations": {"pt": {"steps.0.title": "Oi"}}}
    new = BASE | {"translations": {"pt": {"steps.0.title": "Olá", "steps.0.body": "Olá!"}}}
    assert diff(old, new) == ["Translation (pt): steps.0.body, steps.0.title"]


def test_a_version_without_translations_and_one_with_none_are_the_same():
    assert diff(BASE, BASE | {"translations": {}}) == []
