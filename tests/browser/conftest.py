"""Browser tests: Playwright for Python driving Debian's chromium (``apt-get install chromium``).

Playwright's own browser download is not used (nor reachable from CI). Without chromium
the tests skip on a developer's machine and fail under ``CI=true``, so a CI run can
never pass them silently.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")  # sync_playwright runs an event loop in this thread while open: never past its module
def chromium():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(request, chromium, product):
    """A fresh browser context (no shared cookies) on the module's ``product``; a page error fails the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.set_default_timeout(30_000)
    yield page
    screenshot_on_failure(request, page)
    context.close()
    assert page.errors == [], page.errors


def sign_in(page, product, email, password, path="/"):
    page.goto(f"{product.base_url}{path}")
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("#conn[data-state=live]")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so a fixture can tell a failed test."""
    outcome = yield
    setattr(item, f"report_{outcome.get_result().when}", outcome.get_result())


def screenshot_on_failure(request, page) -> None:
    """A failed browser test leaves a full-page screenshot (BOTFLEET_TEST_LOGS, else the temp dir)."""
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    import re
    import tempfile
    from pathlib import Path

    folder = Path(os.environ.get("BOTFLEET_TEST_LOGS") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    path = folder / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failure: {path}")
    except Exception as exc:  # the page may be gone with the failure itself
        print(f"no screenshot: {exc}")
