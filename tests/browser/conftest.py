"""A fictional customer app ("Acme Tasks") on its own origin that embeds the snippet exactly as
docs/api.md says, with the Django live server (the Callout API and the snippet,
callout.min.js) on another."""

import html
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.cache import cache

from experiences import targeting
from segments import actions
from tests.factories import PublishedExperienceFactory

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOCS_HOST = "https://callout.example.com"
DOCS_KEY = "pk_YOUR_PUBLIC_KEY"


def docs_embed() -> tuple[str, str]:
    """The one-line embed and the init call, as the docs print them."""
    text = DOCS.read_text()
    embed = next(line for line in text.splitlines() if line.startswith("<script>!function"))
    init = re.search(r"^\s*Callout\.init\(.*\);$", text, re.MULTILINE).group(0).strip()
    return embed, init


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Acme Tasks</title>
<style>
  /* Hostile host CSS: none of it may reach the snippet's UI. */
  body {{ font-family: Georgia, serif; color: rgb(200, 0, 0); }}
  button {{ background: rgb(0, 128, 0) !important; font-size: 30px !important; }}
  .c-banner, .c-card, .c-checklist {{ display: none !important; }}
  callout-root {{ display: none; }}
</style>
{embed}
<script>
  {init}
  // The logged-in user; the tests set window.ACME_USER before the page's scripts run.
  if (window.ACME_USER) Callout.identify(window.ACME_USER);
</script>
</head><body>
<nav><a href="/dashboard" data-spa>Dashboard</a> <a href="/settings" data-spa>Settings</a></nav>
<main id="main"></main>
<p><button id="counter" type="button">clicked 0</button>
   <span class="c-btn" id="host-c-btn">a host element that shares a class name</span></p>
<script>
  var clicks = 0;
  document.getElementById("counter").addEventListener("click", function () {{
    clicks += 1; this.textContent = "clicked " + clicks;
  }});
  function render() {{
    var main = document.getElementById("main");
    if (location.pathname.indexOf("/settings") === 0) {{
      main.innerHTML = "<h1>Settings</h1>";
      // The save button arrives late, as in a real single-page app.
      setTimeout(function () {{
        main.insertAdjacentHTML("beforeend", '<button id="settings-save">Save</button>');
      }}, 300);
    }} else {{
      main.innerHTML = '<h1>Dashboard</h1><button id="new-project">New project</button>';
    }}
  }}
  render();
  document.addEventListener("click", function (event) {{
    var link = event.target.closest("a[data-spa]");
    if (!link) return;
    event.preventDefault();
    history.pushState({{}}, "", link.getAttribute("href"));
    render();
  }});
  window.addEventListener("popstate", render);
</script>
</body></html>
"""


class HostApp:
    """Serves the same page on every path of its origin, configured per test."""

    def __init__(self):
        self.config = {"key": "", "host": ""}
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/favicon"):
                    self.send_response(404)
                    self.end_headers()
                    return
                body = app.render().encode()
                self.send_response(200)
                if app.config.get("csp"):
                    self.send_header("Content-Security-Policy", app.config["csp"])
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def render(self) -> str:
        embed, init = docs_embed()
        host, key = self.config["host"], self.config["key"]
        api_host = self.config.get("api_host", host)  # to point init() elsewhere
        init = self.config.get("init", init)  # an init call of the test's own
        if self.config.get("snippet"):  # another file than the embed's (callout.min.js)
            embed = embed.replace("/static/callout.min.js", self.config["snippet"])
        page = PAGE.format(
            embed=embed.replace(DOCS_HOST, host),
            init=init.replace(DOCS_HOST, api_host).replace(DOCS_KEY, html.escape(key)),
        )
        if self.config.get("nonce"):  # a host with a strict CSP marks its own inline code
            attribute = f'nonce="{self.config["nonce"]}"'
            page = page.replace("<script>", f"<script {attribute}>")
            page = page.replace("<style>", f"<style {attribute}>")
        return page

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def host_app():
    app = HostApp()
    yield app
    app.stop()


@pytest.fixture
def acme(live_server, host_app):
    """The product docs' application, its segments and experiences, behind the host app."""
    cache.clear()
    targeting.clear_local()
    app = actions.application_create(name="Acme Tasks")
    for key, type_ in [("plan", "string"), ("role", "string"), ("beta", "boolean")]:
        actions.trait_definition_create(application=app, key=key, type=type_)

    def segment(name, trait, operator, value=None):
        rule = {"trait": trait, "operator": operator, "value": value}
        return actions.segment_create(application=app, name=name, rules=[rule])

    free = segment("Free Plan Users", "plan", "equals", "free")
    admins = segment("Admins", "role", "equals", "admin")
    beta = segment("Beta testers", "beta", "is_true")
    experiences = {
        "banner": PublishedExperienceFactory(
            application=app,
            name="Upgrade banner",
            kind="banner",
            content={
                "text": "You're on the free plan. Upgrade for unlimited projects.",
                "button_label": "Upgrade",
                "button_url": "/billing",
            },
            url_include=["/dashboard"],
            segments=[free],
        ),
        "tooltip": PublishedExperienceFactory(
            application=app,
            name="Admin tooltip",
            kind="tooltip",
            content={
                "selector": "#settings-save",
                "title": "Admins only",
                "body": "Changes apply to your whole team.",
            },
            url_include=["/settings"],
            segments=[admins],
        ),
        "tour": PublishedExperienceFactory(
            application=app,
            name="Welcome tour",
            kind="tour",
            content={
                "steps": [
                    {"type": "modal", "title": "Welcome!", "body": "Let's take a quick look."},
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
            url_include=["/dashboard"],
            segments=[beta],
            priority=10,
        ),
    }
    host_app.config = {"key": app.public_key, "host": live_server.url}
    yield app, experiences
    cache.clear()
    targeting.clear_local()


@pytest.fixture
def open_as(page, host_app):
    """Open a host page as a user: open_as(user, "/dashboard"). Collects console warnings and
    page errors on page.warnings / page.errors."""
    page.warnings, page.errors = [], []
    page.on("console", lambda m: page.warnings.append(m.text) if m.type == "warning" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))

    def open_page(user, path="/dashboard"):
        if user is not None:
            page.add_init_script(f"window.ACME_USER = {json.dumps(user)};")
        page.goto(host_app.url + path)
        return page

    return open_page


def wait_until(check, timeout=5.0):
    """Poll the database (the live server writes from its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
