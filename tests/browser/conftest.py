"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live server.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing (CI installs
both: `apt-get install chromium`, and playwright is a dev extra). Playwright's own browser downloads
are never used. Each test gets a fresh browser; screenshots go to test-artifacts/screenshots/
(git-ignored), and with DOCS_SCREENSHOTS=1 the README's ones are refreshed under docs/screenshots/.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"


def browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = browser_missing()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"browser test: {reason}")
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(skip)


class Browser:
    """One Chromium with one page, and the console's Content-Security-Policy complaints."""

    def __init__(self, page, context, base_url: str) -> None:
        self.page = page
        self.context = context
        self.base_url = base_url
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def shot(self, name: str, *, docs: bool = False, page=None, full_page: bool = True) -> Path:
        """A screenshot as a test artefact; `docs` ones also refresh the README's."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=full_page)
        if docs and os.environ.get("DOCS_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / f"{name}.png")
        return path


@pytest.fixture
def browser(live_server, monkeypatch) -> Iterator[Browser]:
    reason = browser_missing()
    if reason is not None:
        pytest.skip(f"browser test: {reason}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls (setting
    # up rows, checking them afterwards) are synchronous all the same. The server runs in its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(10_000)
        page = context.new_page()
        try:
            yield Browser(page, context, live_server.url)
        finally:
            context.close()
            chromium.close()
            # While Playwright's loop runs, Django (asgiref's Local) hands this thread a connection
            # of its own; close it, or it would outlive the test database.
            connections.close_all()
