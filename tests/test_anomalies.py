"""Anomaly flags: the pure rules, and the flags a submitted record carries and is filtered by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from services.records import anomalies
from services.records.anomalies import Facts, Limits, Participant
from services.records.writes import submit_record
from tests import records_fixtures
from tests.factories import CampaignFactory, MemberFactory
from tests.records_fixtures import RECORDS_URL, checked_in, under_way

rules = records_fixtures.rules
service = records_fixtures.service

LIMITS = Limits(people_per_participant=50, people_max=300, geofence_m=500, late_hours=72)
END = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def facts(**overrides) -> Facts:
    base = {
        "people_served": 40,
        "enterprises_served": 0,
        "campaign_kind": "warm_village",
        "ends_at": END,
        "submitted_at": END + timedelta(hours=1),
        "participants": [
            Participant(claim_id=1, member_id=11, check_in_distance_m=20.0),
            Participant(claim_id=2, member_id=12, check_in_distance_m=None),
        ],
        "overlaps": {},
    }
    base.update(overrides)
    return Facts(**base)


def codes(flags) -> list[str]:
    return [flag["code"] for flag in flags]


# ---------------------------------------------------------------- pure rules


def test_an_ordinary_record_has_no_flags():
    assert anomalies.evaluate(facts(), LIMITS) == []


def test_people_far_above_the_participants_expected_count():
    assert codes(anomalies.evaluate(facts(people_served=100), LIMITS)) == []
    flags = anomalies.evaluate(facts(people_served=101), LIMITS)
    assert codes(flags) == [anomalies.PEOPLE_ABOVE_EXPECTED]
    assert flags[0]["data"] == {"people_served": 101, "expected_max": 100}
    assert "101" in flags[0]["detail"]


def test_people_above_the_district_bound():
    flags = anomalies.evaluate(
        facts(people_served=301, participants=[Participant(1, 11, 0.0)] * 7), LIMITS
    )
    assert codes(flags) == [anomalies.PEOPLE_ABOVE_BOUND]
    assert flags[0]["data"] == {"people_served": 301, "bound": 300}


def test_check_ins_outside_the_geofence():
    far = [Participant(1, 11, 20.0), Participant(2, 12, 812.4), Participant(3, 13, 501.0)]
    flags = anomalies.evaluate(facts(participants=far), LIMITS)
    assert codes(flags) == [anomalies.OUTSIDE_GEOFENCE]
    assert flags[0]["data"]["claims"] == [2, 3]
    assert flags[0]["data"]["distances_m"] == [812, 501]


def test_members_checked_in_to_overlapping_requests():
    flags = anomalies.evaluate(facts(overlaps={12: [77, 75], 99: [1]}), LIMITS)
    assert codes(flags) == [anomalies.OVERLAPPING_CHECK_IN]
    assert flags[0]["data"] == {"claims": [2], "other_requests": [75, 77]}


def test_a_record_submitted_long_after_the_end():
    on_time = facts(submitted_at=END + timedelta(hours=72))
    assert anomalies.evaluate(on_time, LIMITS) == []
    flags = anomalies.evaluate(facts(submitted_at=END + timedelta(hours=80)), LIMITS)
    assert codes(flags) == [anomalies.LATE_SUBMISSION]
    assert flags[0]["data"] == {"hours_after_end": 80, "limit_hours": 72}


def test_enterprises_outside_warm_enterprise():
    flags = anomalies.evaluate(facts(enterprises_served=2), LIMITS)
    assert codes(flags) == [anomalies.ENTERPRISES_OUTSIDE_WARM_ENTERPRISE]
    warm = facts(enterprises_served=2, campaign_kind="warm_enterprise")
    assert anomalies.evaluate(warm, LIMITS) == []


def test_flags_come_in_a_fixed_order_and_name_nobody():
    flags = anomalies.evaluate(
        facts(
            people_served=500,
            enterprises_served=1,
            submitted_at=END + timedelta(days=10),
            participants=[Participant(1, 11, 900.0)],
            overlaps={11: [5]},
        ),
        LIMITS,
    )
    assert codes(flags) == list(anomalies.CODES)
    assert all(set(flag) == {"code", "detail", "data"} for flag in flags)


# ---------------------------------------------------------------- on submission


def test_a_submitted_record_stores_its_flags(world, service, settings):
    settings.SERVICES_GEOFENCE_METERS = 100  # tightened after alice checked in 150 m away
    service.alice.check_in_distance_m = 150.0
    service.alice.save(update_fields=["check_in_distance_m"])
    # bob also checked in to an overlapping request elsewhere.
    elsewhere = under_way(station=world.other_station, campaign=CampaignFactory())
    other = checked_in(elsewhere, world.bob)
    record = submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        people_served=20,
        enterprises_served=3,
        summary="宣讲",
        participants=[service.alice.pk, service.bob.pk],
    )
    assert codes(record.flags) == [
        anomalies.OUTSIDE_GEOFENCE,
        anomalies.OVERLAPPING_CHECK_IN,
        anomalies.ENTERPRISES_OUTSIDE_WARM_ENTERPRISE,
    ]
    assert record.flag_count == 3
    overlap = record.flags[1]["data"]
    assert overlap == {"claims": [service.bob.pk], "other_requests": [other.request_id]}


def test_a_late_record_is_flagged(world, rules):
    campaign = CampaignFactory(kind="warm_heart")
    long_ago = under_way(station=world.station, campaign=campaign, hours_ago=24 * 5)
    claim = checked_in(long_ago, world.alice)
    record = submit_record(
        user=world.alice.user,
        request_id=long_ago.pk,
        people_served=5,
        summary="走访",
        participants=[claim.pk],
    )
    assert codes(record.flags) == [anomalies.LATE_SUBMISSION]
    assert record.flags[0]["data"]["hours_after_end"] == 24 * 5 - 3


def test_flags_cost_one_query_whatever_the_participants(world, rules):
    campaign = CampaignFactory()
    counts = []
    for size in (1, 3):
        service_request = under_way(station=world.station, campaign=campaign, slots=5)
        claims = [checked_in(service_request, MemberFactory()) for _ in range(size)]
        with CaptureQueriesContext(connection) as queries:
            anomalies.flags_for(
                service_request=service_request,
                claims=claims,
                people_served=1,
                enterprises_served=0,
                submitted_at=service_request.ends_at,
            )
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 2, counts


def test_the_verifier_lists_flagged_records(world, client_for, service, rules):
    flagged = submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        people_served=400,
        summary="集中宣讲",
        participants=[service.alice.pk],
    )
    calm_request = under_way(station=world.station, campaign=service.campaign)
    calm = submit_record(
        user=world.mary,
        request_id=calm_request.pk,
        people_served=3,
        summary="走访",
        participants=[checked_in(calm_request, world.charlie).pk],
    )
    client = client_for(world.mary)
    only_flagged = client.get(RECORDS_URL, {"flagged": "1"}).json()
    assert [r["id"] for r in only_flagged["results"]] == [flagged.pk]
    assert only_flagged["results"][0]["flags"][0]["code"] == anomalies.PEOPLE_ABOVE_EXPECTED
    assert only_flagged["results"][0]["flag_count"] == 2
    unflagged = client.get(RECORDS_URL, {"flagged": "false"}).json()
    assert [r["id"] for r in unflagged["results"]] == [calm.pk]
    assert client.get(RECORDS_URL).json()["count"] == 2
