"""The summary's request counts and exact medians read rollups (RequestStat and the two duration
histograms): equal to the plain computation over the rows for any filters, kept in step by the
workflow (claim, cancel, edit, expire, verify, revoke), rebuildable, and exact under parallel
writers."""

from __future__ import annotations

import random
import statistics
from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from services import rollups
from services.models import (
    ActiveMemberStat,
    Campaign,
    Claim,
    ClaimTimeStat,
    MapCellStat,
    RequestStat,
    ServiceRecord,
    ServiceRequest,
    VerifyTimeStat,
)
from services.records.writes import revoke_record, submit_record, verify_record
from services.requests.claims import cancel_claim, claim_request
from services.requests.expiry import expire_overdue
from services.requests.writes import cancel_request, create_request, update_request
from services.stats import selectors as stats
from stations.geo import Point
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    MemberFactory,
    ServiceRecordFactory,
    ServiceRequestFactory,
    StationFactory,
    TownFactory,
    UserFactory,
)
from tests.records_fixtures import checked_in, ensure_rules, under_way
from tests.test_claim_concurrency import run_together

SHANGHAI = ZoneInfo("Asia/Shanghai")
Status = ServiceRequest.Status
COUNTS = ("posted", "completed", "verified", "cancelled", "expired")


# ---------------------------------------------------------------- what the rollups must hold


def snapshot() -> dict:
    """Every rollup row's counts by key (histogram bounds apart: a removal may leave them loose)."""
    return {
        "requests": {
            (r.period, r.station_key, r.campaign_key, r.starts_on): tuple(
                getattr(r, c) for c in COUNTS
            )
            for r in RequestStat.objects.all()
        },
        "claim": {
            (r.period, r.station_key, r.campaign_key, r.starts_on, r.bucket): r.requests
            for r in ClaimTimeStat.objects.all()
        },
        "verify": {
            (r.period, r.town_key, r.kind_key, r.starts_on, r.bucket): r.records
            for r in VerifyTimeStat.objects.all()
        },
        "members": {
            (r.period, r.town_key, r.kind_key, r.starts_on, r.member_id): r.participations
            for r in ActiveMemberStat.objects.all()
        },
        "map": {
            (r.level, r.cell_row, r.cell_column, r.status): (r.requests, r.lat_sum, r.lng_sum)
            for r in MapCellStat.objects.all()
        },
    }


def all_periods(rows: dict) -> tuple:
    """The "all stations, all campaigns" yearly request counts added over every year."""
    totals = [0] * len(COUNTS)
    for key, counts in rows.items():
        if key[:3] == ("y", 0, 0):
            totals = [t + c for t, c in zip(totals, counts, strict=True)]
    return tuple(totals)


def assert_bounds_hold() -> None:
    """Every histogram row's shortest/longest bound the stored durations it counts."""
    for row in VerifyTimeStat.objects.filter(period="d"):
        values = ServiceRecord.objects.filter(
            status=ServiceRecord.Status.VERIFIED,
            service_date=row.starts_on,
            verify_bucket=row.bucket,
        )
        if row.town_key:
            values = values.filter(town_id=row.town_key)
        if row.kind_key:
            values = values.filter(campaign_kind=row.kind_key)
        seconds = list(values.values_list("verify_seconds", flat=True))
        assert len(seconds) == row.records
        assert row.shortest <= min(seconds) and max(seconds) <= row.longest


def assert_rollups_match_a_rebuild() -> dict:
    kept = snapshot()
    assert_bounds_hold()
    rollups.rebuild()
    assert snapshot() == kept
    return kept


# ---------------------------------------------------------------- periods and buckets


def test_cover_tiles_any_range_with_days_months_and_years():
    rng = random.Random(3)
    for _ in range(300):
        start = date(2023, 1, 1) + timedelta(days=rng.randrange(1200))
        end = start + timedelta(days=rng.choice([0, 1, 30, 31, 59, 364, 365, 700, 1500]))
        days = []
        for period, first, last in rollups.cover(start, end):
            for period_again, starts_on in _units(period, first, last):
                assert rollups.periods_of(starts_on)[["d", "m", "y"].index(period)] == (
                    period_again,
                    starts_on,
                )
                days += _days(period, starts_on)
        assert days == [start + timedelta(days=i) for i in range((end - start).days + 1)]
    assert rollups.cover(date(2025, 1, 1), date(2025, 12, 31)) == [
        ("y", date(2025, 1, 1), date(2025, 1, 1))
    ]
    assert rollups.cover(date(2025, 2, 27), date(2025, 4, 1)) == [
        ("d", date(2025, 2, 27), date(2025, 2, 28)),
        ("m", date(2025, 3, 1), date(2025, 3, 1)),
        ("d", date(2025, 4, 1), date(2025, 4, 1)),
    ]


