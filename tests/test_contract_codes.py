"""Declared error codes that no other test produced on their operation (tests/contract_codes.py
fails the suite on such a code): each one here, through the API, writing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from services import errors
from services.intake import errors as intake_errors
from services.intake import writes
from services.models import Claim, Intake, IntakeRating
from stations import errors as geo_errors
from tests import fake_wechat, intake_fixtures, records_fixtures, services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.fake_wechat import ok
from tests.intake_fixtures import INTAKE_URL, api_body
from tests.intake_loop import serve
from tests.services_fixtures import claim_url, request_url
from tests.test_errors import assert_error

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request
village_code = intake_fixtures.village_code
station_code = intake_fixtures.station_code
rules = records_fixtures.rules

# WeChat's errcodes and what the API answers (accounts.wechat).
WECHAT_FAILURES = [
    (fake_wechat.CODE_RATE_LIMITED, 429, common.WECHAT_RATE_LIMITED),
    (fake_wechat.CODE_BLOCKED, 403, common.WECHAT_USER_BLOCKED),
    (fake_wechat.CODE_BUSY, 503, common.WECHAT_UNAVAILABLE),
    ("nope", 401, common.WECHAT_CODE_INVALID),
]


# ---------------------------------------------------------------- claims


def test_checking_out_of_a_cancelled_claim_is_refused(world, client_for, open_request):
    claim = ClaimFactory(request=open_request, member=world.alice)
    Claim.objects.filter(pk=claim.pk).update(
        status=Claim.Status.CANCELLED, cancelled_at=timezone.now()
    )
    response = client_for(world.alice.user).post(claim_url(claim, "check-out/"), format="json")
    assert_error(response, 409, errors.CLAIM_NOT_ACTIVE)
    claim.refresh_from_db()
    assert claim.checked_out_at is None


def test_a_gcj02_check_in_outside_china_is_refused(world, client_for, campaign):
    start = timezone.now() + timedelta(minutes=30)
    starting = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        slots=2,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    claim = ClaimFactory(request=starting, member=world.alice)
    response = client_for(world.alice.user).post(
        claim_url(claim, "check-in/"),
        {"lat": 48.85, "lng": 2.35, "coord_type": "gcj02"},
        format="json",
    )
    assert_error(response, 400, geo_errors.OUTSIDE_CHINA)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.CLAIMED and claim.checked_in_at is None


# ---------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"lat": 48.85, "lng": 2.35, "coord_type": "gcj02"}, geo_errors.OUTSIDE_CHINA),
        ({"lat": 30.0, "lng": 122.1, "coord_type": "bd09"}, geo_errors.UNKNOWN_COORD_TYPE),
    ],
)
def test_moving_a_request_takes_the_coordinate_rules(world, client_for, open_request, body, code):
    before = (open_request.lat, open_request.lng)
    response = client_for(world.mary).patch(request_url(open_request), body, format="json")
    assert_error(response, 400, code)
    open_request.refresh_from_db()
    assert (open_request.lat, open_request.lng) == before


# ---------------------------------------------------------------- intake


@pytest.mark.parametrize(("wechat_code", "status", "code"), WECHAT_FAILURES[:3])
def test_a_wechat_failure_on_intake_writes_nothing(
    world, station_code, anon, wechat, wechat_code, status, code
):
    body = api_body(station_code, wechat_code=wechat_code)
    response = anon.post(INTAKE_URL, body, format="json")
    assert_error(response, status, code)
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("decline/", {"reason": "不属于驿站服务范围。"}),
        ("refer/", {"office": True, "reason": "转政协机关作为社情民意信息。"}),
        ("merge/", None),
    ],
)
def test_triage_of_an_intake_no_longer_new_is_refused(
    world, village_code, client_for, open_request, path, body
):
    intake = writes.submit_intake(code=village_code, description="村口路灯坏了")
    manager = client_for(world.mary)
    first = manager.post(
        f"{INTAKE_URL}{intake.pk}/decline/", {"reason": "已电话答复。"}, format="json"
    )
    assert first.status_code == 200, first.json()
    response = manager.post(
        f"{INTAKE_URL}{intake.pk}/{path}", body or {"request": open_request.pk}, format="json"
    )
    assert_error(response, 409, intake_errors.INTAKE_NOT_NEW)
    intake.refresh_from_db()
    assert intake.status == Intake.Status.DECLINED and intake.request_id is None


@pytest.fixture
def resident_intake(world, village_code, anon, campaign, rules, wechat) -> Intake:
    """A mini-program intake of the WeChat user o-owner, served and verified."""
    response = anon.post(
        INTAKE_URL, api_body(village_code, wechat_code=ok("o-owner")), format="json"
    )
    assert response.status_code == 201, response.json()
    intake = Intake.objects.get()
    serve(world, intake, campaign)
    return intake


@pytest.mark.parametrize("method", ["post", "put"])
@pytest.mark.parametrize(("wechat_code", "status", "code"), WECHAT_FAILURES)
def test_rating_with_a_failing_wechat_code_writes_nothing(
    resident_intake, anon, method, wechat_code, status, code
):
    url = f"{INTAKE_URL}tickets/{resident_intake.ticket}/rating/"
    response = getattr(anon, method)(url, {"score": 5, "wechat_code": wechat_code}, format="json")
    assert_error(response, status, code)
    assert not IntakeRating.objects.exists()


def test_changing_a_rating_is_for_its_resident_and_its_ticket(resident_intake, anon):
    url = f"{INTAKE_URL}tickets/{resident_intake.ticket}/rating/"
    for body in ({"score": 2}, {"score": 2, "wechat_code": ok("o-someone-else")}):
        assert_error(anon.put(url, body, format="json"), 403, intake_errors.NOT_TICKET_OWNER)
    unknown = anon.put(f"{INTAKE_URL}tickets/not-a-ticket/rating/", {"score": 2}, format="json")
    assert_error(unknown, 404, intake_errors.INTAKE_TICKET_UNKNOWN)
    assert not IntakeRating.objects.exists()


# ---------------------------------------------------------------- the handler's own


def test_a_token_of_a_deactivated_account_is_refused(world, client_for):
    client = client_for(world.alice.user)
    world.alice.user.is_active = False
    world.alice.user.save(update_fields=["is_active"])
    assert_error(client.get("/api/v1/claims/"), 401, common.AUTHENTICATION_FAILED)
