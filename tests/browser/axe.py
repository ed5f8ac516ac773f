"""Accessibility checks with axe-core (pinned in package.json, installed into node_modules/ by
scripts/test and scripts/build-snippet through scripts/_node.sh).

    require_axe()               skip the test (module=True: the module), saying how to install
                                axe-core, when it is missing
    assert_accessible(page)     run axe on the page as it is now; fail listing every violation
    audit = Audit()             the same over several pages: audit.check(page, "Install") each,
    audit.assert_clean()        then fail once, listing every page's violations

The rules are axe's WCAG 2.0 and 2.1 levels A and AA plus its best practices. Engage pages set a
Content-Security-Policy without inline scripts, and the injected axe is one: the browser context
of the tests that check must bypass it (``browser_context_args`` with ``"bypass_csp": True``).
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
TARGETS_SHOWN = 3

RUN = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((node) => node.target.flat().join(" >>> ")),
  }));
}"""


def require_axe(*, module: bool = False) -> None:
    """Skip the test (``module=True``: the whole module, at import) without axe-core."""
    if not AXE.is_file():
        pytest.skip(
            f"No axe-core at {AXE.relative_to(AXE.parents[2])}: run `npm ci` (scripts/test does) "
            "to run the accessibility tests.",
            allow_module_level=module,
        )


def violations(page: Page) -> list[dict]:
    """axe's violations on the page: id, impact, help and the CSS selectors of the elements."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=AXE)
    return page.evaluate(RUN, TAGS)


def report(found: list[dict]) -> str:
    lines = []
    for violation in found:
        targets = violation["targets"]
        shown = ", ".join(targets[:TARGETS_SHOWN])
        more = f" and {len(targets) - TARGETS_SHOWN} more" if len(targets) > TARGETS_SHOWN else ""
        lines.append(
            f"  {violation['id']} ({violation['impact']}): {violation['help']}: {shown}{more}"
        )
    return "\n".join(lines)


def assert_accessible(page: Page, where: str = "") -> None:
    """Fail when axe finds any violation on the page, listing each (id, impact, help, the first
    few elements)."""
    require_axe()
    found = violations(page)
    if found:
        pytest.fail(
            f"axe-core found {len(found)} violation(s) on {where or page.url}:\n{report(found)}",
            pytrace=False,
        )


class Audit:
    """Checks page after page, then fails once listing the violations of every page."""

    def __init__(self) -> None:
        self.found: dict[str, list[dict]] = {}

    def check(self, page: Page, where: str) -> None:
        require_axe()
        if found := violations(page):
            self.found[where] = found

    def assert_clean(self) -> None:
        if self.found:
            pages = "\n".join(f"{where}:\n{report(found)}" for where, found in self.found.items())
            pytest.fail(
                f"axe-core found violations on {len(self.found)} page(s):\n{pages}", pytrace=False
            )
