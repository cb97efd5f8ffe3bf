"""GET stats/unclaimed/: open requests nobody claimed for longer than a threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common_errors
from services import errors
from services.models import Campaign, Claim, ServiceRequest
from tests.factories import CampaignFactory, ClaimFactory, ServiceRequestFactory
from tests.stats_fixtures import UNCLAIMED_URL
from tests.test_errors import assert_error


def posted(hours_ago: float, **kwargs) -> ServiceRequest:
    service_request = ServiceRequestFactory(**kwargs)
    ServiceRequest.objects.filter(pk=service_request.pk).update(
        created_at=timezone.now() - timedelta(hours=hours_ago)
    )
    return service_request


@pytest.fixture
def waiting(world):
    """Requests in mary's and oscar's towns, waiting various times."""
    heart = CampaignFactory(kind=Campaign.Kind.WARM_HEART)
    village = CampaignFactory(kind=Campaign.Kind.WARM_VILLAGE)
    return {
        "old": posted(72, station=world.station, campaign=village, title="三天没人认领"),
        "older": posted(200, station=world.station, campaign=heart, title="八天没人认领"),
        "fresh": posted(1, station=world.station, campaign=village),
        "claimed": ClaimFactory(
            request=posted(100, station=world.station, campaign=village), member=world.alice
        ).request,
        "cancelled": posted(
            100, station=world.station, campaign=village, status=ServiceRequest.Status.CANCELLED
        ),
        "over": posted(
            100,
            station=world.station,
            campaign=village,
            starts_at=timezone.now() - timedelta(hours=5),
            ends_at=timezone.now() - timedelta(hours=1),
        ),
        "elsewhere": posted(80, station=world.other_station, campaign=village),
    }


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_staff_see_every_town_oldest_first(world, waiting, client_for):
    response = client_for(world.sam).get(UNCLAIMED_URL)
    assert ids(response) == [waiting["older"].pk, waiting["elsewhere"].pk, waiting["old"].pk]
    body = response.json()
    assert body["count"] == 3 and body["next"] is None
    row = body["results"][0]
    assert row["title"] == "八天没人认领"
    assert row["station"] == {"id": world.station.pk, "name": "昌国协商驿站"}
    assert row["town"] == {"id": world.town.pk, "name": "昌国街道"}
    assert row["campaign_kind"] == "warm_heart" and row["village"] is None
    assert 199 < row["hours_waiting"] < 201
    assert "contact_phone" not in row


def test_the_threshold_and_filters_apply(world, waiting, client_for):
    staff = client_for(world.sam)
    assert ids(staff.get(UNCLAIMED_URL, {"hours": 150})) == [waiting["older"].pk]
    assert waiting["fresh"].pk in ids(staff.get(UNCLAIMED_URL, {"hours": 1}))
    assert ids(staff.get(UNCLAIMED_URL, {"campaign_kind": "warm_heart"})) == [waiting["older"].pk]
    assert ids(staff.get(UNCLAIMED_URL, {"town": world.other_town.pk})) == [waiting["elsewhere"].pk]


def test_a_request_whose_claims_were_all_cancelled_is_unclaimed_again(world, waiting, client_for):
    claim = Claim.objects.get(request=waiting["claimed"])
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.CANCELLED)
    ServiceRequest.objects.filter(pk=waiting["claimed"].pk).update(claimed=0)
    assert waiting["claimed"].pk in ids(client_for(world.sam).get(UNCLAIMED_URL))


def test_it_is_paginated(world, waiting, client_for):
    body = client_for(world.sam).get(UNCLAIMED_URL, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_a_manager_sees_their_towns_only(world, waiting, client_for):
    mary = client_for(world.mary)
    assert ids(mary.get(UNCLAIMED_URL)) == [waiting["older"].pk, waiting["old"].pk]
    assert ids(client_for(world.oscar).get(UNCLAIMED_URL)) == [waiting["elsewhere"].pk]
    response = mary.get(UNCLAIMED_URL, {"town": world.other_town.pk})
    assert_error(response, 403, errors.TOWN_OUT_OF_SCOPE)


def test_members_liaisons_and_anonymous_are_refused(world, waiting, client_for, anon):
    for user in (world.alice.user, world.lily):
        assert_error(client_for(user).get(UNCLAIMED_URL), 403, common_errors.PERMISSION_DENIED)
    assert_error(anon.get(UNCLAIMED_URL), 401, common_errors.NOT_AUTHENTICATED)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hours": "0"}, "hours"),
        ({"hours": "-5"}, "hours"),
        ({"hours": "abc"}, "hours"),
        ({"hours": "1.5"}, "hours"),
        ({"hours": "100000"}, "hours"),
        ({"town": "abc"}, "town"),
        ({"town": "424242"}, "town"),
        ({"campaign_kind": "warm"}, "campaign_kind"),
    ],
)
def test_bad_input_is_400(world, client_for, params, field):
    response = client_for(world.sam).get(UNCLAIMED_URL, params)
    body = assert_error(response, 400, common_errors.VALIDATION_ERROR)
    assert field in body["fields"]


def test_the_default_threshold_comes_from_settings(world, waiting, client_for, settings):
    settings.STATS_UNCLAIMED_HOURS = 90
    assert ids(client_for(world.sam).get(UNCLAIMED_URL)) == [waiting["older"].pk]
