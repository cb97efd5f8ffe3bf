"""POST requests/: who may post for which station or village, defaults, bad input, duplicates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event
from services.models import Campaign, ServiceRequest
from stations import errors as geo_errors
from stations.geo import gcj02_to_wgs84
from tests import services_fixtures
from tests.factories import (
    CampaignFactory,
    ServiceRequestFactory,
    SpecialtyFactory,
    VillageFactory,
)
from tests.services_fixtures import REQUESTS_URL, soon
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign


def payload(campaign, **overrides) -> dict:
    data = {
        "campaign": campaign.pk,
        "title": "渔村老人法律咨询",
        "description": "为渔民讲解海事纠纷与赡养纠纷的法律常识。",
        "starts_at": soon(days=3),
        "ends_at": soon(days=3, hours=3),
        "slots": 4,
        "contact_name": "村委会 王主任",
        "contact_phone": "0580-8012345",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_manager_posts_for_their_station(world, client_for, campaign):
    data = payload(campaign, station=world.station.pk, specialties=[world.law.pk])
    response = client_for(world.mary).post(REQUESTS_URL, data, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["station"] == {"id": world.station.pk, "name": "昌国协商驿站"}
    assert body["town"] == {"id": world.town.pk, "name": "昌国街道"}
    assert body["village"] is None
    assert (body["lat"], body["lng"]) == (world.station.lat, world.station.lng)
    assert body["campaign"] == {"id": campaign.pk, "kind": "warm_village", "name": campaign.name}
    assert body["specialties"] == [{"id": world.law.pk, "code": "law", "name": "法律"}]
    assert (body["slots"], body["claimed"], body["available"]) == (4, 0, 4)
    assert body["contact_phone"] == "0580-8012345"
    assert body["created_by"] == {"id": world.mary.pk, "name": "马芸"}
    assert body["possible_duplicates"] == []
    row = ServiceRequest.objects.get(pk=body["id"])
    assert row.station == world.station and row.created_by == world.mary
    assert list(row.specialties.all()) == [world.law]
    event = Event.objects.get(verb="request_created")
    assert (event.actor, event.to_status, event.object_id) == (world.mary, "open", str(row.pk))


def test_a_manager_posts_for_a_village_their_station_serves(world, client_for, campaign):
    data = payload(campaign, village=world.village.pk)
    response = client_for(world.mary).post(REQUESTS_URL, data, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["station"]["id"] == world.station.pk
    assert body["village"] == {"id": world.village.pk, "name": "新螺头村"}
    assert (body["lat"], body["lng"]) == (world.village.lat, world.village.lng)


def test_a_liaison_posts_for_their_village_and_the_serving_station_owns_it(
    world, client_for, campaign
):
    response = client_for(world.lily).post(
        REQUESTS_URL, payload(campaign, village=world.village.pk), format="json"
    )
    assert response.status_code == 201, response.content
    row = ServiceRequest.objects.get(pk=response.json()["id"])
    assert row.station == world.station and row.village == world.village
    assert row.created_by == world.lily
    # The poster sees the contact they entered.
    assert response.json()["contact_name"] == "村委会 王主任"


def test_staff_post_anywhere(world, client_for, campaign):
    response = client_for(world.sam).post(
        REQUESTS_URL,
        payload(campaign, station=world.other_station.pk, village=world.other_village.pk),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["station"]["id"] == world.other_station.pk


def test_given_coordinates_are_stored_and_gcj02_is_converted(world, client_for, campaign):
    client = client_for(world.mary)
    wgs = client.post(
        REQUESTS_URL,
        payload(campaign, station=world.station.pk, lat="30.0123", lng=122.1234),
        format="json",
    ).json()
    assert (wgs["lat"], wgs["lng"]) == (30.0123, 122.1234)
    gcj = client.post(
        REQUESTS_URL,
        payload(
            campaign,
            station=world.station.pk,
            title="另一场讲座",
            lat=30.0123,
            lng=122.1234,
            coord_type="gcj02",
        ),
        format="json",
    ).json()
    expected = gcj02_to_wgs84(30.0123, 122.1234)
    assert gcj["lat"] == pytest.approx(expected[0], abs=1e-6)
    assert gcj["lng"] == pytest.approx(expected[1], abs=1e-6)
    assert abs(gcj["lat"] - 30.0123) > 1e-4  # really converted


def test_an_invited_team_may_be_named(world, client_for, campaign):
    data = payload(
        campaign,
        station=world.station.pk,
        invited_team=world.team.pk,
        invite_until=soon(days=1),
    )
    response = client_for(world.mary).post(REQUESTS_URL, data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["invited_team"] == {"id": world.team.pk, "name": "法律服务团"}


def _bad_cases(world, campaign):
    inactive = SpecialtyFactory(code="old", name="旧专长", active=False)
    ended = CampaignFactory(
        kind=Campaign.Kind.WARM_HEART,
        starts_on=timezone.localdate() - timedelta(days=60),
        ends_on=timezone.localdate() - timedelta(days=30),
    )
    lonely = VillageFactory(town=world.town, station=None)
    station = world.station.pk
    return [
        ({"ends_at": soon(days=2)}, "ends_at"),
        ({"starts_at": soon(hours=-1), "ends_at": soon(hours=2)}, "starts_at"),
        ({"starts_at": soon(days=400), "ends_at": soon(days=400, hours=2)}, "starts_at"),
        ({"ends_at": soon(days=100)}, "ends_at"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"slots": 0}, "slots"),
        ({"slots": 501}, "slots"),
        ({"slots": -3}, "slots"),
        ({"slots": "many"}, "slots"),
        ({"specialties": [999999]}, "specialties"),
        ({"specialties": [inactive.pk]}, "specialties"),
        ({"specialties": "law"}, "specialties"),
        ({"campaign": 999999}, "campaign"),
        ({"campaign": 10**30}, "campaign"),
        ({"campaign": True}, "campaign"),
        ({"campaign": "abc"}, "campaign"),
        ({"campaign": ended.pk}, "campaign"),
        ({"village": world.other_village.pk}, "village"),
        ({"village": lonely.pk}, "village"),
        ({"station": None, "_drop_station": True}, "station"),
        ({"title": ""}, "title"),
        ({"title": "长" * 101}, "title"),
        ({"description": "长" * 2001}, "description"),
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"invite_until": soon(days=1)}, "invite_until"),
        ({"invited_team": world.team.pk, "invite_until": soon(days=4)}, "invite_until"),
        ({"invited_team": world.team.pk, "invite_until": soon(hours=-1)}, "invite_until"),
        ({"invited_team": 999999, "invite_until": soon(days=1)}, "invited_team"),
    ], station


def test_bad_input_is_400_with_the_field_and_nothing_is_written(world, client_for, campaign):
    cases, station = _bad_cases(world, campaign)
    client = client_for(world.mary)
    for overrides, field in cases:
        data = payload(campaign, station=station)
        if overrides.pop("_drop_station", False):
            data.pop("station")
        data.update(overrides)
        response = client.post(REQUESTS_URL, data, format="json")
        body = assert_error(response, 400, common.VALIDATION_ERROR)
        assert field in body["fields"], (overrides, body)
    assert not ServiceRequest.objects.exists()
    assert not Event.objects.filter(verb="request_created").exists()


@pytest.mark.parametrize(
    ("lat", "lng", "coord_type", "code"),
    [
        (91, 122.1, "wgs84", geo_errors.INVALID_COORDINATES),
        ("nan", 122.1, "wgs84", geo_errors.INVALID_COORDINATES),
        (30.0, 122.1, "bd09", geo_errors.UNKNOWN_COORD_TYPE),
        (51.5, -0.12, "gcj02", geo_errors.OUTSIDE_CHINA),
    ],
)
def test_bad_coordinates_are_400(world, client_for, campaign, lat, lng, coord_type, code):
    data = payload(campaign, station=world.station.pk, lat=lat, lng=lng, coord_type=coord_type)
    assert_error(client_for(world.mary).post(REQUESTS_URL, data, format="json"), 400, code)
    assert not ServiceRequest.objects.exists()


def test_a_manager_cannot_post_for_a_station_they_do_not_manage(world, client_for, campaign):
    client = client_for(world.mary)
    for data in (
        payload(campaign, station=world.other_station.pk),
        payload(campaign, village=world.other_village.pk),
    ):
        assert_error(client.post(REQUESTS_URL, data, format="json"), 403, common.PERMISSION_DENIED)
    assert not ServiceRequest.objects.exists()


def test_a_liaison_cannot_post_for_another_village_or_a_station(world, client_for, campaign):
    client = client_for(world.lily)
    for data in (
        payload(campaign, village=world.other_village.pk),
        payload(campaign, station=world.station.pk),
    ):
        assert_error(client.post(REQUESTS_URL, data, format="json"), 403, common.PERMISSION_DENIED)
    assert not ServiceRequest.objects.exists()


def test_members_and_anonymous_cannot_post(world, client_for, anon, campaign):
    data = payload(campaign, station=world.station.pk)
    response = client_for(world.alice.user).post(REQUESTS_URL, data, format="json")
    assert_error(response, 403, common.PERMISSION_DENIED)
    assert_error(anon.post(REQUESTS_URL, data, format="json"), 401, common.NOT_AUTHENTICATED)
    assert not ServiceRequest.objects.exists()


def test_a_non_json_body_is_refused(world, client_for):
    response = client_for(world.mary).post(
        REQUESTS_URL, data="{oops", content_type="application/json"
    )
    assert_error(response, 400, common.PARSE_ERROR)


# ---------------------------------------------------------------- duplicate warning


def _existing(world, usual_campaign, **kwargs):
    defaults = {
        "station": world.station,
        "village": world.village,
        "campaign": usual_campaign,
        "title": "渔村老人法律咨询服务",
        "specialties": [world.law],
    }
    defaults.update(kwargs)
    return ServiceRequestFactory(**defaults)


def post_similar(world, client_for, campaign, **overrides):
    data = payload(campaign, village=world.village.pk, specialties=[world.law.pk], **overrides)
    response = client_for(world.lily).post(REQUESTS_URL, data, format="json")
    assert response.status_code == 201, response.content
    return response.json()["possible_duplicates"]


def test_a_similar_open_request_of_the_same_village_is_flagged(world, client_for, campaign):
    existing = _existing(world, campaign)
    duplicates = post_similar(world, client_for, campaign)
    assert [d["id"] for d in duplicates] == [existing.pk]
    assert duplicates[0]["title"] == "渔村老人法律咨询服务"
    assert duplicates[0]["status"] == "open"
    assert 0.6 <= duplicates[0]["similarity"] <= 1
    # Still created: the poster decides.
    assert ServiceRequest.objects.count() == 2
    event = Event.objects.filter(verb="request_created").latest("id")
    assert event.payload["possible_duplicates"] == [existing.pk]


@pytest.mark.parametrize(
    "difference",
    ["other_campaign", "other_village", "other_specialty", "other_title", "cancelled", "old"],
)
def test_requests_that_differ_are_not_flagged(world, client_for, campaign, difference):
    medical = world.medical
    kwargs = {
        "other_campaign": {"campaign": CampaignFactory()},
        "other_village": {"village": VillageFactory(town=world.town, station=world.station)},
        "other_specialty": {"specialties": [medical]},
        "other_title": {"title": "暖企政策宣讲会"},
        "cancelled": {"status": ServiceRequest.Status.CANCELLED},
        "old": {},
    }[difference]
    existing = _existing(world, campaign, **kwargs)
    if difference == "old":
        ServiceRequest.objects.filter(pk=existing.pk).update(
            created_at=timezone.now() - timedelta(days=15)
        )
    assert post_similar(world, client_for, campaign) == []