def _units(period, first, last):
    day = first
    while day <= last:
        yield period, day
        day = _days(period, day)[-1] + timedelta(days=1)


def _days(period, starts_on):
    end = {
        "d": starts_on,
        "m": (starts_on + timedelta(days=32)).replace(day=1) - timedelta(days=1),
        "y": date(starts_on.year, 12, 31),
    }[period]
    return [starts_on + timedelta(days=i) for i in range((end - starts_on).days + 1)]


def test_buckets_are_ordered_and_agree_with_the_edges():
    assert rollups.bucket_of(-5.0) == rollups.bucket_of(0.0) == rollups.bucket_of(0.999) == 0
    for i, edge in enumerate(rollups.EDGES):
        assert rollups.bucket_of(edge) == i + 1
        assert rollups.bucket_of(edge - 1e-6) == i
    assert list(rollups.EDGES) == sorted(set(rollups.EDGES))
    # ~1.6 % wide: a bucket never spans more than 1/64 of its lower edge.
    widths = [b / a for a, b in zip(rollups.EDGES, rollups.EDGES[1:], strict=False)]
    assert max(widths) <= 1 + 1 / 64


@pytest.mark.django_db
def test_the_database_puts_a_duration_in_the_bucket_python_does():
    values = [0.0, 0.5, 1.0, 18.0, 3599.999999, 3600.0, *rollups.EDGES[::97], 1e9]
    sql, params = rollups.bucket_sql("%s")
    with connection.cursor() as cursor:
        for value in values:
            cursor.execute(f"SELECT {sql}", [value, *params])
            assert cursor.fetchone()[0] == rollups.bucket_of(value), value


# ---------------------------------------------------------------- exact figures


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


# Durations in seconds: ties, bucket edges and their neighbours, sub-second, multi-day.
POOL = [
    *(rollups.EDGES[i] for i in (0, 64, 700, 704, 705, 760)),
    *(rollups.EDGES[i] + d for i in (700, 760) for d in (-1e-6, 1e-6)),
    0.0,
    0.25,
    7200.0,
    7200.0,
    7200.0,
    3 * 86400 + 0.123456,
]


def _duration(rng: random.Random) -> timedelta:
    seconds = rng.choice(POOL) if rng.random() < 0.6 else rng.uniform(30, 9 * 86400)
    return timedelta(microseconds=round(seconds * 1_000_000))


@pytest.fixture
def scattered(db):
    """~90 requests over Dec 2024 – Jan 2026 at three stations of two towns, two kinds, with
    random times to claim and to verify (many ties and bucket edges), every status, and one to
    three of eight members taking part in each."""
    rng = random.Random(11)
    towns = [TownFactory(), TownFactory()]
    stations = [StationFactory(town=towns[0]), StationFactory(town=towns[0])]
    stations.append(StationFactory(town=towns[1]))
    campaigns = [
        CampaignFactory(kind=kind, starts_on=date(2024, 1, 1), ends_on=date(2026, 12, 31))
        for kind in ("warm_village", "warm_enterprise", "warm_village")
    ]
    members = [MemberFactory() for _ in range(8)]
    for _ in range(90):
        day = date(2024, 12, 20) + timedelta(days=rng.randrange(390))
        station, campaign = rng.choice(stations), rng.choice(campaigns)
        fate = rng.choice(["verified"] * 5 + ["submitted", "rejected", "revoked", "open", "other"])
        status = {
            "verified": Status.VERIFIED,
            "open": Status.OPEN,
            "other": rng.choice([Status.CANCELLED, Status.EXPIRED, Status.FULL]),
        }.get(fate, Status.COMPLETED)
        service_request = ServiceRequestFactory(
            station=station, campaign=campaign, starts_at=at(day, rng.randrange(24)), status=status
        )
        posted = at(day) - timedelta(days=rng.randrange(1, 20))
        claimed = posted + _duration(rng) if fate != "open" or rng.random() < 0.3 else None
        ServiceRequest.objects.filter(pk=service_request.pk).update(
            created_at=posted, first_claimed_at=claimed
        )
        if fate in ("open", "other"):
            continue
        claims = [
            ClaimFactory(request=service_request, member=member, status=Claim.Status.DONE)
            for member in rng.sample(members, rng.randint(1, 3))
        ]
        record = ServiceRecordFactory(
            request=service_request,
            participants=claims,
            status=fate,
            station=station,
            town=station.town,
            campaign=campaign,
            campaign_kind=campaign.kind,
            service_date=day,
        )
        submitted = at(day, 20)
        ServiceRecord.objects.filter(pk=record.pk).update(
            submitted_at=submitted,
            verified_at=submitted + _duration(rng) if fate != "submitted" else None,
        )
    rollups.rebuild()
    return towns, stations, campaigns


