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
from datetime import timedelta
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


# ---------------------------------------------------------------- issue 19: colours, print, phone

PHONE_WIDTH = 390
PHONE_HEIGHT = 844


def _sign_in(driver, live_server, query: str) -> None:
    """Log in as sam on the login page and wait for the dashboard's charts."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 20)
    driver.get(f"{live_server.url}/dashboard/{query}")
    wait.until(ec.presence_of_element_located((By.ID, "login-form")))
    driver.find_element(By.ID, "id_username").send_keys("sam")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait.until(lambda d: d.execute_script("return document.documentElement.dataset.chartsReady"))


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    return shot


def _rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` or ``rgb(r, g, b)`` as a triple."""
    colour = colour.strip()
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])


def test_the_doughnut_colours_a_kind_as_its_legend_and_table(browser, live_server, world, ledger):
    _sign_in(
        browser, live_server, f"?from={PERIOD['from']}&to={PERIOD['to']}&campaign_kind=warm_village"
    )
    drawn = browser.execute_script(
        """
        const chart = Chart.getChart(document.getElementById('chart-kinds'));
        const th = document.querySelector('#kinds-table tr[data-kind] th');
        return {
          slice: chart.data.datasets[0].backgroundColor[0],
          legend: chart.legend.legendItems[0].fillStyle,
          label: chart.legend.legendItems[0].text,
          table: getComputedStyle(th).color,
          css: getComputedStyle(document.documentElement).getPropertyValue('--village'),
        };
        """
    )
    assert drawn["label"] == "暖岙"
    # Drawn in 暖岙's green, as its legend and the table's row, not the first colour (暖企).
    assert _rgb(drawn["slice"]) == _rgb(drawn["legend"]) == _rgb(drawn["table"])
    assert _rgb(drawn["slice"]) == _rgb(drawn["css"]) == (0x2F, 0x8F, 0x6B)


def test_print_is_a4_with_the_figures_and_no_controls(browser, live_server, world, ledger):
    from selenium.webdriver.common.by import By

    _sign_in(browser, live_server, f"?from={PERIOD['from']}&to={PERIOD['to']}")
    # A4 at 96 dpi less the 12 mm margins is ~700 px wide.
    browser.set_window_size(794, 1123)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert browser.execute_script("return matchMedia('print').matches")
        browser.execute_script("Object.values(Chart.instances).forEach(c => c.resize());")
        layout = browser.execute_script(
            """
            const shown = el => el && getComputedStyle(el).display !== 'none';
            const width = document.documentElement.clientWidth;
            const cards = [...document.querySelectorAll('.charts .card')].map(c => {
              const r = c.getBoundingClientRect();
              return {left: Math.round(r.left), right: Math.round(r.right)};
            });
            const inside = c => c.getBoundingClientRect().right
              <= c.parentElement.getBoundingClientRect().right + 1;
            const canvases = [...document.querySelectorAll('canvas')].map(inside);
            return {
              filters: shown(document.getElementById('filters')),
              print: shown(document.getElementById('print-button')),
              logout: shown(document.querySelector('.who')),
              cards: cards, width: width, canvases: canvases,
              overflow: document.documentElement.scrollWidth > width,
            };
            """
        )
        assert not layout["filters"] and not layout["print"] and not layout["logout"]
        # One chart per block: each card spans the page, one under the other.
        assert len({(c["left"], c["right"]) for c in layout["cards"]}) == 1
        assert layout["cards"][0]["right"] - layout["cards"][0]["left"] > 0.9 * layout["width"]
        # No chart cut at the right edge.
        assert layout["canvases"] == [True, True, True] and not layout["overflow"]
        assert browser.find_element(By.ID, "period").is_displayed()
        _shot(browser, "dashboard-print.png")
        pdf = browser.execute_cdp_cmd(
            "Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69, "preferCSSPageSize": True}
        )
        assert len(pdf["data"]) > 10_000
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


@pytest.fixture
def phone(tmp_path):
    """A headless Chromium emulating a 390 × 844 phone."""
    yield from chromium(
        tmp_path,
        flags=[flag for flag in FLAGS if not flag.startswith("--window-size")],
        mobile={"deviceMetrics": {"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 2}},
    )


def test_the_phone_layout_fits_390_px(phone, live_server, world, ledger):
    from services.models import ServiceRequest
    from tests.factories import ServiceRequestFactory

    need = ServiceRequestFactory(
        station=world.other_station,
        campaign=ledger.village_campaign,
        title="金塘镇大鹏岛渔民安全生产普法讲座与法律咨询",
    )
    ServiceRequest.objects.filter(pk=need.pk).update(created_at=need.created_at - timedelta(days=3))
    _sign_in(phone, live_server, f"?from={PERIOD['from']}&to={PERIOD['to']}")
    layout = phone.execute_script(
        """
        const width = document.documentElement.clientWidth;
        // Tile columns per block of tiles (the KPIs, the 暖企 panel's): distinct left edges.
        const columns = [...document.querySelectorAll('section.kpis')].map(section => new Set(
          [...section.querySelectorAll('.kpi')].map(
            k => Math.round(k.getBoundingClientRect().left))).size);
        // The text's line boxes: one distinct top when it did not wrap.
        const oneLine = el => {
          const range = document.createRange();
          range.selectNodeContents(el);
          return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size === 1;
        };
        const tables = [...document.querySelectorAll('table')].map(t =>
          t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right + 1);
        const names = [...document.querySelectorAll('#leaderboard td.name, #unclaimed td.name')];
        return {
          width: width,
          scroll: document.documentElement.scrollWidth,
          columns: columns,
          header: ['.brand-title', '.brand-sub'].map(s => oneLine(document.querySelector(s))),
          tables: tables,
          names: names.map(oneLine),
          nameCount: names.length,
        };
        """
    )
    assert layout["width"] == PHONE_WIDTH
    # No horizontal scrolling; the header's words are whole; two tiles a row.
    assert layout["scroll"] <= layout["width"]
    assert layout["header"] == [True, True]
    assert layout["columns"] and set(layout["columns"]) == {2}, layout["columns"]
    # Tables fit their cards, names on one line (not one character per line).
    assert layout["tables"] and all(layout["tables"])
    assert layout["nameCount"] >= 3 and all(layout["names"])
    _shot(phone, "dashboard-phone.png")


def test_clicking_a_town_opens_the_console_list(browser, live_server, world, ledger):
    from selenium.webdriver.common.by import By

    _sign_in(browser, live_server, f"?from={PERIOD['from']}&to={PERIOD['to']}")
    link = browser.find_element(By.CSS_SELECTOR, f'#places-table a[data-town="{world.town.pk}"]')
    assert link.get_attribute("href") == f"{live_server.url}/console/?town={world.town.pk}"
    # The map drew its points and stations as SVG links into the console.
    assert browser.execute_script("return document.getElementById('map').dataset.drawn") == "0"
    stations = browser.execute_script(
        "return [...document.querySelectorAll('#map .map-station')]"
        ".map(a => a.getAttribute('href'))"
    )
    assert f"/console/?station={world.station.pk}" in stations
