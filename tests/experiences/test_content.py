import pytest
from django.core.exceptions import ValidationError

from experiences.content import check_url_pattern, clean_content, clean_url_patterns


def errors_of(kind, content):
    with pytest.raises(ValidationError) as caught:
        clean_content(kind, content)
    return caught.value.message_dict


# --- The documented examples are valid as they stand -------------------------------------

DOC_EXAMPLES = {
    "banner": {
        "text": "You're on the free plan. Upgrade for unlimited projects.",
        "button_label": "Upgrade",
        "button_url": "/billing",
        "position": "top",
        "style": "info",
    },
    "tooltip": {
        "selector": "#settings-save",
        "title": "Admins only",
        "body": "Changes apply to your whole team.",
        "placement": "bottom",
    },
    "tour": {
        "steps": [
            {"type": "modal", "title": "Welcome!", "body": "Let's take a quick look around."},
            {
                "type": "tooltip",
                "selector": "#new-project",
                "title": "Projects",
                "body": "Start here.",
                "placement": "right",
            },
            {"type": "modal", "title": "All set", "body": "Enjoy!"},
        ]
    },
    "checklist": {
        "title": "Get set up",
        "items": [
            {"id": "invite", "label": "Invite a teammate", "url": "/team", "complete_on": "click"},
            {
                "id": "project",
                "label": "Create a project",
                "complete_on": "event",
                "event": "project_created",
            },
        ],
    },
}


@pytest.mark.parametrize("kind", DOC_EXAMPLES)
def test_the_docs_examples__are_valid_and_canonical(kind):
    assert clean_content(kind, DOC_EXAMPLES[kind]) == DOC_EXAMPLES[kind]


# --- Banner ------------------------------------------------------------------------------


def test_banner__defaults_filled_in_and_empty_optionals_dropped():
    cleaned = clean_content("banner", {"text": "  Hi  ", "button_label": "", "button_url": ""})
    assert cleaned == {"text": "Hi", "position": "top", "style": "info"}


def test_banner__without_text__is_refused():
    assert errors_of("banner", {"text": "  "}) == {"content.text": ["Give the banner some text."]}


def test_banner__button_label_and_link__both_or_neither():
    assert "content.button_url" in errors_of("banner", {"text": "x", "button_label": "Go"})
    assert "content.button_label" in errors_of("banner", {"text": "x", "button_url": "/go"})


@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.example", "data:text/html,x"])
def test_banner__unsafe_links__are_refused(url):
    errors = errors_of("banner", {"text": "x", "button_label": "Go", "button_url": url})
    assert list(errors) == ["content.button_url"]


def test_banner__unknown_choices_and_fields__are_refused():
    errors = errors_of("banner", {"text": "x", "style": "danger", "colour": "red"})
    assert errors["content.style"] == ["Style must be one of info, success, warning."]
    assert errors["content.colour"] == ['"colour" is not a field here.']


# --- Tooltip -----------------------------------------------------------------------------


def test_tooltip__needs_a_selector_and_a_title_or_body():
    errors = errors_of("tooltip", {"selector": ""})
    assert set(errors) == {"content.selector", "content.body"}


def test_tooltip__placement_defaults_to_bottom():
    assert clean_content("tooltip", {"selector": "#a", "body": "b"})["placement"] == "bottom"


# --- Tour --------------------------------------------------------------------------------


def test_tour__needs_a_step():
    assert errors_of("tour", {"steps": []}) == {"content.steps": ["Add at least one step."]}


def test_tour__errors_are_keyed_by_step_and_field():
    errors = errors_of(
        "tour",
        {
            "steps": [
                {"type": "modal", "title": "Hi"},
                {"type": "tooltip", "selector": "", "title": "Where"},
                {"type": "popup", "title": "x"},
            ]
        },
    )
    assert errors == {
        "content.steps.1.selector": ["Step 2: give the step a CSS selector (#save, .nav a)."],
        "content.steps.2.type": ["Step 3: type must be one of modal, tooltip."],
    }


def test_tour__a_modal_step_drops_tooltip_fields():
    cleaned = clean_content(
        "tour", {"steps": [{"type": "modal", "title": "Hi", "selector": "#x", "placement": "top"}]}
    )
    assert cleaned == {"steps": [{"type": "modal", "title": "Hi"}]}


def test_tour__content_must_be_an_object():
    assert errors_of("tour", ["a"]) == {"content": ["Content must be a JSON object."]}
    assert errors_of("tour", {"steps": ["a"]}) == {
        "content.steps.0": ["Step 1: must be an object."]
    }


# --- Checklist ---------------------------------------------------------------------------


def test_checklist__item_ids_are_unique():
    errors = errors_of(
        "checklist",
        {"title": "Setup", "items": [{"id": "a", "label": "A"}, {"id": "a", "label": "B"}]},
    )
    assert errors == {"content.items.1.id": ['Item 2: the id "a" is already used by another item.']}


def test_checklist__completion_by_event_needs_the_event_name():
    errors = errors_of(
        "checklist",
        {"title": "Setup", "items": [{"id": "a", "label": "A", "complete_on": "event"}]},
    )
    assert errors == {"content.items.0.event": ["Item 1: name the event that completes it."]}


def test_checklist__a_click_item_drops_a_left_over_event():
    cleaned = clean_content(
        "checklist",
        {"title": "S", "items": [{"id": "a", "label": "A", "complete_on": "click", "event": "x"}]},
    )
    assert cleaned["items"] == [{"id": "a", "label": "A", "complete_on": "click"}]


def test_unknown_kind__is_refused():
    assert errors_of("popup", {}) == {
        "kind": ["Kind must be one of tour, checklist, tooltip, banner."]
    }


# --- URL patterns ------------------------------------------------------------------------


VALID_PATTERNS = [
    "/dashboard",
    "/dashboard/",
    "/projects/*",
    "/projects/*/settings",
    "/docs/**",
    "/users/:id",
    "/reports/*.pdf",
    "/settings?tab=billing",
    "/settings?tab",
    "?tab=billing",
    "/help#faq",
    "app.example.com/dashboard",
    "https://app.example.com/**",
    "*.example.com/**",
    "localhost:8000/**",
    "app.example.com",
    "/caf%C3%A9",
]
INVALID_PATTERNS = [
    ("dashboard", "start with / for a path"),
    ("", "cannot be empty"),
    ("/users/:", "a named segment is"),
    ("/users/:1d", "a named segment is"),
    ("/docs/a**", "must be a whole segment"),
    ("/settings?", "name a parameter after ?"),
    ("/" + "a" * 500, "at most 500 characters"),
]


@pytest.mark.parametrize("pattern", VALID_PATTERNS)
def test_url_pattern__valid(pattern):
    assert check_url_pattern(pattern) is None


@pytest.mark.parametrize("pattern, problem", INVALID_PATTERNS)
def test_url_pattern__invalid__says_why(pattern, problem):
    assert problem in check_url_pattern(pattern)


def test_url_patterns__lines_are_stripped_and_deduplicated():
    assert clean_url_patterns(" /a \n\n/b\n/a", "url_include") == ["/a", "/b"]


def test_url_patterns__every_bad_pattern_is_reported_under_the_field():
    with pytest.raises(ValidationError) as caught:
        clean_url_patterns(["/ok", "bad", "/x/a**"], "url_exclude")
    messages = caught.value.message_dict["url_exclude"]
    assert len(messages) == 2 and messages[0].startswith("bad: ")
