"""The one rule for when htmx gets a region rather than the whole page (callout/htmx.py)."""

import pytest
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from callout.htmx import template_for, wants_fragment


def request(**headers):
    request = RequestFactory().get("/", headers=headers)
    request.htmx = HtmxDetails(request)
    return request


HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),  # a link or a form without JavaScript
        (HTMX, True),  # htmx, no element with an id targeted
        ({**HTMX, "HX-Target": "results"}, True),
        ({**HTMX, "HX-Target": "main"}, False),  # another region: never swap ours into it
        ({**HTMX, "HX-Target": "results", "HX-Boosted": "true"}, False),
        ({**HTMX, "HX-History-Restore-Request": "true"}, False),
    ],
)
def test_a_region_only_for_htmx_asking_for_it(headers, fragment):
    assert wants_fragment(request(**headers), "results") is fragment
    expected = "page.html#results" if fragment else "page.html"
    assert template_for(request(**headers), "page.html", "results") == expected


def test_the_region_and_its_target_may_have_different_names():
    asked = request(**HTMX, **{"HX-Target": "experiences-panel"})
    assert template_for(asked, "p.html", "experiences", target="experiences-panel") == (
        "p.html#experiences"
    )
    assert template_for(asked, "p.html", "experiences") == "p.html"
