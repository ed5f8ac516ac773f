"""A URL near the documented 4,096 characters, made of characters that percent-encode to three
bytes, would not fit in gunicorn's request line as a GET: callout.js sends it by POST."""

import pytest
from playwright.sync_api import expect

from .test_snippet import FREE, banner, settle

pytestmark = pytest.mark.browser


def test_single_page_navigation_to_a_long_url_is_served_by_post(acme, open_as):
    page = open_as(FREE, "/settings")
    settle(page)
    expect(banner(page)).to_have_count(0)
    calls = []
    page.on("request", lambda r: calls.append((r.method, r.url)) if "/api/v1/" in r.url else None)
    long_path = "/dashboard?" + "a=/:&" * 780  # 3,911 characters, 11,000 once encoded
    page.evaluate("path => history.pushState({}, '', path)", long_path)
    expect(banner(page)).to_be_visible()
    posts = [url for method, url in calls if method == "POST" and url.endswith("/identify")]
    gets = [url for method, url in calls if method == "GET"]
    assert posts and not gets
    assert page.errors == [] and page.warnings == []


def test_an_ordinary_navigation_still_asks_by_get(acme, open_as):
    page = open_as(FREE, "/settings")
    settle(page)
    calls = []
    page.on("request", lambda r: calls.append(r.method) if "/api/v1/experiences" in r.url else None)
    page.get_by_role("link", name="Dashboard").click()
    expect(banner(page)).to_be_visible()
    assert calls == ["GET"]
