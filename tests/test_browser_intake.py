"""The resident's whole path in a real phone-sized browser (375 × 812), headless Chromium
driven by Selenium as in tests/test_browser_dashboard.py (docs/intake.md).

Open the QR link, submit the form, see the ticket page; then over the API a manager accepts,
a member claims, checks in and records, a manager verifies; back on the ticket page every step
is reached, the resident rates the service, and the rating shows in the statistics (the API
and the staff dashboard). Screenshots go to test-artifacts/intake/ (gitignored; CI keeps the
folder as an artefact). Skipped where chromium or chromedriver is missing; REQUIRE_BROWSER=1
(.ci/run) makes that a failure.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.intake.codes import code_for
from services.models import Intake, IntakeRating
from tests.attachments_fixtures import attachment_root, jpeg_with_exif
from tests.factories import PASSWORD, CampaignFactory
from tests.intake_loop import as_user, serve
from tests.records_fixtures import ensure_rules
from tests.test_browser_dashboard import ARTIFACTS, FLAGS, chromium

SHOTS = ARTIFACTS / "intake"
WIDTH, HEIGHT = 375, 812
# WeChat's in-app browser on an iPhone-sized screen.
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49 NetType/4G Language/zh_CN"
)


attachment_root = attachment_root  # the fixture, re-exported for pytest


@pytest.fixture
def phone(tmp_path):
    """A headless Chromium emulating a 375 × 812 phone; closed after the test."""
    yield from chromium(
        tmp_path,
        flags=[flag for flag in FLAGS if not flag.startswith("--window-size")],
        mobile={
            "deviceMetrics": {"width": WIDTH, "height": HEIGHT, "pixelRatio": 2},
            "userAgent": USER_AGENT,
        },
    )


def _shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 5_000


def _fits(driver) -> None:
    """The page is laid out for the phone: nothing wider than the screen."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert driver.execute_script("return window.innerWidth") == WIDTH
    assert width <= WIDTH, width


def test_the_residents_path_on_a_phone(phone, live_server, world, tmp_path, attachment_root):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ensure_rules()
    campaign = CampaignFactory(kind="warm_village", name="2026 暖岙·群众点单")
    code = code_for(actor=world.mary, station=world.station, village=world.village)
    wait = WebDriverWait(phone, 20)

    # 0. The printable poster (SVG, text as text) as the manager downloads it, rendered.
    poster = as_user(world.mary).get(f"/api/v1/villages/{world.village.pk}/qr/")
    assert poster.status_code == 200 and poster["X-Intake-Code"] == code.code
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "poster.svg").write_bytes(poster.content)
    phone.get((SHOTS / "poster.svg").as_uri())
    _shot(phone, "00-poster.png")

    # 1. The QR link: the form, preset to the village.
    phone.get(f"{live_server.url}/q/{code.code}/")
    wait.until(ec.presence_of_element_located((By.ID, "intake-form")))
    assert world.village.name in phone.find_element(By.ID, "village").text
    _fits(phone)
    _shot(phone, "01-form.png")

    # 2. Submit.
    Select(phone.find_element(By.ID, "specialty")).select_by_visible_text("法律")
    phone.find_element(By.ID, "description").send_keys(
        "家里老人想咨询赡养纠纷，行动不便，希望上门。"
    )
    phone.find_element(By.ID, "phone").send_keys("13900001111")
    # A photo from the phone's camera roll (with the EXIF a phone writes).
    picture = tmp_path / "现场.jpg"
    picture.write_bytes(
        jpeg_with_exif(
            taken_at=timezone.now() - timedelta(hours=2),
            lat=world.village.lat,
            lng=world.village.lng,
        )
    )
    phone.find_element(By.ID, "photo").send_keys(str(picture))
    _shot(phone, "02-filled.png")
    phone.find_element(By.ID, "submit").click()

    # 3. The ticket page.
    status = wait.until(ec.presence_of_element_located((By.ID, "status")))
    assert "待受理" in status.text
    intake = Intake.objects.get()
    assert phone.current_url.endswith(f"/q/t/{intake.ticket}/")
    assert intake.phone == "13900001111" and intake.specialty_id == world.law.pk
    (photo,) = intake.photos.all()
    assert photo.content_type == "image/jpeg" and photo.taken_at is not None
    _fits(phone)
    _shot(phone, "03-ticket.png")

    # 4. Over the API: accepted, claimed, checked in, recorded, verified.
    serve(world, intake, campaign)
    phone.refresh()
    steps = wait.until(ec.presence_of_element_located((By.ID, "steps")))
    assert len(steps.find_elements(By.CSS_SELECTOR, "li.done")) == 6
    assert "已完成" in steps.text
    assert world.alice.user.name not in phone.page_source
    _shot(phone, "04-ticket-done.png")

    # 5. Rate it (评单).
    phone.find_element(By.CSS_SELECTOR, 'input[name="score"][value="5"]').click()
    phone.find_element(By.ID, "comment").send_keys("委员很耐心，问题解决了。")
    phone.find_element(By.ID, "rate-submit").click()
    rating = wait.until(ec.presence_of_element_located((By.ID, "rating")))
    assert "5 分" in rating.text
    assert IntakeRating.objects.get().score == 5
    _shot(phone, "05-rated.png")

    # 6. The rating in the statistics: the API and the staff dashboard.
    summary = as_user(world.sam).get("/api/v1/stats/summary/").json()
    assert summary["satisfaction"] == {"ratings": 1, "mean": 5.0, "share_4_5": 1.0}
    phone.get(f"{live_server.url}/dashboard/")
    wait.until(ec.presence_of_element_located((By.ID, "login-form")))
    phone.find_element(By.ID, "id_username").send_keys("sam")
    phone.find_element(By.ID, "id_password").send_keys(PASSWORD)
    phone.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    tile = wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, '[data-kpi="satisfaction_share"] .kpi-number')
        )
    )
    assert tile.text == "100.0%"
    phone.execute_script("arguments[0].scrollIntoView()", tile)
    _shot(phone, "06-dashboard-satisfaction.png")
