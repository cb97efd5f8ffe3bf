"""The manager's console in a real browser: Debian's headless Chromium driven by Selenium, with
the starter of tests/test_browser_dashboard.py (docs/console.md).

As a station manager: sign in, post a need, invite the first ranked team, verify a record that
has a photo with one participant's hours corrected, accept a resident's intake; then as the
manager of another station: none of it is shown, and a POST from that session is refused.
Screenshots (1280 px and a tablet) go to test-artifacts/console/ beside the dashboard's.
Skipped where chromium or chromedriver is missing; REQUIRE_BROWSER=1 (.ci/run) fails instead.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.intake import writes as intake_writes
from services.intake.codes import code_for
from services.models import Intake, ServiceHours, ServiceRecord, ServiceRequest
from services.records.attachments import add_attachments
from tests import attachments_fixtures, records_fixtures
from tests.attachments_fixtures import jpeg_with_exif, submitted, upload
from tests.factories import PASSWORD
from tests.test_browser_dashboard import ARTIFACTS, FLAGS, chromium

SHOTS = ARTIFACTS / "console"
DESKTOP = (1280, 900)
TABLET = (820, 1180)

rules = records_fixtures.rules
service = records_fixtures.service
attachment_root = attachments_fixtures.attachment_root


@pytest.fixture
def browser(tmp_path):
    """A Chromium the size of a station's PC screen (1280 × 900)."""
    flags = [f for f in FLAGS if not f.startswith("--window-size")]
    yield from chromium(tmp_path, flags=[*flags, f"--window-size={DESKTOP[0]},{DESKTOP[1]}"])


