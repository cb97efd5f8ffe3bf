"""A member's day under real concurrency (threads, real transactions, SQLite or PostgreSQL):
moving a request's times while its claimants claim other tasks never leaves anyone holding two
tasks at once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from services import errors
from services.models import Claim
from tests.factories import CampaignFactory, ClaimFactory, MemberFactory, ServiceRequestFactory
from tests.services_fixtures import assert_consistent, request_url
from tests.test_claim_concurrency import post, run_together

pytestmark = pytest.mark.django_db(transaction=True)


def assert_nobody_double_booked() -> None:
    """No member holds two time-holding claims whose requests overlap."""
    holding = list(
        Claim.objects.filter(
            status__in=[Claim.Status.WAITLISTED, Claim.Status.CLAIMED, Claim.Status.CHECKED_IN]
        ).select_related("request")
    )
    for a in holding:
        for b in holding:
            if a.pk < b.pk and a.member_id == b.member_id:
                overlap = (
                    a.request.starts_at < b.request.ends_at
                    and b.request.starts_at < a.request.ends_at
                )
                assert not overlap, (a.member_id, a.request_id, b.request_id)


@pytest.mark.parametrize("round_", range(3))
def test_moving_times_races_the_claimants_other_claims(client_for, round_):
    campaign = CampaignFactory()
    start = timezone.now() + timedelta(days=3)
    moving = ServiceRequestFactory(campaign=campaign, slots=20, starts_at=start)
    later = start + timedelta(days=2)
    other = ServiceRequestFactory(
        campaign=campaign, slots=20, starts_at=later, ends_at=later + timedelta(hours=3)
    )
    members = [MemberFactory() for _ in range(12)]
    for member in members:
        ClaimFactory(request=moving, member=member)
    manager = moving.station.managers.create(
        username=f"mgr{round_}", name="驿站管理员", is_station_manager=True
    )
    onto_other = {
        "starts_at": (later + timedelta(hours=1)).isoformat(),
        "ends_at": (later + timedelta(hours=2)).isoformat(),
    }
    move = client_for(manager)

    def patch():
        response = move.patch(request_url(moving), onto_other, format="json")
        return response.status_code, response.json()

    calls = [post(client_for(m.user), request_url(other, "claims/")) for m in members]
    calls.insert(round_ * 5, patch)

    results = run_together(calls, workers=13)

    assert all(isinstance(r, tuple) for r in results), results
    moved_status, moved_body = results[round_ * 5]
    claims = Counter(status for status, _ in results[: round_ * 5] + results[round_ * 5 + 1 :])
    if moved_status == 200:
        # The move won its locks first: every claim then saw the new time and clashed.
        assert claims == {409: len(members)}, claims
    else:
        assert moved_status == 409 and moved_body["code"] == errors.REQUEST_HAS_CLAIMS
        assert claims[201] >= 1
    assert_nobody_double_booked()
    assert_consistent(moving)
    assert_consistent(other)


@pytest.mark.parametrize("round_", range(4))
def test_accepting_an_assignment_races_claims_for_the_last_slot(client_for, round_):
    from services.models import Assignment
    from tests.factories import TeamFactory, UserFactory

    leader = UserFactory(is_member=True)
    team = TeamFactory(leader=leader)
    MemberFactory(user=leader, team=team)
    start = timezone.now() + timedelta(days=2)
    last_slot = ServiceRequestFactory(
        campaign=CampaignFactory(),
        slots=3,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        invited_team=team,
        invite_until=timezone.now() - timedelta(minutes=1),  # the window is over: anyone claims
    )
    ClaimFactory(request=last_slot)
    ClaimFactory(request=last_slot)
    assignees = [MemberFactory(team=team) for _ in range(4)]
    made = [
        Assignment.objects.create(request=last_slot, member=m, team=team, assigned_by=leader)
        for m in assignees
    ]
    crowd = [MemberFactory() for _ in range(8)]
    calls = [post(client_for(m.user), f"/api/v1/assignments/{a.pk}/accept/")
             for m, a in zip(assignees, made, strict=True)]  # fmt: skip
    calls += [post(client_for(m.user), request_url(last_slot, "claims/")) for m in crowd]
    calls = calls[round_:] + calls[:round_]

    results = run_together(calls, workers=12)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {200 if statuses.get(200) else 201: 1, 409: 11}, statuses
    assert {body["code"] for status, body in results if status == 409} == {errors.REQUEST_FULL}
    last_slot = assert_consistent(last_slot)
    assert last_slot.claimed == 3
    accepted = Assignment.objects.filter(request=last_slot, status="accepted")
    assert accepted.count() == statuses.get(200, 0)
    assert Assignment.objects.filter(request=last_slot, status="pending").count() == (
        4 - accepted.count()
    )
    assert all(a.claim.status == Claim.Status.CLAIMED for a in accepted)


def test_a_crowd_claiming_every_future_occurrence_never_overfills_one(client_for):
    from services.models import ServiceRequest
    from services.series.writes import create_series
    from tests.factories import StationFactory, UserFactory

    manager = UserFactory(is_station_manager=True)
    station = StationFactory(managers=[manager])
    series = create_series(
        actor=manager,
        campaign=CampaignFactory(),
        title="每周义诊",
        frequency="weekly",
        weekdays=[1, 4],
        starts_on=timezone.localdate() + timedelta(days=1),
        start_time=timezone.localtime().time().replace(hour=9, minute=0, second=0, microsecond=0),
        duration_minutes=120,
        slots=3,
        count=4,
        station=station,
    )
    occurrences = list(ServiceRequest.objects.filter(series=series).order_by("starts_at"))
    crowd = [MemberFactory() for _ in range(10)]
    # Two members already hold a task clashing with the third occurrence.
    for member in crowd[:2]:
        ClaimFactory(
            request=ServiceRequestFactory(
                campaign=CampaignFactory(),
                starts_at=occurrences[2].starts_at,
                ends_at=occurrences[2].ends_at,
            ),
            member=member,
        )
    calls = [post(client_for(m.user), f"/api/v1/series/{series.pk}/claims/") for m in crowd]

    results = run_together(calls, workers=10)

    assert all(isinstance(r, tuple) and r[0] == 200 for r in results), results
    for occurrence in occurrences:
        occurrence = assert_consistent(occurrence)
        assert occurrence.claimed == 3 and occurrence.status == "full"
    for (_, body), member in zip(results, crowd, strict=True):
        assert len(body["claimed"]) + len(body["skipped"]) == 4
        codes = {s["code"] for s in body["skipped"]}
        assert codes <= {errors.REQUEST_FULL, errors.TIME_CONFLICT}, body
        mine = Claim.objects.filter(member=member, request__series=series)
        assert sorted(mine.values_list("id", flat=True)) == sorted(body["claimed"])
    assert not Claim.objects.filter(member__in=crowd[:2], request=occurrences[2]).exists()
    assert sum(len(body["claimed"]) for _, body in results) == 12
    assert_nobody_double_booked()
