"""services.demo.seed_history: a year of past service, deterministic, idempotent, consistent."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum

from services.demo import HISTORY_DAYS, UNCLAIMED_AGES, plan_history, seed_history, story
from services.demo.bulk import CONTACT_PHONE, write_history
from services.demo.history import Service, seed_history_campaigns
from services.models import (
    Claim,
    PointEntry,
    PointRule,
    ServiceRecord,
    ServiceRequest,
)
from services.records.writes import submit_record, verify_record
from services.requests.claims import check_out
from services.requests.expiry import expire_overdue
from services.requests.writes import cancel_request
from services.stats import selectors as stats
from tests.demo_fixtures import fingerprint
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
    # The quiet months around the Spring Festival are quiet, not empty (a day's count is
    # rounded at random in proportion, not down to none).
    served = {row["key"]: row["people_served"] for row in months}
    assert served["2026-01"] > 0 and served["2026-02"] > 0
    assert served["2026-02"] < served["2026-05"]


# ---------------------------------------------------------------- the bulk rows against the writes


def submit(s: Service, service_request, claims, v) -> ServiceRecord:
    """submit_record at ``v.submitted_at``; like the demo's other steps, the wall-clock stamp
    (``auto_now_add``) is set to that moment before the review reads it."""
    record = submit_record(
        user=s.crew[0].user,
        request_id=service_request.pk,
        people_served=v.people_served,
        enterprises_served=s.figures[1],
        households_visited=s.figures[2],
        summary=s.summary(),
        participants=[c.pk for c in claims],
        now=v.submitted_at,
    )
    ServiceRecord.objects.filter(pk=record.pk).update(submitted_at=v.submitted_at)
    return record


def replay(services: list[Service]) -> None:
    """Each planned service through the product's writes, every step at its planned moment."""
    posters = story.posters({s.station for s in services})
    for s in services:
        poster = posters[s.station.pk]
        service_request = story.post(s, actor=poster, contact_phone=CONTACT_PHONE, at=s.posted_at)
        if s.cancelled_at is not None:
            cancel_request(
                actor=poster,
                request_id=service_request.pk,
                reason=story.CANCEL_REASON,
                now=s.cancelled_at,
            )
        elif s.fate == "expired":
            expire_overdue(now=s.ends_at, request_ids=[service_request.pk])
        claims = [story.claim(service_request, m, at=s.claimed_at(i)) for i, m in enumerate(s.crew)]
        for i, claim in enumerate(claims):
            story.arrive(service_request, claim, offset=i, at=s.checked_in_at(i))
        for claim in claims:
            check_out(user=claim.member.user, claim_id=claim.pk, now=s.ends_at)
        for v in s.versions() if claims else []:
            record = submit(s, service_request, claims, v)
            if v.reviewed_at is not None:
                verify_record(
                    actor=poster,
                    record_id=record.pk,
                    approved=v.status == ServiceRecord.Status.VERIFIED,
                    note=v.note,
                    now=v.reviewed_at,
                )


def sample(services: list[Service], world) -> list[Service]:
    """A few services of every fate, the first whose rejected version is flagged (more people
    served than its crew could), and the first that earns each extra point rule (a team leader
    taking part; a warm-village service at a remote village)."""
    picked: list[Service] = []
    for fate in ("served", "rejected_first", "submitted", "cancelled", "expired", "open"):
        picked += [s for s in services if s.fate == fate][:3]
    per_member = settings.RECORDS_FLAG_PEOPLE_PER_PARTICIPANT
    picked.append(
        next(
            s
            for s in services
            if s.fate == "rejected_first"
            and s.versions()[0].people_served > per_member * len(s.crew)
        )
    )
    verified = [s for s in services if s.verified]
    picked.append(next(s for s in verified if world.bob in s.crew))
    picked.append(
        next(
            s
            for s in verified
            if s.village is not None and s.village.remote and s.campaign.kind == "warm_village"
        )
    )
    return sorted(set(picked), key=services.index)


def test_the_bulk_rows_are_what_the_writes_make(world):
    """The history's bulk rows equal what the product's writes make of the same plan: the
    requests, claims, records (flags included), participants, ledger and every rollup."""
    members(world)
    seed_history_campaigns(TODAY)
    services = sample(plan_history(today=TODAY), world)
    try:
        with transaction.atomic():
            write_history(services)
            bulk = fingerprint()
            raise Rollback
    except Rollback:
        pass
    assert not ServiceRequest.objects.exists()
    replay(services)
    assert fingerprint() == bulk
    rules = set(PointEntry.objects.values_list("rule__kind", flat=True))
    assert rules == {"participation", "team_leader", "remote_village"}
    assert ServiceRecord.objects.exclude(flag_count=0).exists()