def _shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def _fits(driver) -> None:
    """Nothing wider than the window (no sideways scrolling of the page)."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    assert width <= inner, (width, inner)


def _local(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def test_a_manager_walks_the_console(browser, live_server, world, service, attachment_root):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 20)
    for user in (world.mary, world.oscar):
        user.set_password(PASSWORD)
        user.save()
    # A record awaiting review, with a photo taken on site (alice submitted; alice, bob took part).
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at + timedelta(minutes=30),
        lat=service.request.lat,
        lng=service.request.lng,
    )
    add_attachments(user=world.alice.user, record_id=record.pk, uploads=[upload("a.jpg", photo)])
    # A resident's intake at mary's village.
    code = code_for(actor=world.mary, station=world.station, village=world.village)
    intake = intake_writes.submit_intake(
        code=code, description="村里老人想咨询遗嘱和赡养问题", phone="13900005555"
    )

    def flash() -> str:
        return wait.until(ec.presence_of_element_located((By.ID, "flash"))).text

    def sign_in(username: str) -> None:
        browser.get(f"{live_server.url}/console/")
        wait.until(ec.presence_of_element_located((By.ID, "login-form")))
        browser.find_element(By.ID, "id_username").send_keys(username)
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.ID, "need-tabs")))

    def set_value(element_id: str, value: str) -> None:
        browser.execute_script(
            "document.getElementById(arguments[0]).value = arguments[1]", element_id, value
        )

    # 1. Post a need.
    sign_in("mary")
    _fits(browser)
    browser.find_element(By.ID, "new-need").click()
    wait.until(ec.presence_of_element_located((By.ID, "need-form")))
    Select(browser.find_element(By.ID, "id_village")).select_by_visible_text(
        "昌国协商驿站 · 新螺头村"
    )
    Select(browser.find_element(By.ID, "id_campaign")).select_by_index(1)
    browser.find_element(By.ID, "id_title").send_keys("新螺头村遗嘱与赡养法律咨询")
    browser.find_element(
        By.CSS_SELECTOR, f'input[name=specialties][value="{world.law.pk}"]'
    ).click()
    set_value("id_starts_at", _local(timedelta(days=3)))
    set_value("id_ends_at", _local(timedelta(days=3, hours=2)))
    slots = browser.find_element(By.ID, "id_slots")
    slots.clear()
    slots.send_keys("3")
    _shot(browser, "01-need-form.png")
    browser.find_element(By.ID, "save-need").click()
    assert "已发布" in flash()
    need = ServiceRequest.objects.get(title="新螺头村遗嘱与赡养法律咨询")
    assert need.station == world.station and need.created_by == world.mary

    # 2. Invite the first ranked team (its reasons are shown beside it).
    block = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f'.match[data-team="{world.team.pk}"]'))
    )
    assert "专长匹配：法律" in block.text
    _shot(browser, "02-need-ranked-teams.png")
    block.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "已邀请“法律服务团”" in flash()
    need.refresh_from_db()
    assert need.invited_team == world.team

    # 3. Verify the record: its photo shows, alice's hours are corrected.
    browser.find_element(By.LINK_TEXT, "服务记录核实").click()
    wait.until(ec.presence_of_element_located((By.ID, "records")))
    browser.find_element(By.CSS_SELECTOR, f'tr[data-record="{record.pk}"] a').click()
    image = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#photos img")))
    wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth > 0", image))
    minutes = browser.find_element(By.NAME, f"minutes_{service.alice.pk}")
    minutes.clear()
    minutes.send_keys("90")
    browser.find_element(By.NAME, f"reason_{service.alice.pk}").send_keys("提前离场，按实际时长")
    _shot(browser, "03-record-review.png")
    browser.find_element(By.ID, "approve").click()
    assert "已核实通过" in flash()
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.VERIFIED
    corrected = ServiceHours.objects.get(claim=service.alice, current=True)
    assert (corrected.minutes, corrected.source) == (90, "corrected")

    # 4. Accept the resident's intake as a need.
    browser.find_element(By.LINK_TEXT, "群众点单").click()
    wait.until(ec.presence_of_element_located((By.ID, "intakes")))
    browser.find_element(By.CSS_SELECTOR, f'tr[data-intake="{intake.pk}"] a').click()
    form = wait.until(ec.presence_of_element_located((By.ID, "accept-form")))
    assert "13900005555" in browser.page_source
    Select(form.find_element(By.NAME, "campaign")).select_by_index(1)
    browser.execute_script(
        "const f = document.getElementById('accept-form');"
        "f.starts_at.value = arguments[0]; f.ends_at.value = arguments[1];",
        _local(timedelta(days=4)),
        _local(timedelta(days=4, hours=2)),
    )
    _shot(browser, "04-intake-triage.png")
    browser.find_element(By.ID, "accept").click()
    assert "已受理" in flash()
    intake.refresh_from_db()
    assert intake.status == Intake.Status.ACCEPTED and intake.request is not None

    # The need's page on a tablet: one column, nothing off the screen.
    browser.set_window_size(*TABLET)
    browser.get(f"{live_server.url}/console/needs/{need.pk}/")
    wait.until(ec.presence_of_element_located((By.ID, "claims")))
    _fits(browser)
    _shot(browser, "05-need-tablet.png")

    # 5. The manager of another station sees none of it and can do nothing.
    browser.set_window_size(*DESKTOP)
    browser.find_element(By.CSS_SELECTOR, "form[action='/console/logout/'] button").click()
    wait.until(ec.presence_of_element_located((By.ID, "login-form")))
    sign_in("oscar")
    assert "新螺头村遗嘱与赡养法律咨询" not in browser.page_source
    for path in (
        f"/console/needs/{need.pk}/",
        f"/console/records/{record.pk}/",
        f"/console/intake/{intake.pk}/",
    ):
        browser.get(f"{live_server.url}{path}")
        assert "没有找到该内容，或不属于您管理的驿站。" in browser.page_source
    browser.get(f"{live_server.url}/console/records/?status=verified")
    assert browser.find_elements(By.CSS_SELECTOR, "#records tr[data-record]") == []
    # A POST from this session, with its valid CSRF token, to mary's need: refused, unchanged.
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const token = document.querySelector('[name=csrfmiddlewaretoken]').value;"
        "const body = new URLSearchParams({csrfmiddlewaretoken: token, team: arguments[1],"
        " until: arguments[2]});"
        "fetch(arguments[0], {method: 'POST', body, credentials: 'same-origin'})"
        ".then(r => done(r.status));",
        f"/console/needs/{need.pk}/invite/",
        str(world.other_team.pk),
        _local(timedelta(days=1)),
    )
    assert status == 404
    need.refresh_from_db()
    assert need.invited_team == world.team
    _shot(browser, "06-other-manager.png")