def _reference_median(durations: list[float]) -> float | None:
    """The median as the old query computed it: percentile_cont on PostgreSQL, the average of
    the middle one or two on SQLite."""
    if not durations:
        return None
    values = sorted(durations)
    low, high = values[(len(values) - 1) // 2], values[len(values) // 2]
    if connection.vendor == "postgresql":
        value = low + (high - low) * 0.5 if low != high else low
    else:
        value = (low + high) / 2
    return round(value / 3600, 2)


def _stored_seconds(table: str, start: str, end: str, ids: list[int]) -> list[float]:
    """``end - start`` in seconds as the database computes it, for the rows ``ids``."""
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rollups.seconds_sql(start, end)} FROM {table} "  # noqa: S608 - test SQL of fixed names
            f"WHERE id IN ({', '.join(['%s'] * len(ids))})",
            ids,
        )
        return [row[0] for row in cursor.fetchall()]


def expected(f: stats.StatsFilter) -> dict:
    """The summary's request counts and medians, computed the plain way from the rows."""
    towns = stats._towns(f)
    requests = [
        r
        for r in ServiceRequest.objects.select_related("station", "campaign")
        if f.date_from <= timezone.localtime(r.starts_at, SHANGHAI).date() <= f.date_to
        and (towns is None or r.station.town_id in towns)
        and (not f.campaign_kind or r.campaign.kind == f.campaign_kind)
    ]
    records = [
        r
        for r in ServiceRecord.objects.filter(status=ServiceRecord.Status.VERIFIED)
        if f.date_from <= r.service_date <= f.date_to
        and (towns is None or r.town_id in towns)
        and (not f.campaign_kind or r.campaign_kind == f.campaign_kind)
    ]
    count = {
        "active": len({c.member_id for r in records for c in r.participants.all()}),
        "posted": len(requests),
        "completed": sum(r.status in (Status.COMPLETED, Status.VERIFIED) for r in requests),
        "verified": sum(r.status == Status.VERIFIED for r in requests),
        "cancelled": sum(r.status == Status.CANCELLED for r in requests),
        "expired": sum(r.status == Status.EXPIRED for r in requests),
    }
    claim = _stored_seconds(
        ServiceRequest._meta.db_table,
        "created_at",
        "first_claimed_at",
        [r.pk for r in requests if r.first_claimed_at is not None],
    )
    verify = _stored_seconds(
        ServiceRecord._meta.db_table,
        "submitted_at",
        "verified_at",
        [r.pk for r in records if r.verified_at is not None],
    )
    # The plain median of Python's own durations, for a sanity check of the reference.
    plain = [
        statistics.median(v) / 3600 if v else None
        for v in (
            [
                (r.first_claimed_at - r.created_at).total_seconds()
                for r in requests
                if r.first_claimed_at
            ],
            [(r.verified_at - r.submitted_at).total_seconds() for r in records],
        )
    ]
    return {
        **count,
        "claim": _reference_median(claim),
        "verify": _reference_median(verify),
        "plain": plain,
    }


