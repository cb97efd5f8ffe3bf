"""A claim's life: cancel, check in (window, geofence), check out, rejection; who sees which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event, Notification
from services import errors
from services.models import Claim, ServiceRequest
from stations import errors as geo_errors
from stations.geo import wgs84_to_gcj02
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.services_fixtures import CLAIMS_URL, assert_consistent, claim_url
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

SITE = (30.03, 122.115)  # world.village, where the requests below take place


@pytest.fixture
def starting(world, campaign) -> ServiceRequest:
    """A request starting in 30 minutes at the village: check-in is open."""
    start = timezone.now() + timedelta(minutes=30)
    return ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        lat=SITE[0],
        lng=SITE[1],
        slots=3,
        starts_at=start,
        ends_at=start + timedelta(hours=3),
    )


@pytest.fixture
def alices(world, starting) -> Claim:
    return ClaimFactory(request=starting, member=world.alice)


def post(client, claim, action, data=None):
    return client.post(claim_url(claim, f"{action}/"), data or {}, format="json")


# ---------------------------------------------------------------- check-in


def test_checking_in_on_site_starts_the_request(world, client_for, alices):
    response = post(
        client_for(world.alice.user), alices, "check-in", {"lat": 30.0301, "lng": SITE[1]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "checked_in" and body["checked_in_at"]
    assert (body["check_in_lat"], body["check_in_lng"]) == (30.0301, SITE[1])
    assert 10 < body["check_in_distance_m"] < 12
    alices.request.refresh_from_db()
    assert alices.request.status == ServiceRequest.Status.IN_PROGRESS
    assert Event.objects.filter(verb="request_started", to_status="in_progress").count() == 1
    assert Event.objects.filter(verb="claim_checked_in").count() == 1
    again = post(client_for(world.alice.user), alices, "check-in", {"lat": SITE[0], "lng": SITE[1]})
    assert_error(again, 409, errors.ALREADY_CHECKED_IN)


def test_checking_in_too_far_away_is_422_with_the_distance(world, client_for, alices):
    response = post(
        client_for(world.alice.user), alices, "check-in", {"lat": 30.04, "lng": SITE[1]}
    )
    body = assert_error(response, 422, errors.TOO_FAR)
    assert 1100 < body["distance_m"] < 1120 and body["geofence_m"] == 500
    assert "米" in body["detail"]
    alices.refresh_from_db()
    assert alices.status == Claim.Status.CLAIMED and alices.checked_in_at is None
    assert not Event.objects.filter(verb="claim_checked_in").exists()


def test_the_geofence_is_a_setting(world, client_for, alices, settings):
    settings.SERVICES_GEOFENCE_METERS = 2000
    response = post(
        client_for(world.alice.user), alices, "check-in", {"lat": 30.04, "lng": SITE[1]}
    )
    assert response.status_code == 200


def test_gcj02_positions_are_converted_before_measuring(world, client_for, alices):
    lat, lng = wgs84_to_gcj02(*SITE)
    response = post(
        client_for(world.alice.user),
        alices,
        "check-in",
        {"lat": lat, "lng": lng, "coord_type": "gcj02"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["check_in_distance_m"] < 1


def test_check_in_opens_shortly_before_the_start(world, client_for, open_request):
    early = ClaimFactory(request=open_request, member=world.alice)  # starts in two days
    response = post(client_for(world.alice.user), early, "check-in", {"lat": 30.03, "lng": 122.115})
    body = assert_error(response, 409, errors.CHECK_IN_WINDOW)
    assert body["opens_at"] and body["closes_at"]


def test_check_in_window_is_a_setting(world, client_for, alices, settings):
    settings.SERVICES_CHECK_IN_OPENS_MINUTES = 10
    response = post(
        client_for(world.alice.user), alices, "check-in", {"lat": SITE[0], "lng": SITE[1]}
    )
    assert_error(response, 409, errors.CHECK_IN_WINDOW)


def test_check_in_closes_when_the_request_ends(world, client_for, campaign, settings):
    settings.SERVICES_CLAIM_GRACE_MINUTES = 100000  # so the claim itself has not expired
    ended = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        lat=SITE[0],
        lng=SITE[1],
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    late = ClaimFactory(request=ended, member=world.alice)
    response = post(
        client_for(world.alice.user), late, "check-in", {"lat": SITE[0], "lng": SITE[1]}
    )
    assert_error(response, 409, errors.CHECK_IN_WINDOW)


def test_an_overdue_claim_has_expired_by_the_time_it_checks_in(world, client_for, campaign):
    started = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        lat=SITE[0],
        lng=SITE[1],
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=2),
    )
    overdue = ClaimFactory(
        request=started, member=world.alice, claimed_at=timezone.now() - timedelta(days=1)
    )
    response = post(
        client_for(world.alice.user), overdue, "check-in", {"lat": SITE[0], "lng": SITE[1]}
    )
    body = assert_error(response, 409, errors.CLAIM_NOT_ACTIVE)
    assert "过期" in body["detail"]
    overdue.refresh_from_db()
    assert overdue.status == Claim.Status.EXPIRED


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, common.VALIDATION_ERROR),
        ({"lat": 30.03}, common.VALIDATION_ERROR),
        ({"lat": "abc", "lng": 122.1}, geo_errors.INVALID_COORDINATES),
        ({"lat": 100, "lng": 122.1}, geo_errors.INVALID_COORDINATES),
        ({"lat": True, "lng": 122.1}, geo_errors.INVALID_COORDINATES),
        ({"lat": 30.03, "lng": 122.1, "coord_type": "bd09"}, geo_errors.UNKNOWN_COORD_TYPE),
    ],
)
def test_bad_check_in_positions_are_400(world, client_for, alices, data, code):
    assert_error(post(client_for(world.alice.user), alices, "check-in", data), 400, code)
    alices.refresh_from_db()
    assert alices.status == Claim.Status.CLAIMED


def test_nobody_checks_in_to_anothers_claim(world, client_for, alices):
    here = {"lat": SITE[0], "lng": SITE[1]}
    # A member cannot even see it; the station's manager and staff can, but it is not theirs.
    assert_error(post(client_for(world.bob.user), alices, "check-in", here), 404, common.NOT_FOUND)
    for user in (world.mary, world.sam):
        assert_error(post(client_for(user), alices, "check-in", here), 403, errors.NOT_CLAIMANT)
    alices.refresh_from_db()
    assert alices.status == Claim.Status.CLAIMED


@pytest.mark.parametrize("status", ["waitlisted", "cancelled", "rejected", "expired"])
def test_only_a_claimed_place_checks_in(world, client_for, starting, status):
    claim = ClaimFactory(request=starting, member=world.alice, status=status)
    response = post(
        client_for(world.alice.user), claim, "check-in", {"lat": SITE[0], "lng": SITE[1]}
    )
    assert_error(response, 409, errors.CLAIM_NOT_ACTIVE)


# ---------------------------------------------------------------- check-out


def test_checking_out_records_the_duration(world, client_for, alices, starting):
    client = client_for(world.alice.user)
    assert_error(post(client, alices, "check-out"), 409, errors.NOT_CHECKED_IN)
    post(client, alices, "check-in", {"lat": SITE[0], "lng": SITE[1]})
    # The service began two hours ago: the 95 minutes lie inside its window.
    ServiceRequest.objects.filter(pk=starting.pk).update(
        starts_at=timezone.now() - timedelta(hours=2)
    )
    Claim.objects.filter(pk=alices.pk).update(checked_in_at=timezone.now() - timedelta(minutes=95))
    response = post(client, alices, "check-out")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["duration_minutes"] == 95 and body["checked_out_at"]
    assert body["status"] == "checked_in"
    assert Event.objects.get(verb="claim_checked_out").payload["duration_minutes"] == 95
    assert_error(post(client, alices, "check-out"), 409, errors.ALREADY_CHECKED_OUT)


def test_only_the_claimant_checks_out(world, client_for, alices):
    post(client_for(world.alice.user), alices, "check-in", {"lat": SITE[0], "lng": SITE[1]})
    assert_error(post(client_for(world.bob.user), alices, "check-out"), 404, common.NOT_FOUND)
    assert_error(post(client_for(world.mary), alices, "check-out"), 403, errors.NOT_CLAIMANT)


# ---------------------------------------------------------------- cancel


def test_the_claimant_cancels_before_the_start(world, client_for, open_request):
    claim = ClaimFactory(request=open_request, member=world.alice)
    response = post(client_for(world.alice.user), claim, "cancel", {"reason": "单位临时开会"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "单位临时开会"
    assert body["late_cancel"] is False
    assert assert_consistent(open_request).claimed == 0
    event = Event.objects.get(verb="claim_cancelled")
    assert (event.from_status, event.to_status, event.actor) == (
        "claimed",
        "cancelled",
        world.alice.user,
    )
    assert not Notification.objects.filter(kind="claim_cancelled_late").exists()
    again = post(client_for(world.alice.user), claim, "cancel", {"reason": "再取消"})
    assert_error(again, 409, errors.CLAIM_NOT_ACTIVE)


def test_a_cancel_close_to_the_start_is_late_and_the_station_is_told(world, client_for, alices):
    response = post(client_for(world.alice.user), alices, "cancel", {"reason": "家里有急事"})
    assert response.json()["late_cancel"] is True
    note = Notification.objects.get(kind="claim_cancelled_late")
    assert note.user == world.mary and "家里有急事" in note.body


def test_the_late_window_is_a_setting(world, client_for, alices, settings):
    settings.SERVICES_LATE_CANCEL_HOURS = 0
    response = post(client_for(world.alice.user), alices, "cancel", {"reason": "有事"})
    assert response.json()["late_cancel"] is False


def test_no_cancelling_once_the_request_started(world, client_for, campaign):
    started = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(hours=2),
    )
    claim = ClaimFactory(request=started, member=world.alice)
    response = post(client_for(world.alice.user), claim, "cancel", {"reason": "迟到了"})
    assert_error(response, 409, errors.CANCEL_WINDOW_CLOSED)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.CLAIMED


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "长" * 201}, {"reason": 5}])
def test_cancelling_needs_a_reason(world, client_for, alices, data):
    response = post(client_for(world.alice.user), alices, "cancel", data)
    # A number is not text (accounts.fields): refused, not coerced to "5".
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "reason" in body["fields"]
    alices.refresh_from_db()
    assert alices.status == Claim.Status.CLAIMED


def test_a_checked_in_claim_cannot_be_cancelled(world, client_for, alices):
    client = client_for(world.alice.user)
    post(client, alices, "check-in", {"lat": SITE[0], "lng": SITE[1]})
    assert_error(post(client, alices, "cancel", {"reason": "走了"}), 409, errors.CLAIM_NOT_ACTIVE)


def test_only_the_claimant_cancels(world, client_for, alices):
    data = {"reason": "替他取消"}
    assert_error(post(client_for(world.bob.user), alices, "cancel", data), 404, common.NOT_FOUND)
    assert_error(post(client_for(world.mary), alices, "cancel", data), 403, errors.NOT_CLAIMANT)
    assert_error(post(client_for(world.sam), alices, "cancel", data), 403, errors.NOT_CLAIMANT)


# ---------------------------------------------------------------- reject


def test_the_station_manager_rejects_a_claim(world, client_for, alices):
    response = post(client_for(world.mary), alices, "reject", {"reason": "需要医疗专长"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "rejected" and body["reject_reason"] == "需要医疗专长"
    assert body["rejected_by"] == {"id": world.mary.pk, "name": "马芸"}
    assert assert_consistent(alices.request).claimed == 0
    note = Notification.objects.get(kind="claim_rejected")
    assert note.user == world.alice.user and "需要医疗专长" in note.body
    assert Event.objects.get(verb="claim_rejected").actor == world.mary
    again = post(client_for(world.mary), alices, "reject", {"reason": "再拒"})
    assert_error(again, 409, errors.CLAIM_NOT_REJECTABLE)


def test_staff_reject_and_waitlist_places_can_be_rejected(world, client_for, starting):
    waiting = ClaimFactory(request=starting, member=world.bob, status="waitlisted")
    assert post(client_for(world.sam), waiting, "reject", {"reason": "人数够了"}).status_code == 200


def test_a_checked_in_claim_cannot_be_rejected(world, client_for, alices):
    post(client_for(world.alice.user), alices, "check-in", {"lat": SITE[0], "lng": SITE[1]})
    response = post(client_for(world.mary), alices, "reject", {"reason": "晚了"})
    assert_error(response, 409, errors.CLAIM_NOT_REJECTABLE)


def test_only_the_stations_managers_and_staff_reject(world, client_for, alices):
    data = {"reason": "不行"}
    assert_error(post(client_for(world.oscar), alices, "reject", data), 404, common.NOT_FOUND)
    assert_error(post(client_for(world.bob.user), alices, "reject", data), 404, common.NOT_FOUND)
    response = post(client_for(world.alice.user), alices, "reject", data)
    assert_error(response, 403, common.PERMISSION_DENIED)
    body = assert_error(post(client_for(world.mary), alices, "reject", {}), 400, "validation_error")
    assert "reason" in body["fields"]
    alices.refresh_from_db()
    assert alices.status == Claim.Status.CLAIMED


@pytest.mark.parametrize("action", ["cancel", "check-in", "check-out", "reject"])
@pytest.mark.parametrize("bad", ["424242", "99999999999999999999999"])
def test_unknown_claims_are_404(world, client_for, action, bad):
    response = client_for(world.sam).post(f"{CLAIMS_URL}{bad}/{action}/", {}, format="json")
    assert_error(response, 404, common.NOT_FOUND)


# ---------------------------------------------------------------- reading claims


def listed(client, query="") -> set[int]:
    response = client.get(f"{CLAIMS_URL}{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_claims_are_scoped_to_who_may_see_them(world, client_for, open_request, campaign):
    elsewhere = ServiceRequestFactory(
        station=world.other_station,
        campaign=campaign,
        starts_at=open_request.ends_at + timedelta(days=1),
    )
    a_here = ClaimFactory(request=open_request, member=world.alice)
    a_there = ClaimFactory(request=elsewhere, member=world.alice)
    c_here = ClaimFactory(request=open_request, member=world.charlie)
    assert listed(client_for(world.alice.user)) == {a_here.pk, a_there.pk}
    assert listed(client_for(world.bob.user)) == set()
    assert listed(client_for(world.mary)) == {a_here.pk, c_here.pk}
    assert listed(client_for(world.oscar)) == {a_there.pk}
    assert listed(client_for(world.lily)) == set()
    assert listed(client_for(world.sam)) == {a_here.pk, a_there.pk, c_here.pk}
    assert listed(client_for(world.sam), f"?request={elsewhere.pk}") == {a_there.pk}
    assert listed(client_for(world.sam), f"?member={world.charlie.pk}") == {c_here.pk}
    assert listed(client_for(world.sam), "?status=cancelled") == set()


@pytest.mark.parametrize("query", ["?status=nope", "?request=abc", "?member=0"])
def test_bad_claim_filters_are_400(world, client_for, query):
    assert_error(client_for(world.sam).get(f"{CLAIMS_URL}{query}"), 400, common.VALIDATION_ERROR)


def test_claim_detail_is_scoped_too(world, client_for, alices):
    assert client_for(world.alice.user).get(claim_url(alices)).status_code == 200
    assert client_for(world.mary).get(claim_url(alices)).status_code == 200
    assert_error(client_for(world.bob.user).get(claim_url(alices)), 404, common.NOT_FOUND)
    assert_error(client_for(world.oscar).get(claim_url(alices)), 404, common.NOT_FOUND)


def test_waitlisted_claims_show_their_place_in_line(world, client_for, starting):
    ClaimFactory.create_batch(3, request=starting)
    first = ClaimFactory(request=starting, member=world.bob, status="waitlisted")
    second = ClaimFactory(request=starting, member=world.alice, status="waitlisted")
    rows = {r["id"]: r for r in client_for(world.mary).get(CLAIMS_URL).json()["results"]}
    assert rows[first.pk]["waitlist_position"] == 1
    assert rows[second.pk]["waitlist_position"] == 2
    assert client_for(world.alice.user).get(claim_url(second)).json()["waitlist_position"] == 2


def test_anonymous_sees_no_claims(anon):
    assert_error(anon.get(CLAIMS_URL), 401, common.NOT_AUTHENTICATED)
