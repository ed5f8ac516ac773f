"""Languages in the browser, on the host app's foreign origin: the snippet shows the texts of
the user's language (their locale trait, else the browser's), each untranslated text and
every other user in the default language."""

import pytest
from playwright.sync_api import expect

from experiences import actions as experience_actions

from .test_snippet import FREE, banner

pytestmark = pytest.mark.browser


@pytest.fixture
def translated(acme):
    app, experiences = acme
    app.languages = ["en", "pt"]
    app.save(update_fields=["languages"])
    experience_actions.experience_update(
        experience=experiences["banner"],
        translations={"pt": {"text": "Você está no plano gratuito."}},
    )
    return app


def test_a_user_in_brazilian_portuguese_sees_the_portuguese_texts(translated, open_as):
    user = {**FREE, "traits": {**FREE["traits"], "locale": "pt-BR"}}
    page = open_as(user, "/dashboard")
    upgrade = banner(page)
    expect(upgrade).to_contain_text("Você está no plano gratuito.")
    # Not translated: the button keeps its default label.
    expect(upgrade.get_by_role("link", name="Upgrade")).to_be_visible()
    assert page.errors == []


def test_a_user_without_a_locale_sees_the_default_texts(translated, open_as):
    page = open_as(FREE, "/dashboard")
    expect(banner(page)).to_contain_text("You're on the free plan.")
