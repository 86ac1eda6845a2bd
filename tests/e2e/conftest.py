"""Browser tests: Playwright driving Debian's Chromium against ``live_server``.

``live_server`` truncates every table after each test (with the append-only guards lifted for that
flush only: ``tests/conftest.py``), so the ``world`` fixture re-seeds the catalogue, groups and beat
rows (``seeded``). Screenshots go to ``var/screenshots/`` (or ``SCREENSHOT_DIR``).
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Not test-results/: pytest-playwright empties that folder at the start of every session.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "var" / "screenshots"))

if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
    collect_ignore_glob = ["test_*.py"]
    print(f"e2e: {CHROMIUM} not found, browser tests not collected (install Debian's chromium)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture
def login(page, live_server):
    """``login(username)`` logs into the admin with the factories' password and returns the page."""
    from tests.factories import PASSWORD

    def _login(username: str):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_load_state()
        return page

    return _login


@pytest.fixture
def shot(page):
    """``shot(name)`` saves a full-page screenshot to test-results/<name>.png (for looking, and CI artifacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(name: str):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return _shot


