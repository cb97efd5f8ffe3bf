"""评单: the resident rates the verified service; satisfaction in the statistics, exports and
dashboard; 群众确认 people served (docs/intake.md#评单--ratings-and-satisfaction)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import openpyxl
import pytest
from django.utils import timezone

from accounts.models import Event
from services.intake import writes
from services.matching.scoring import rating_factor
from services.models import Intake, IntakeRating, ServiceRecord
from tests import intake_fixtures, records_fixtures, services_fixtures
from tests.factories import ServiceRequestFactory
from tests.fake_wechat import ok
from tests.intake_fixtures import INTAKE_URL, api_body, csrf_token, form_client
from tests.intake_loop import as_user, serve

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign
village_code = intake_fixtures.village_code
rules = records_fixtures.rules

YEAR = timezone.localdate().year
PERIOD = {"from": f"{YEAR - 1}-01-01", "to": f"{YEAR + 1}-12-31"}


def rating_url(intake) -> str:
    return f"{INTAKE_URL}tickets/{intake.ticket}/rating/"


@pytest.fixture
def served(world, village_code, campaign, rules):
    """An intake whose service was accepted, claimed, checked in, recorded and verified."""
    intake = writes.submit_intake(
        code=village_code, description="村口路灯坏了", phone="13900001111"
    )
    ids = serve(world, intake, campaign)
    return intake, ids


def test_rating_before_verification_is_refused(world, village_code, anon):
    intake = writes.submit_intake(code=village_code, description="村口路灯坏了")
    response = anon.post(rating_url(intake), {"score": 5}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "rating_not_yet"
    assert not IntakeRating.objects.exists()


def test_rate_once_then_change_within_the_window(world, served, anon):
    intake, ids = served
    response = anon.post(rating_url(intake), {"score": 4, "comment": "很及时"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["score"] == 4 and response.json()["comment"] == "很及时"
    rating = IntakeRating.objects.get()
    record = ServiceRecord.objects.get(pk=ids["record"])
    assert rating.record_id == record.pk and rating.station_id == record.station_id
    assert rating.team_id == world.team.pk and rating.town_id == record.town_id
    assert rating.campaign_kind == record.campaign_kind

    twice = anon.post(rating_url(intake), {"score": 1}, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "rating_exists"
    changed = anon.put(rating_url(intake), {"score": 5, "comment": ""}, format="json")
    assert changed.status_code == 200 and changed.json()["score"] == 5
    assert IntakeRating.objects.count() == 1 and IntakeRating.objects.get().score == 5
    assert [e.verb for e in Event.objects.filter(verb__startswith="intake_rat").order_by("id")] == [
        "intake_rated",
        "intake_rating_changed",
    ]


def test_change_after_the_window_is_locked(world, served, anon, settings):
    intake, _ = served
    anon.post(rating_url(intake), {"score": 3}, format="json")
    past = timezone.now() - timedelta(days=settings.INTAKE_RATING_CHANGE_DAYS + 1)
    IntakeRating.objects.update(created_at=past)
    response = anon.put(rating_url(intake), {"score": 5}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "rating_locked"
    assert IntakeRating.objects.get().score == 3
    assert not anon.get(f"{INTAKE_URL}tickets/{intake.ticket}/").json()["can_rate"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": "5"}, "score"),
        ({"score": 4.5}, "score"),
        ({}, "score"),
        ({"score": 5, "comment": "长" * 301}, "comment"),
        ({"score": 5, "comment": 7}, "comment"),
        ({"score": 5, "stars": 5}, "stars"),
    ],
)
def test_rating_bad_inputs(world, served, anon, body, field):
    intake, _ = served
    response = anon.post(rating_url(intake), body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]
    assert not IntakeRating.objects.exists()


def test_rating_an_unknown_ticket(world, served, anon):
    response = anon.post(f"{INTAKE_URL}tickets/not-a-ticket/rating/", {"score": 5}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "intake_ticket_unknown"


def test_a_mini_program_intake_is_rated_by_its_resident_only(
    world, village_code, anon, campaign, rules, wechat
):
    anon.post(INTAKE_URL, api_body(village_code, wechat_code=ok("o-owner")), format="json")
    intake = Intake.objects.get()
    serve(world, intake, campaign)
    for body in ({"score": 5}, {"score": 5, "wechat_code": ok("o-someone-else")}):
        response = anon.post(rating_url(intake), body, format="json")
        assert response.status_code == 403 and response.json()["code"] == "not_ticket_owner"
    response = anon.post(
        rating_url(intake), {"score": 5, "wechat_code": ok("o-owner")}, format="json"
    )
    assert response.status_code == 201
    assert Event.objects.get(verb="intake_rated").actor.wechat_openid == "o-owner"


def test_rating_from_the_ticket_page(world, served):
    intake, _ = served
    client = form_client()
    page = client.get(f"/q/t/{intake.ticket}/")
    token = csrf_token(page)
    url = f"/q/t/{intake.ticket}/rate/"
    assert client.post(url, {"score": "5"}).status_code == 403  # no CSRF token
    bad = client.post(url, {"csrfmiddlewaretoken": token, "score": "9"})
    assert bad.status_code == 400 and "请选择 1–5 分" in bad.content.decode()
    assert not IntakeRating.objects.exists()
    done = client.post(url, {"csrfmiddlewaretoken": token, "score": "4", "comment": "满意"})
    assert done.status_code == 303
    html = client.get(f"/q/t/{intake.ticket}/").content.decode()
    assert "4 分：满意" in html and "修改评价" in html
    again = client.post(url, {"csrfmiddlewaretoken": token, "score": "5"})
    assert again.status_code == 303 and IntakeRating.objects.get().score == 5


def test_the_rating_shows_on_the_record_for_the_manager_and_the_team(world, served, anon):
    intake, ids = served
    anon.post(rating_url(intake), {"score": 5, "comment": "谢谢委员"}, format="json")
    for user in (world.mary, world.alice.user, world.sam):
        body = as_user(user).get(f"/api/v1/records/{ids['record']}/").json()
        assert [(r["score"], r["comment"]) for r in body["ratings"]] == [(5, "谢谢委员")]
    assert as_user(world.oscar).get(f"/api/v1/records/{ids['record']}/").status_code == 404


def test_satisfaction_in_summary_breakdowns_exports_and_dashboard(
    world, village_code, served, anon, campaign
):
    intake, _ = served
    anon.post(rating_url(intake), {"score": 5}, format="json")
    # A second served intake, rated 2.
    other = writes.submit_intake(code=village_code, description="家里水管漏水", phone="13900002222")
    serve(world, other, campaign)
    anon.post(rating_url(other), {"score": 2}, format="json")

    staff = as_user(world.sam)
    summary = staff.get("/api/v1/stats/summary/", PERIOD).json()
    assert summary["satisfaction"] == {"ratings": 2, "mean": 3.5, "share_4_5": 0.5}
    assert summary["people_served_confirmed"] == 6  # two rated records of 3 people each
    assert summary["people_served"] >= summary["people_served_confirmed"]

    expected = {"ratings": 2, "mean": 3.5, "share_4_5": 0.5}
    for by, key in [
        ("station", str(world.station.pk)),
        ("town", str(world.town.pk)),
        ("team", str(world.team.pk)),
        ("campaign_kind", campaign.kind),
        ("month", f"{timezone.localdate():%Y-%m}"),
    ]:
        rows = staff.get("/api/v1/stats/breakdown/", {**PERIOD, "by": by}).json()["rows"]
        row = next(r for r in rows if r["key"] == key)
        assert row["satisfaction"] == expected, by
    members = staff.get("/api/v1/stats/breakdown/", {**PERIOD, "by": "member"}).json()["rows"]
    assert all(row["satisfaction"] is None for row in members)

    # Another kind filter: nothing rated.
    none = staff.get("/api/v1/stats/summary/", {**PERIOD, "campaign_kind": "warm_heart"}).json()
    assert none["satisfaction"] == {"ratings": 0, "mean": None, "share_4_5": None}
    # Oscar's towns: nothing rated there.
    oscar = as_user(world.oscar).get("/api/v1/stats/summary/", PERIOD).json()
    assert oscar["satisfaction"]["ratings"] == 0

    book = openpyxl.load_workbook(
        io.BytesIO(staff.get("/api/v1/stats/export/", {**PERIOD, "format": "xlsx"}).content)
    )
    station_rows = list(book["按驿站"].iter_rows(values_only=True))
    assert station_rows[0][-3:] == ("群众评价数", "平均评分", "满意率（4–5 分）")
    assert station_rows[1][-3:] == (2, 3.5, 0.5)
    figures = list(book["汇总"].iter_rows(values_only=True))
    assert ("全部", 2, 3.5, 0.5) in [tuple(r[:4]) for r in figures]
    assert ("群众确认服务人次", 6) in [tuple(r[:2]) for r in figures]

    from django.test import Client

    client = Client()
    client.force_login(world.sam)
    html = client.get("/dashboard/", PERIOD).content.decode()
    tile = re.search(r'data-kpi="satisfaction_share".*?kpi-number">([^<]*)<', html, re.S)
    assert tile and tile.group(1) == "50.0%"
    confirmed = re.search(r'data-kpi="people_served_confirmed".*?kpi-number">([^<]*)<', html, re.S)
    assert confirmed and confirmed.group(1) == "6"


def test_revoked_verification_takes_the_rating_out_of_the_figures(world, served, anon):
    intake, ids = served
    anon.post(rating_url(intake), {"score": 5}, format="json")
    response = as_user(world.sam).post(
        f"/api/v1/records/{ids['record']}/revoke/", {"reason": "重复登记"}, format="json"
    )
    assert response.status_code == 200, response.json()
    summary = as_user(world.sam).get("/api/v1/stats/summary/", PERIOD).json()
    assert summary["satisfaction"]["ratings"] == 0 and summary["people_served_confirmed"] == 0


def _team_row(world, service_request) -> dict:
    response = as_user(world.mary).get(f"/api/v1/requests/{service_request.pk}/matches/")
    assert response.status_code == 200, response.json()
    rows = {row["team"]["id"]: row for row in response.json()}
    return rows[world.team.pk]


def test_ratings_feed_the_team_history_term_from_the_minimum_on(
    world, served, anon, campaign, settings
):
    """A team rated 2/5 keeps 40% of its history term once MATCHING_RATING_MIN ratings are
    counted; below the minimum, or once the record is revoked, the ratings count for nothing."""
    intake, ids = served
    need = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        lat=world.village.lat,
        lng=world.village.lng,
        slots=2,
        created_by=world.mary,
        specialties=[world.law],
    )
    settings.MATCHING_RATING_MIN = 1
    before = _team_row(world, need)
    assert before["parts"]["history"] > 0
    assert not any("群众评价" in reason for reason in before["reasons"])

    assert anon.post(rating_url(intake), {"score": 2}, format="json").status_code == 201
    rated = _team_row(world, need)
    assert rated["parts"]["history"] == pytest.approx(before["parts"]["history"] * 0.4, abs=1e-3)
    assert rated["score"] < before["score"]
    assert "群众评价 2.0 分（1 次）" in rated["reasons"]

    settings.MATCHING_RATING_MIN = 2
    unrated = _team_row(world, need)
    assert unrated["parts"]["history"] == pytest.approx(before["parts"]["history"])
    assert not any("群众评价" in reason for reason in unrated["reasons"])

    settings.MATCHING_RATING_MIN = 1
    revoke = as_user(world.sam).post(
        f"/api/v1/records/{ids['record']}/revoke/", {"reason": "核实有误，撤销"}, format="json"
    )
    assert revoke.status_code == 200, revoke.json()
    revoked = _team_row(world, need)
    assert not any("群众评价" in reason for reason in revoked["reasons"])


@pytest.mark.parametrize(
    ("rated", "total", "minimum", "factor"),
    [(0, 0, 1, 1.0), (4, 20, 5, 1.0), (5, 25, 5, 1.0), (5, 15, 5, 0.6), (10, 10, 5, 0.2)],
)
def test_rating_factor(rated, total, minimum, factor):
    assert rating_factor(rated, total, minimum) == pytest.approx(factor)
