"""GET records/ and records/{id}/: who sees which record, filters, names as the viewer may see."""

from __future__ import annotations

import pytest

from accounts import errors as common
from services.records.writes import submit_record, verify_record
from tests import records_fixtures
from tests.factories import ClaimFactory, UserFactory
from tests.records_fixtures import RECORDS_URL, checked_in, record_url, under_way
from tests.test_errors import assert_error

rules = records_fixtures.rules
service = records_fixtures.service


@pytest.fixture
def records(world, service):
    """``here``: alice's record at mary's station (alice, bob); ``there``: charlie's at oscar's."""
    here = submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        people_served=12,
        summary="法律咨询",
        participants=[service.alice.pk, service.bob.pk],
    )
    trip = under_way(station=world.other_station, campaign=service.campaign)
    there = submit_record(
        user=world.charlie.user,
        request_id=trip.pk,
        people_served=5,
        summary="义诊",
        participants=[checked_in(trip, world.charlie).pk],
    )
    return here, there


def ids(client, **params) -> list[int]:
    response = client.get(RECORDS_URL, params)
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_each_persona_sees_its_records(world, client_for, records, anon):
    here, there = records
    assert sorted(ids(client_for(world.sam))) == sorted([here.pk, there.pk])
    assert ids(client_for(world.mary)) == [here.pk]
    assert ids(client_for(world.oscar)) == [there.pk]
    assert ids(client_for(world.alice.user)) == [here.pk]
    assert ids(client_for(world.bob.user)) == [here.pk]
    assert ids(client_for(world.charlie.user)) == [there.pk]
    assert ids(client_for(world.lily)) == []
    assert ids(client_for(UserFactory(is_member=True))) == []
    assert_error(anon.get(RECORDS_URL), 401, common.NOT_AUTHENTICATED)


def test_a_member_who_only_claimed_sees_the_record_too(world, client_for, records):
    here, _ = records
    watcher = ClaimFactory(request=here.request).member
    assert ids(client_for(watcher.user)) == [here.pk]


def test_detail_is_404_for_records_one_may_not_see(world, client_for, records):
    here, _ = records
    assert client_for(world.bob.user).get(record_url(here)).status_code == 200
    for user in (world.oscar, world.charlie.user, world.lily):
        assert_error(client_for(user).get(record_url(here)), 404, common.NOT_FOUND)
    assert_error(client_for(world.sam).get(record_url(999_999)), 404, common.NOT_FOUND)
    assert_error(client_for(world.sam).get(record_url(2**64)), 404, common.NOT_FOUND)


def test_names_follow_the_pii_rules(world, client_for, records):
    here, _ = records

    def names(user):
        body = client_for(user).get(record_url(here)).json()
        return body["submitted_by"]["name"], [p["member"]["name"] for p in body["participants"]]

    assert names(world.bob.user) == ("王*", ["王*", "鲍勃"])
    assert names(world.alice.user) == ("王丽", ["王丽", "鲍*"])
    assert names(world.mary) == ("王丽", ["王丽", "鲍勃"])
    assert names(world.sam) == ("王丽", ["王丽", "鲍勃"])


def test_filters(world, client_for, records):
    here, there = records
    verify_record(actor=world.oscar, record_id=there.pk, approved=True)
    client = client_for(world.sam)
    assert ids(client, status="verified") == [there.pk]
    assert sorted(ids(client, status=["verified", "submitted"])) == sorted([here.pk, there.pk])
    assert ids(client, station=world.station.pk) == [here.pk]
    assert ids(client, town=world.other_town.pk) == [there.pk]
    assert ids(client, request=here.request_id) == [here.pk]
    assert sorted(ids(client, campaign_kind="warm_village")) == sorted([here.pk, there.pk])
    assert ids(client, campaign_kind="warm_heart") == []
    # A manager's filter never widens their scope.
    assert ids(client_for(world.mary), station=world.other_station.pk) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"station": "x"},
        {"station": 0},
        {"request": 2**63},
        {"flagged": "perhaps"},
        {"campaign_kind": "warm_feet"},
    ],
)
def test_bad_filters_are_400(world, client_for, records, params):
    body = assert_error(
        client_for(world.sam).get(RECORDS_URL, params), 400, common.VALIDATION_ERROR
    )
    assert set(params) <= set(body["fields"])


def test_the_poster_of_a_request_sees_its_record(world, client_for, records):
    here, _ = records
    here.request.created_by = world.lily
    here.request.save(update_fields=["created_by"])
    assert ids(client_for(world.lily)) == [here.pk]
    body = client_for(world.lily).get(record_url(here)).json()
    # A liaison is neither staff nor a manager: member names are masked.
    assert [p["member"]["name"] for p in body["participants"]] == ["王*", "鲍*"]
