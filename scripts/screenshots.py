"""Screenshots of the Engage screens into docs/screenshots/, from a running demo server.

    DATABASE_URL=sqlite:////tmp/demo.sqlite3 DEBUG=1 .venv/bin/python manage.py migrate
    DATABASE_URL=sqlite:////tmp/demo.sqlite3 .venv/bin/python manage.py seed_demo
    DATABASE_URL=sqlite:////tmp/demo.sqlite3 DEBUG=1 .venv/bin/python manage.py runserver 8021 &
    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8021

Logs in as the demo product manager; changes nothing (the create form is not saved).
"""

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(base + "/login/")
        page.get_by_label("Username").fill("pm")
        page.get_by_label("Password").fill("callout-demo")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()
        page.screenshot(path=OUT / "segments-list.png", full_page=True)

        page.get_by_role("link", name="Create Segment").click()
        page.get_by_label("Name").fill("Pro Plan Admins (copy)")
        page.get_by_label("Description").fill("Admins of pro teams, for the upgrade tour.")
        rule1 = page.get_by_role("group", name="Rule 1")
        rule1.get_by_label("Trait").select_option("plan")
        rule1.get_by_label("Value").fill("pro")
        page.get_by_role("button", name="Add rule").click()
        rule2 = page.get_by_role("group", name="Rule 2")
        expect(rule2.get_by_label("Trait")).to_be_focused()  # htmx has set the new row up
        rule2.get_by_label("Trait").select_option("role")
        rule2.get_by_label("Value").fill("admin")
        page.get_by_role("button", name="Add rule").click()
        rule3 = page.get_by_role("group", name="Rule 3")
        expect(rule3.get_by_label("Trait")).to_be_focused()
        rule3.get_by_label("Trait").select_option("teamSize")
        rule3.get_by_label("Operator").select_option("greater_than")
        expect(rule3.get_by_label("Value")).to_be_visible()
        rule3.get_by_label("Value").fill("lots")
        page.wait_for_timeout(1200)
        page.screenshot(path=OUT / "create-segment-preview.png", full_page=True)

        app_url = page.url.split("/segments/")[0]
        page.goto(app_url + "/segments/")
        page.get_by_role("link", name="Pro Plan Admins").click()
        page.screenshot(path=OUT / "segment.png", full_page=True)
        page.get_by_role("link", name="Edit segment").click()
        page.get_by_role("group", name="Rule 2").get_by_label("Operator").select_option("in")
        page.get_by_role("group", name="Rule 2").get_by_label("Value").fill("admin, member")
        expect(page.locator("#impact")).to_contain_text("enter")
        page.wait_for_timeout(800)
        page.screenshot(path=OUT / "edit-segment-impact.png", full_page=True)

        page.goto(app_url + "/traits/")
        page.screenshot(path=OUT / "traits.png", full_page=True)

        page.goto(app_url + "/events/")
        row = page.locator("#events-table tbody.event", has_text="project_created")
        row.get_by_text("By day").click()  # the chart's numbers, open beside it
        page.mouse.move(0, 0)
        page.screenshot(path=OUT / "events.png", full_page=True)

        page.goto(app_url + "/users/")
        page.get_by_role("link", name="user-0004").click()
        page.screenshot(path=OUT / "user.png", full_page=True)

        page.goto(app_url + "/segments/")
        page.get_by_role("link", name="Pro Plan Admins").click()
        page.get_by_role("link", name="History").first.click()
        expect(page.get_by_role("heading", name="History", exact=False).first).to_be_visible()
        page.screenshot(path=OUT / "segment-history.png", full_page=True)

        page.goto(app_url + "/experiences/")
        page.get_by_role("link", name="Upgrade banner").click()
        page.get_by_role("link", name="Edit", exact=True).click()
        preview = page.frame_locator("iframe[title='Preview of the banner']")
        page.get_by_label("Text").fill("Spring sale: half price on annual plans.")
        expect(preview.get_by_role("region", name="Upgrade banner")).to_contain_text("Spring")
        page.screenshot(path=OUT / "experience-editor-live-preview.png", full_page=True)

        page.goto(app_url + "/settings/")
        page.screenshot(path=OUT / "settings-theme.png", full_page=True)

        page.goto(app_url + "/audit/")
        expect(page.get_by_role("heading", name="Audit log", exact=False).first).to_be_visible()
        page.screenshot(path=OUT / "audit-log.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8021")
