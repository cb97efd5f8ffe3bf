"""services.demo.seed_history: a year of past service, deterministic, idempotent, consistent."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, F, Sum

from services.demo import HISTORY_DAYS, UNCLAIMED_AGES, seed_history
from services.models import Claim, PointEntry, PointRule, ServiceRecord, ServiceRequest
from services.stats import selectors as stats
from tests.factories import MemberFactory

TODAY = date(2026, 6, 15)


def members(world, n=30):
    for i in range(n):
        MemberFactory(team=world.team if i % 2 else world.other_team)


def snapshot() -> list[tuple]:
    return sorted(
        ServiceRecord.objects.values_list(
            "request__title", "station_id", "people_served", "status", "participants_count"
        )
    )


class Rollback(Exception):
    pass


def test_without_stations_or_members_it_does_nothing(db):
    assert seed_history(today=TODAY).requests == 0
    assert not ServiceRequest.objects.exists()


def test_it_is_deterministic_and_idempotent(world):
    members(world)
    try:
        with transaction.atomic():
            seed_history(today=TODAY)
            first = snapshot()
            raise Rollback
    except Rollback:
        pass
    assert not ServiceRecord.objects.exists()

    made = seed_history(today=TODAY)
    again = seed_history(today=TODAY)

    assert snapshot() == first
    assert made.requests > 50 and made.records > 40 and made.points > made.verified
    assert again.requests == again.records == again.points == 0
    assert ServiceRequest.objects.count() == made.requests


def test_a_later_day_adds_only_the_new_days(world):
    members(world)
    seed_history(today=TODAY)
    before = ServiceRecord.objects.count()
    later = seed_history(today=TODAY + timedelta(days=20))
    assert ServiceRecord.objects.count() == before + later.records
    assert not ServiceRecord.objects.filter(
        service_date__lt=TODAY - timedelta(days=HISTORY_DAYS)
    ).exists()
    assert ServiceRecord.objects.filter(service_date__gte=TODAY).exists() or later.records == 0


def test_rows_are_what_the_workflow_would_leave(world):
    members(world)
    seed_history(today=TODAY)
    first, last = TODAY - timedelta(days=HISTORY_DAYS), TODAY - timedelta(days=1)

    records = ServiceRecord.objects.all()
    assert {r.status for r in records} == {"verified", "submitted", "rejected"}
    assert records.filter(status="verified").count() > 0.8 * records.count()
    for record in records.select_related("request__station", "campaign"):
        claims = list(record.participants.all())
        assert record.participants_count == len(claims) >= 1
        assert all(c.request_id == record.request_id for c in claims)
        assert record.station_id == record.request.station_id
        assert record.town_id == record.request.station.town_id
        assert record.campaign_kind == record.campaign.kind
        assert first <= record.service_date <= last
        assert record.campaign.starts_on <= record.service_date <= record.campaign.ends_on
        if record.status == "verified":
            assert record.request.status == "verified"
            assert {c.status for c in claims} == {"done"}
            assert record.verified_at > record.submitted_at > record.request.ends_at
            assert record.verified_by_id != record.submitted_by_id
    # A rejected first version always has its corrected, verified second.
    for rejected in ServiceRecord.objects.filter(status="rejected"):
        assert ServiceRecord.objects.filter(
            request=rejected.request, version=2, status="verified"
        ).exists()
    # Claims never exceed slots and the counters agree.
    for service_request in ServiceRequest.objects.annotate(n=Count("claims")):
        assert service_request.claimed == service_request.n <= service_request.slots
        if service_request.n:
            assert service_request.first_claimed_at > service_request.created_at
            assert service_request.first_claimed_at < service_request.starts_at

    # Points: one participation award per participant of each verified record, none else.
    participation = PointRule.objects.get(kind="participation")
    awarded = PointEntry.objects.filter(rule=participation).count()
    participants = ServiceRecord.objects.filter(status="verified").aggregate(
        n=Sum("participants_count")
    )["n"]
    assert awarded == participants
    assert not PointEntry.objects.exclude(record__status="verified").exists()
    assert not PointEntry.objects.exclude(service_date=F("record__service_date")).exists()


def test_the_follow_up_list_has_unclaimed_requests(world):
    members(world)
    seed_history(today=date.today())
    unclaimed = stats.unclaimed_requests(user=world.sam, hours=48)
    assert unclaimed.count() == len(UNCLAIMED_AGES)
    assert not Claim.objects.filter(request__in=unclaimed).exists()


def test_the_statistics_show_a_year(world):
    members(world)
    seed_history(today=TODAY)
    filters = stats.resolve_filters(
        user=world.sam, date_from=TODAY - timedelta(days=HISTORY_DAYS), date_to=TODAY
    )
    summary = stats.stats_summary(filters=filters)
    assert summary.people_served > 500 and summary.active_members > 10
    assert 0.5 < summary.completion_rate < 1
    assert summary.median_hours_to_claim is not None
    months = stats.stats_breakdown(filters=filters, by=stats.BY_MONTH)
    assert sum(1 for row in months if row["people_served"]) >= 10