def assert_summary_exact(f: stats.StatsFilter) -> None:
    summary = stats.stats_summary(filters=f)
    want = expected(f)
    got = {
        "active": summary.active_members,
        "posted": summary.requests_posted,
        "completed": summary.requests_completed,
        "verified": summary.requests_verified,
        "cancelled": summary.requests_cancelled,
        "expired": summary.requests_expired,
        "claim": summary.median_hours_to_claim,
        "verify": summary.median_hours_to_verify,
    }
    plain = want.pop("plain")
    assert got == want, f
    for ours, theirs in zip((got["claim"], got["verify"]), plain, strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert abs(ours - theirs) <= 0.005 + 1e-9
    counted = want["posted"] - want["cancelled"]
    assert summary.completion_rate == (round(want["completed"] / counted, 4) if counted else None)


def test_counts_and_medians_equal_the_plain_computation_for_any_filters(scattered):
    towns, _stations, _campaigns = scattered
    rng = random.Random(5)
    periods = [
        (date(2025, 1, 1), date(2025, 12, 31)),
        (date(2024, 12, 1), date(2026, 1, 31)),
        (date(2025, 3, 1), date(2025, 3, 31)),
        (date(2025, 2, 17), date(2025, 11, 3)),
        (date(2024, 12, 31), date(2025, 1, 1)),
        (date(2023, 1, 1), date(2023, 12, 31)),  # nothing there
    ]
    for _ in range(12):
        start = date(2024, 12, 15) + timedelta(days=rng.randrange(400))
        periods.append((start, start + timedelta(days=rng.randrange(120))))
    scopes = [
        {},
        {"town_id": towns[0].pk},
        {"town_id": towns[1].pk, "campaign_kind": "warm_village"},
        {"campaign_kind": "warm_enterprise"},
        {"campaign_kind": "warm_heart"},  # no campaign of that kind
        {"town_ids": frozenset({towns[0].pk, towns[1].pk})},
        {"town_ids": frozenset({towns[1].pk}), "campaign_kind": "warm_village"},
        {"town_ids": frozenset()},  # a manager without stations
        {"town_id": towns[0].pk, "town_ids": frozenset({towns[1].pk})},  # disjoint: nothing
    ]
    medians = set()
    for date_from, date_to in periods:
        for scope in scopes:
            f = stats.StatsFilter(date_from=date_from, date_to=date_to, **scope)
            assert_summary_exact(f)
            summary = stats.stats_summary(filters=f)
            medians.add((summary.median_hours_to_claim is None, summary.requests_posted % 2))
    # Both parities and empty sets were met.
    assert {(False, 0), (False, 1), (True, 0)} <= medians


def test_a_station_moving_town_and_a_campaign_changing_kind_are_followed(scattered):
    towns, stations, campaigns = scattered
    stations[1].town = towns[1]
    stations[1].save()
    Campaign.objects.filter(pk=campaigns[2].pk).update(kind="warm_heart")
    for scope in ({"town_id": towns[1].pk}, {"campaign_kind": "warm_heart"}):
        assert_summary_exact(
            stats.StatsFilter(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31), **scope)
        )


@pytest.mark.django_db
def test_medians_of_odd_and_even_counts_and_ties():
    station, campaign = (
        StationFactory(),
        CampaignFactory(starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31)),
    )
    f = stats.StatsFilter(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))

    def claimed_after(hours: float) -> None:
        service_request = ServiceRequestFactory(
            station=station, campaign=campaign, starts_at=at(date(2025, 6, 1))
        )
        posted = at(date(2025, 5, 1))
        ServiceRequest.objects.filter(pk=service_request.pk).update(
            created_at=posted, first_claimed_at=posted + timedelta(hours=hours)
        )
        rollups.rebuild()

    assert stats.stats_summary(filters=f).median_hours_to_claim is None
    for hours, median in [(5, 5.0), (1, 3.0), (1, 1.0), (9, 3.0), (9, 5.0), (9, 7.0)]:
        claimed_after(hours)
        assert stats.stats_summary(filters=f).median_hours_to_claim == median


# ---------------------------------------------------------------- kept by the workflow


