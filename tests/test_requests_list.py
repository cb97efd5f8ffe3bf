"""GET requests/ and requests/{id}/: filters, near search, who sees the contact PII."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from services.models import Campaign, Claim, ServiceRequest
from stations import errors as geo_errors
from stations.geo import Point, distance_km
from tests import services_fixtures
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    ServiceRequestFactory,
    UserFactory,
    VillageFactory,
)
from tests.services_fixtures import REQUESTS_URL, request_url
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def spread(world, campaign):
    """Requests across stations, campaigns, specialties and times."""
    now = timezone.now()
    heart = CampaignFactory(kind=Campaign.Kind.WARM_HEART, name="暖心服务月")
    return {
        "law_here": ServiceRequestFactory(
            station=world.station,
            village=world.village,
            campaign=campaign,
            title="送法进渔村",
            specialties=[world.law],
            starts_at=now + timedelta(days=1),
            lat=30.03,
            lng=122.115,
        ),
        "medical_there": ServiceRequestFactory(
            station=world.other_station,
            village=world.other_village,
            campaign=heart,
            title="海岛义诊",
            description="量血压、测血糖",
            specialties=[world.medical],
            starts_at=now + timedelta(days=5),
            lat=30.02,
            lng=121.89,
        ),
        "cancelled_here": ServiceRequestFactory(
            station=world.station,
            campaign=campaign,
            title="已取消的讲座",
            status=ServiceRequest.Status.CANCELLED,
            starts_at=now + timedelta(days=3),
        ),
    }


def test_everyone_signed_in_lists_requests(world, client_for, spread):
    for user in (world.alice.user, world.mary, world.lily, world.sam, world.oscar):
        response = client_for(user).get(REQUESTS_URL)
        assert response.json()["count"] == 3
    # Ordered by start time by default.
    assert ids(client_for(world.sam).get(REQUESTS_URL)) == [
        spread["law_here"].pk,
        spread["cancelled_here"].pk,
        spread["medical_there"].pk,
    ]


def test_anonymous_cannot_list(anon, spread):
    assert_error(anon.get(REQUESTS_URL), 401, common.NOT_AUTHENTICATED)


def test_filters(world, client_for, spread, campaign):
    client = client_for(world.alice.user)
    law, medical, cancelled = spread["law_here"], spread["medical_there"], spread["cancelled_here"]
    cases = {
        "status=open": {law.pk, medical.pk},
        "status=cancelled&status=full": {cancelled.pk},
        f"campaign={campaign.pk}": {law.pk, cancelled.pk},
        "campaign_kind=warm_heart": {medical.pk},
        f"town={world.other_town.pk}": {medical.pk},
        f"station={world.station.pk}": {law.pk, cancelled.pk},
        f"village={world.village.pk}": {law.pk},
        f"specialty={world.medical.pk}": {medical.pk},
        "search=义诊": {medical.pk},
        "search=血糖": {medical.pk},
        "search=  ": {law.pk, medical.pk, cancelled.pk},
        "starts_after=" + (timezone.now() + timedelta(days=2)).isoformat().replace("+", "%2B"): {
            medical.pk,
            cancelled.pk,
        },
        "starts_before=" + (timezone.now() + timedelta(days=2)).isoformat().replace("+", "%2B"): {
            law.pk
        },
    }
    for query, expected in cases.items():
        assert set(ids(client.get(f"{REQUESTS_URL}?{query}"))) == expected, query
    assert ids(client.get(f"{REQUESTS_URL}?ordering=-starts_at")) == [
        medical.pk,
        cancelled.pk,
        law.pk,
    ]


@pytest.mark.parametrize(
    "query",
    [
        "status=nonsense",
        "campaign=abc",
        "campaign=0",
        "station=99999999999999999999999",
        "town=-1",
        "campaign_kind=warm_sea",
        "starts_after=yesterday",
        "ordering=title",
        "search=" + "x" * 101,
        "radius_km=5",
    ],
)
def test_bad_filters_are_400(world, client_for, spread, query):
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}?{query}")
    assert_error(response, 400, common.VALIDATION_ERROR)


def test_near_keeps_requests_within_the_radius_nearest_first(world, client_for, spread):
    here = Point(lat=30.02, lng=122.105)
    client = client_for(world.alice.user)
    response = client.get(f"{REQUESTS_URL}?near=30.02,122.105&radius_km=5")
    # 金塘 (121.89) is ~20 km west: outside 5 km.
    assert ids(response) == [spread["cancelled_here"].pk, spread["law_here"].pk]
    rows = response.json()["results"]
    assert rows[0]["distance_km"] == pytest.approx(0.0, abs=0.001)
    expected = distance_km(here, Point(lat=30.03, lng=122.115))
    assert rows[1]["distance_km"] == pytest.approx(expected, abs=0.001)
    wide = client.get(f"{REQUESTS_URL}?near=30.02,122.105&radius_km=30&status=open")
    assert ids(wide) == [spread["law_here"].pk, spread["medical_there"].pk]
    # Without near there is no distance.
    assert client.get(REQUESTS_URL).json()["results"][0]["distance_km"] is None


def test_near_uses_the_default_radius(world, client_for, spread):
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}?near=30.02,122.105")
    assert set(ids(response)) == {spread["law_here"].pk, spread["cancelled_here"].pk}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("near=30.02", geo_errors.INVALID_COORDINATES),
        ("near=122.1,30.02", geo_errors.INVALID_COORDINATES),
        ("near=abc,def", geo_errors.INVALID_COORDINATES),
        ("near=30.02,122.1&radius_km=0", geo_errors.INVALID_RADIUS),
        ("near=30.02,122.1&radius_km=-3", geo_errors.INVALID_RADIUS),
        ("near=30.02,122.1&radius_km=51", geo_errors.INVALID_RADIUS),
        ("near=30.02,122.1&radius_km=abc", common.VALIDATION_ERROR),
    ],
)
def test_bad_near_searches_are_400(world, client_for, query, code):
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}?{query}")
    body = assert_error(response, 400, code)
    assert body["fields"]


def test_the_radius_cap_is_a_setting(world, client_for, spread, settings):
    settings.SERVICES_MAX_RADIUS_KM = 100
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}?near=30.02,122.105&radius_km=80")
    assert response.json()["count"] == 3


def test_pages_hold_at_most_100(world, client_for, campaign):
    ServiceRequestFactory.create_batch(3, station=world.station, campaign=campaign)
    body = client_for(world.sam).get(f"{REQUESTS_URL}?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_detail(world, client_for, open_request):
    response = client_for(world.charlie.user).get(request_url(open_request))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == open_request.pk and body["title"] == "新螺头村法律咨询"
    assert body["my_claim"] is None and body["waitlist_count"] == 0


@pytest.mark.parametrize("bad", ["999999", "99999999999999999999999", "abc"])
def test_detail_of_unknown_or_malformed_ids_is_404(world, client_for, bad):
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}{bad}/")
    assert_error(response, 404, common.NOT_FOUND)


# ---------------------------------------------------------------- contact PII


def contact(client, service_request) -> tuple:
    body = client.get(request_url(service_request)).json()
    listed = next(
        row for row in client.get(REQUESTS_URL).json()["results"] if row["id"] == body["id"]
    )
    assert (listed["contact_name"], listed["contact_phone"]) == (
        body["contact_name"],
        body["contact_phone"],
    )
    return body["contact_name"], body["contact_phone"]


def test_contact_is_shown_only_to_managers_staff_poster_and_claimants(
    world, client_for, open_request
):

    shown = ("张联系", "13900009999")
    hidden = (None, None)
    assert contact(client_for(world.mary), open_request) == shown  # manager of the station
    assert contact(client_for(world.sam), open_request) == shown  # staff
    assert contact(client_for(world.oscar), open_request) == hidden  # another station's manager
    assert contact(client_for(world.lily), open_request) == hidden  # liaison who did not post
    assert contact(client_for(world.alice.user), open_request) == hidden  # member, no claim
    poster = UserFactory(is_village_liaison=True)
    open_request.created_by = poster
    open_request.save()
    assert contact(client_for(poster), open_request) == shown

    ClaimFactory(request=open_request, member=world.alice)
    assert contact(client_for(world.alice.user), open_request) == shown
    assert contact(client_for(world.bob.user), open_request) == hidden


def test_contact_is_hidden_from_waitlisted_and_former_claimants(world, client_for, open_request):
    ClaimFactory(request=open_request, member=world.alice, status=Claim.Status.WAITLISTED)
    ClaimFactory(request=open_request, member=world.bob, status=Claim.Status.CANCELLED)
    assert contact(client_for(world.alice.user), open_request) == (None, None)
    assert contact(client_for(world.bob.user), open_request) == (None, None)


def test_my_claim_and_waitlist_count_are_shown(world, client_for, open_request):
    mine = ClaimFactory(request=open_request, member=world.alice)
    ClaimFactory(request=open_request, status=Claim.Status.WAITLISTED)
    body = client_for(world.alice.user).get(request_url(open_request)).json()
    assert body["my_claim"] == {"id": mine.pk, "status": "claimed"}
    assert body["waitlist_count"] == 1
    assert (body["claimed"], body["available"]) == (1, 2)


def test_reading_applies_due_expiry(world, client_for, campaign):
    ended = ServiceRequestFactory(
        station=world.station,
        village=VillageFactory(town=world.town, station=world.station),
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=4),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    assert client_for(world.alice.user).get(request_url(ended)).json()["status"] == "expired"
    other = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=4),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    response = client_for(world.alice.user).get(f"{REQUESTS_URL}?status=open")
    assert other.pk not in ids(response)
    other.refresh_from_db()
    assert other.status == ServiceRequest.Status.EXPIRED
