"""Real-browser fixtures: Debian's Chromium driven by Playwright's sync API.

Playwright never downloads a browser here: the tests launch /usr/bin/chromium (installed
by scripts/bootstrap --test) and only ever load pages from pytest-django's live server.
"""

import os
import shutil

import pytest

# Playwright's sync API drives the browser from an asyncio event loop running in the test
# thread. Django sees that running loop and refuses ORM calls from the same thread with
# SynchronousOnlyOperation - including pytest-django's own flush of the transactional
# database at teardown and any seeding done after the browser started. The test thread
# never awaits anything while it talks to the database, so there is no real concurrency
# to protect: the loop is idle during those calls. Django reads the variable at every
# ORM call; setting it when this conftest is imported covers fixtures and teardown too.
# (It is process-wide, so other tests collected in the same worker are exempt as well.)
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("TENOHIRA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# A mid-size phone (iPhone 12-15 class): the viewport the issue asks every flow to work in.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium per test worker; each test gets fresh contexts."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: run scripts/bootstrap --test (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _context(browser, **overrides):
    context = browser.new_context(**{**PHONE, **overrides})
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def phone(chromium):
    """A page in a phone-sized context with JavaScript on (needed for axe-core)."""
    context = _context(chromium)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_without_js(chromium):
    """The same phone with JavaScript disabled: every flow must work without it."""
    context = _context(chromium, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def narrow_phone(chromium):
    """The narrowest screen residents still use (320 px, iPhone SE 1st gen class)."""
    context = _context(chromium, viewport={"width": 320, "height": 640}, device_scale_factor=2)
    yield context.new_page()
    context.close()
