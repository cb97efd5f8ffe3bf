"""The daily rollup (DailyServiceStat) kept by verification and revocation: equal to a rebuild
from the records after any sequence, never losing an increment under parallel verifications."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.core.management import call_command

from services import errors, rollups
from services.models import DailyServiceStat, ServiceRecord
from services.records.writes import revoke_record, submit_record, verify_record
from tests.factories import CampaignFactory, MemberFactory, StationFactory, UserFactory
from tests.records_fixtures import checked_in, ensure_rules, under_way
from tests.test_claim_concurrency import run_together

FIGURES = ("records", "people_served", "enterprises_served", "households_visited", "participations")


def snapshot() -> dict[tuple, tuple]:
    """The rollup as {(day, station, campaign, town, kind): figures}."""
    return {
        (r.service_date, r.station_id, r.campaign_id, r.town_id, r.campaign_kind): tuple(
            getattr(r, name) for name in FIGURES
        )
        for r in DailyServiceStat.objects.all()
    }


def from_records() -> dict[tuple, tuple]:
    """What the rollup must hold, added up in Python from the verified records."""
    expected: dict[tuple, list[int]] = {}
    for r in ServiceRecord.objects.filter(status=ServiceRecord.Status.VERIFIED):
        key = (r.service_date, r.station_id, r.campaign_id, r.town_id, r.campaign_kind)
        sums = expected.setdefault(key, [0] * len(FIGURES))
        for i, value in enumerate(
            (1, r.people_served, r.enterprises_served, r.households_visited, r.participants_count)
        ):
            sums[i] += value
    return {key: tuple(sums) for key, sums in expected.items()}


def submitted(station, campaign, *, people: int, participants: int = 2) -> ServiceRecord:
    """A record awaiting verification at ``station`` with ``participants`` checked-in members."""
    service_request = under_way(station=station, campaign=campaign, slots=participants)
    claims = [checked_in(service_request, MemberFactory()) for _ in range(participants)]
    return submit_record(
        user=claims[0].member.user,
        request_id=service_request.pk,
        people_served=people,
        households_visited=people // 3,
        summary="入户走访",
        participants=[c.pk for c in claims],
    )


@pytest.mark.django_db
def test_verify_adds_and_revoke_takes_away():
    ensure_rules()
    staff = UserFactory(is_staff=True)
    station, campaign = StationFactory(), CampaignFactory()
    first = submitted(station, campaign, people=12)
    second = submitted(station, campaign, people=30, participants=3)

    verify_record(actor=staff, record_id=first.pk, approved=True)
    verify_record(actor=staff, record_id=second.pk, approved=True)

    row = DailyServiceStat.objects.get()
    assert (row.station_id, row.campaign_id, row.town_id) == (
        station.pk,
        campaign.pk,
        station.town_id,
    )
    assert (row.service_date, row.campaign_kind) == (first.service_date, campaign.kind)
    assert (row.records, row.people_served, row.households_visited, row.participations) == (
        2,
        42,
        14,
        5,
    )

    revoke_record(actor=staff, record_id=first.pk, reason="重复登记")
    row.refresh_from_db()
    assert (row.records, row.people_served, row.participations) == (1, 30, 3)
    revoke_record(actor=staff, record_id=second.pk, reason="重复登记")
    # No verified record left that day: no row, as a rebuild leaves it.
    assert not DailyServiceStat.objects.exists()


@pytest.mark.django_db
def test_rejection_and_failed_verification_leave_the_rollup_alone():
    ensure_rules()
    staff = UserFactory(is_staff=True)
    record = submitted(StationFactory(), CampaignFactory(), people=9)
    verify_record(actor=staff, record_id=record.pk, approved=False, note="人数不符")
    assert not DailyServiceStat.objects.exists()
    # Verifying one's own record is refused: the transaction (rollup included) rolls back.
    again = submitted(StationFactory(), CampaignFactory(), people=9)
    with pytest.raises(errors.CannotVerifyOwnRecord):
        verify_record(actor=again.submitted_by, record_id=again.pk, approved=True)
    assert not DailyServiceStat.objects.exists()


@pytest.mark.django_db
def test_rebuild_reproduces_the_rollup_after_random_verifies_and_revokes():
    ensure_rules()
    rng = random.Random(6)
    staff = UserFactory(is_staff=True)
    stations = [StationFactory() for _ in range(3)]
    campaigns = [CampaignFactory(kind=kind) for kind in ("warm_village", "warm_enterprise")]
    pending = [
        submitted(rng.choice(stations), rng.choice(campaigns), people=rng.randint(0, 60))
        for _ in range(14)
    ]
    verified: list[ServiceRecord] = []
    while pending:
        if verified and rng.random() < 0.3:
            record = verified.pop(rng.randrange(len(verified)))
            revoke_record(actor=staff, record_id=record.pk, reason="抽查不实")
        else:
            record = pending.pop(rng.randrange(len(pending)))
            approved = rng.random() < 0.85
            verify_record(
                actor=staff, record_id=record.pk, approved=approved, note="" if approved else "退回"
            )
            if approved:
                verified.append(record)
        assert snapshot() == from_records()
    kept = snapshot()
    assert kept, "the sequence should leave some verified service"

    out = StringIO()
    call_command("rebuild_stats", stdout=out)

    assert snapshot() == kept
    assert f"{len(kept)} 行" in out.getvalue()
    # And the rollup adds up to the verified records themselves.
    live = ServiceRecord.objects.filter(status=ServiceRecord.Status.VERIFIED)
    assert sum(v[0] for v in kept.values()) == live.count() == len(verified)
    assert sum(v[1] for v in kept.values()) == sum(r.people_served for r in live)


@pytest.mark.django_db
def test_rebuild_replaces_a_drifted_rollup():
    ensure_rules()
    staff = UserFactory(is_staff=True)
    record = submitted(StationFactory(), CampaignFactory(), people=7)
    verify_record(actor=staff, record_id=record.pk, approved=True)
    good = snapshot()
    DailyServiceStat.objects.update(people_served=999)

    assert rollups.rebuild().daily == 1
    assert snapshot() == good


@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_of_one_day_and_station_lose_no_increment():
    ensure_rules()
    station, campaign = StationFactory(), CampaignFactory()
    records = [submitted(station, campaign, people=10 + i) for i in range(8)]
    reviewers = [UserFactory(is_staff=True) for _ in records]
    calls = [
        (
            lambda record=record, reviewer=reviewer: (
                verify_record(actor=reviewer, record_id=record.pk, approved=True).status
            )
        )
        for record, reviewer in zip(records, reviewers, strict=True)
    ]

    results = run_together(calls, workers=len(calls))

    assert results == [ServiceRecord.Status.VERIFIED] * len(records), results
    row = DailyServiceStat.objects.get()
    assert (row.records, row.people_served, row.participations) == (
        8,
        sum(10 + i for i in range(8)),
        16,
    )
    assert snapshot() == from_records()
    rollups.rebuild()
    assert snapshot() == from_records()
