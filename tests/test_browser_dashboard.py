"""A real browser on the dashboard: Debian's headless Chromium, driven by Selenium.

Log in as staff on the login page, open the dashboard, check that a KPI tile shows the figure
GET stats/summary/ returns and that the charts drew, save a screenshot in test-artifacts/.
Skipped (with the reason) where chromium or chromedriver is not installed; with
REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests import stats_fixtures
from tests.factories import PASSWORD
from tests.stats_fixtures import PERIOD, SUMMARY_URL

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1366,1800",
    "--lang=zh-CN",
]

# The shared ledger of verified services (pytest finds fixtures among module attributes).
ledger = stats_fixtures.ledger


def _missing() -> list[str]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    return missing


def chromium(tmp_path, *, flags=FLAGS, mobile: dict | None = None):
    """A headless Debian Chromium with a fresh profile under ``tmp_path`` (``mobile``: Chrome's
    mobileEmulation), driven through its chromedriver; quit and removed after the test. Skipped
    when the browser is missing, failed instead with REQUIRE_BROWSER=1 (.ci/run)."""
    missing = _missing()
    if missing:
        reason = (
            f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*flags, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    if mobile is not None:
        options.add_experimental_option("mobileEmulation", mobile)
    # An explicit driver path: Selenium Manager never runs, nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.fixture
def browser(tmp_path):
    """A desktop-sized Chromium (1366 × 1800)."""
    yield from chromium(tmp_path)


def test_staff_log_in_and_the_kpi_tile_matches_the_api(
    browser, live_server, world, ledger, client_for
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    query = f"?from={PERIOD['from']}&to={PERIOD['to']}"
    browser.get(f"{live_server.url}/dashboard/{query}")

    # Not signed in: the login page, which brings us back here afterwards.
    wait.until(ec.presence_of_element_located((By.ID, "login-form")))
    assert "/dashboard/login/" in browser.current_url
    browser.find_element(By.ID, "id_username").send_keys("sam")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()

    tile = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '[data-kpi="people_served"] .kpi-number'))
    )
    # Chart.js loaded from our static files and drew every chart.
    wait.until(lambda d: d.execute_script("return document.documentElement.dataset.chartsReady"))
    api = client_for(world.sam).get(SUMMARY_URL, PERIOD).json()
    assert tile.text == str(api["people_served"]) == "62"
    participations = browser.find_element(
        By.CSS_SELECTOR, '[data-kpi="participations"] .kpi-number'
    )
    assert participations.text == str(api["participations"])
    assert "2025年1月1日" in browser.find_element(By.ID, "period").text
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('canvas')].map(c => c.width > 0 && c.height > 0)"
    )
    assert drawn == [True, True, True]
    assert "鲍勃" in browser.find_element(By.ID, "leaderboard").text

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