@pytest.mark.django_db
def test_posting_claiming_editing_and_cancelling_keep_the_request_rollups():
    staff = UserFactory(is_staff=True)
    station, campaign, other = (
        StationFactory(),
        CampaignFactory(),
        CampaignFactory(kind="warm_heart"),
    )
    start = timezone.now() + timedelta(days=3)
    created = [
        create_request(
            actor=staff,
            station=station,
            campaign=campaign,
            title=f"法律咨询{i}",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            slots=2,
        ).request
        for i in range(3)
    ]
    kept = assert_rollups_match_a_rebuild()
    assert all_periods(kept["requests"]) == (3, 0, 0, 0, 0)
    assert not kept["claim"]

    members = [MemberFactory() for _ in range(3)]
    first = claim_request(user=members[0].user, request_id=created[0].pk)
    claim_request(user=members[1].user, request_id=created[0].pk)  # not the first
    created[0].refresh_from_db()
    # SQLite's date functions read times to the millisecond.
    assert created[0].claim_seconds == pytest.approx(
        (created[0].first_claimed_at - created[0].created_at).total_seconds(), abs=1e-3
    )
    assert created[0].claim_bucket == rollups.bucket_of(created[0].claim_seconds)
    kept = assert_rollups_match_a_rebuild()
    assert sum(n for k, n in kept["claim"].items() if k[:3] == ("y", 0, 0)) == 1
    # Two claims of two slots: the request is full, its map cells count it as full.
    assert {k[3]: v[0] for k, v in kept["map"].items() if k[0] == 0} == {"open": 2, "full": 1}

    # All claimants leave: the request may move to another day and campaign, its time to first
    # claim going with it.
    cancel_claim(user=members[0].user, claim_id=first.pk, reason="临时有事")
    second = created[0].claims.get(member=members[1])
    cancel_claim(user=members[1].user, claim_id=second.pk, reason="临时有事")
    later = start + timedelta(days=40)
    update_request(
        actor=staff,
        request_id=created[0].pk,
        changes={"starts_at": later, "ends_at": later + timedelta(hours=2), "campaign": other},
    )
    kept = assert_rollups_match_a_rebuild()
    day = timezone.localtime(later, SHANGHAI).date()
    assert kept["claim"][("d", station.pk, other.pk, day, created[0].claim_bucket)] == 1
    update_request(actor=staff, request_id=created[1].pk, changes={"title": "新标题"})
    # A new place moves the request's map cells, at every level.
    update_request(
        actor=staff, request_id=created[1].pk, changes={"point": Point(lat=30.31, lng=121.93)}
    )
    kept = assert_rollups_match_a_rebuild()
    cells = {k: v for k, v in kept["map"].items() if k[0] == rollups.MAP_LEVELS[-1]}
    assert (rollups.MAP_LEVELS[-1], *rollups.map_cell(30.31, 121.93, 10), "open") in cells
    update_request(actor=staff, request_id=created[1].pk, changes={"campaign": other})
    assert_rollups_match_a_rebuild()

    cancel_request(actor=staff, request_id=created[2].pk, reason="天气原因")
    kept = assert_rollups_match_a_rebuild()
    assert all_periods(kept["requests"]) == (3, 0, 0, 1, 0)


@pytest.mark.django_db
def test_expiry_counts_an_unclaimed_request_as_expired():
    staff = UserFactory(is_staff=True)
    start = timezone.now() + timedelta(hours=2)
    created = create_request(
        actor=staff,
        station=StationFactory(),
        campaign=CampaignFactory(),
        title="无人认领",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        slots=1,
    ).request
    expire_overdue(now=start + timedelta(hours=2))
    created.refresh_from_db()
    assert created.status == Status.EXPIRED
    kept = assert_rollups_match_a_rebuild()
    assert all_periods(kept["requests"]) == (1, 0, 0, 0, 1)


def submitted(station, campaign, *, members=None) -> ServiceRecord:
    """A record awaiting verification, ``members`` (default: a new one) checked in."""
    members = members or [MemberFactory()]
    service_request = under_way(station=station, campaign=campaign, slots=len(members))
    claims = [checked_in(service_request, member) for member in members]
    return submit_record(
        user=claims[0].member.user,
        request_id=service_request.pk,
        people_served=5,
        households_visited=1,
        summary="入户走访",
        participants=[c.pk for c in claims],
    )


@pytest.mark.django_db
def test_verify_reject_and_revoke_keep_the_time_to_verify_and_the_counts():
    ensure_rules()
    rng = random.Random(8)
    staff = UserFactory(is_staff=True)
    stations = [StationFactory(), StationFactory()]
    campaigns = [CampaignFactory(kind=k) for k in ("warm_village", "warm_enterprise")]
    crew = [MemberFactory() for _ in range(4)]
    pending = [
        submitted(rng.choice(stations), rng.choice(campaigns), members=rng.sample(crew, 2))
        for _ in range(10)
    ]
    rollups.rebuild()  # the requests above were made by factories
    verified: list[ServiceRecord] = []
    now = timezone.now()
    while pending:
        now += timedelta(minutes=rng.randrange(1, 600))
        if verified and rng.random() < 0.35:
            record = verified.pop(rng.randrange(len(verified)))
            revoke_record(actor=staff, record_id=record.pk, reason="抽查不实", now=now)
            record.refresh_from_db()
            assert (record.verify_seconds, record.verify_bucket) == (None, None)
        else:
            record = pending.pop(rng.randrange(len(pending)))
            approved = rng.random() < 0.8
            verify_record(
                actor=staff,
                record_id=record.pk,
                approved=approved,
                note="已核查" if approved else "退回",
                now=now,
            )
            record.refresh_from_db()
            if approved:
                verified.append(record)
                assert record.verify_seconds == pytest.approx(
                    (record.verified_at - record.submitted_at).total_seconds(), abs=1e-3
                )
            else:
                assert record.verify_seconds is None
        kept = snapshot()
        assert_bounds_hold()
        assert sum(n for k, n in kept["verify"].items() if k[:3] == ("y", 0, "")) == len(verified)
        assert sum(n for k, n in kept["members"].items() if k[:3] == ("y", 0, "")) == 2 * len(
            verified
        )
    assert_rollups_match_a_rebuild()


@pytest.mark.django_db
def test_rebuild_restamps_durations_and_replaces_drifted_rollups(scattered):
    good = snapshot()
    ServiceRecord.objects.update(verify_seconds=None, verify_bucket=None)
    ServiceRequest.objects.filter(claim_seconds__isnull=False).update(claim_seconds=-1.0)
    RequestStat.objects.update(posted=999)
    VerifyTimeStat.objects.all().delete()

    out = StringIO()
    call_command("rebuild_stats", stdout=out)

    assert snapshot() == good
    stamped = ServiceRecord.objects.filter(status="verified").count() + (
        ServiceRequest.objects.filter(claim_seconds__isnull=False).count()
    )
    assert f"重新记录用时 {stamped} 条" in out.getvalue()
    assert f"需求汇总 {len(good['requests'])} 行" in out.getvalue()
    assert rollups.rebuild().stamped == 0


# ---------------------------------------------------------------- parallel writers


@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_and_first_claims_lose_no_increment():
    ensure_rules()
    station, campaign = StationFactory(), CampaignFactory()
    records = [submitted(station, campaign) for _ in range(6)]
    start = timezone.now() + timedelta(days=2)
    staff = UserFactory(is_staff=True)
    requests = [
        create_request(
            actor=staff,
            station=station,
            campaign=campaign,
            title=f"并发{i}",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            slots=3,
        ).request
        for i in range(6)
    ]
    rollups.rebuild()
    members = [MemberFactory() for _ in requests]
    reviewers = [UserFactory(is_staff=True) for _ in records]
    calls = [
        (lambda r=record, u=reviewer: verify_record(actor=u, record_id=r.pk, approved=True))
        for record, reviewer in zip(records, reviewers, strict=True)
    ] + [
        (lambda r=request, m=member: claim_request(user=m.user, request_id=r.pk))
        for request, member in zip(requests, members, strict=True)
    ]

    results = run_together(calls, workers=4)

    assert not [r for r in results if isinstance(r, Exception)], results
    kept = snapshot()
    year = ("y", 0, "")
    assert sum(n for k, n in kept["verify"].items() if k[:3] == year) == len(records)
    assert sum(n for k, n in kept["claim"].items() if k[:3] == ("y", 0, 0)) == len(requests)
    assert all_periods(kept["requests"])[2] == len(records)
    assert_rollups_match_a_rebuild()
