"""The team and member rollups (TeamStat, MemberStat) kept by verification, hours corrections,
revocation and the residents' ratings: the team and member breakdowns and the leaderboard read
them, and they equal hand-written SQL over the rows after any sequence, a rebuild, and parallel
writers (PostgreSQL threads)."""

from __future__ import annotations

import random
from datetime import date

import pytest
from django.db import connection

from members.pii import Viewer
from services import rollups
from services.intake import ratings
from services.intake.codes import code_for
from services.intake.writes import submit_intake
from services.models import (
    Intake,
    IntakeRating,
    MemberStat,
    PointEntry,
    PointRule,
    ServiceHours,
    ServiceRecord,
    TeamStat,
)
from services.records import hours, points
from services.records.writes import revoke_record, submit_record, verify_record
from services.stats import selectors as stats
from tests.factories import (
    CampaignFactory,
    MemberFactory,
    StationFactory,
    TeamFactory,
    TownFactory,
    UserFactory,
)
from tests.records_fixtures import checked_in, ensure_rules, under_way
from tests.test_claim_concurrency import run_together

VERIFIED = ServiceRecord.Status.VERIFIED
WIDE = (date(2000, 1, 1), date(2099, 12, 31))


# ---------------------------------------------------------------- the figures from the rows


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _where(date_from, date_to, town_id, kind, prefix: str) -> tuple[str, list]:
    sql = [f"{prefix}service_date BETWEEN %s AND %s"]
    params: list = [date_from, date_to]
    if town_id is not None:
        sql.append(f"{prefix}town_id = %s")
        params.append(town_id)
    if kind:
        sql.append(f"{prefix}campaign_kind = %s")
        params.append(kind)
    return " AND ".join(sql), params


def from_rows(by: str, date_from=WIDE[0], date_to=WIDE[1], town_id=None, kind=None) -> dict:
    """{group: (records, people, enterprises, households, participations, minutes[, ratings,
    score, high])} written out over the counted hours entries, the verified records and the
    ratings — the people shared out in Python, claim order, remainder to the first."""
    where, params = _where(date_from, date_to, town_id, kind, "h.")
    entries = _rows(
        "SELECT h.record_id, h.member_id, COALESCE(h.team_id, 0), h.minutes, r.people_served, "  # noqa: S608 - test SQL, placeholders only
        "r.enterprises_served, r.households_visited FROM services_servicehours h "
        "JOIN services_servicerecord r ON r.id = h.record_id "
        f"WHERE h.counted AND r.status = %s AND {where} ORDER BY h.record_id, h.claim_id, h.id",
        [VERIFIED, *params],
    )
    per_record: dict[int, list[tuple]] = {}
    for row in entries:
        per_record.setdefault(row[0], []).append(row)
    out: dict = {}
    seen: set[tuple] = set()
    for record_id, rows in per_record.items():
        n = len(rows)
        for i, (_, member_id, team_key, minutes, *counts) in enumerate(rows):
            group = member_id if by == "member" else team_key
            figures = out.setdefault(group, [0] * (6 if by == "member" else 9))
            if (record_id, group) not in seen:
                seen.add((record_id, group))
                figures[0] += 1
            for j, total in enumerate(counts):
                figures[1 + j] += total // n + (1 if i < total % n else 0)
            figures[4] += 1
            figures[5] += minutes
    if by == "team":
        where, params = _where(date_from, date_to, town_id, kind, "g.")
        for team_key, n, score, high in _rows(
            "SELECT COALESCE(g.team_id, 0), COUNT(*), SUM(g.score), "  # noqa: S608 - test SQL, placeholders only
            "SUM(CASE WHEN g.score >= 4 THEN 1 ELSE 0 END) FROM services_intakerating g "
            "JOIN services_servicerecord r ON r.id = g.record_id "
            f"WHERE r.status = %s AND {where} GROUP BY COALESCE(g.team_id, 0)",
            [VERIFIED, *params],
        ):
            if team_key in out:
                out[team_key][6:] = [n, score, high]
    return {group: tuple(figures) for group, figures in out.items()}


def from_rollup(by: str, date_from=WIDE[0], date_to=WIDE[1], town_id=None, kind=None) -> dict:
    """The same figures as the breakdown endpoint's function answers them."""
    f = stats.StatsFilter(date_from=date_from, date_to=date_to, town_id=town_id, campaign_kind=kind)
    out = {}
    for row in stats.stats_breakdown(filters=f, by=by):
        key = row["key"]
        group = 0 if key == stats.NO_TEAM_KEY else int(key)
        figures = tuple(row[name] for name in stats.SERVED_FIELDS)
        if by == "team":
            rated = row["satisfaction"]
            score = round(rated["mean"] * rated["ratings"]) if rated["ratings"] else 0
            high = round(rated["share_4_5"] * rated["ratings"]) if rated["ratings"] else 0
            figures += (rated["ratings"], score, high)
        out[group] = figures
    return out


def leaders_from_rows(date_from=WIDE[0], date_to=WIDE[1], team_id=None) -> list[tuple]:
    """(member, points, participations, minutes) by points, written out over the ledger."""
    team_sql, team_params = ("AND p.team_id = %s", [team_id]) if team_id else ("", [])
    totals = _rows(
        "SELECT p.member_id, SUM(p.points), SUM(CASE WHEN k.kind = %s THEN "  # noqa: S608 - test SQL, placeholders only
        "(CASE WHEN p.award THEN 1 ELSE -1 END) ELSE 0 END) FROM services_pointentry p "
        "JOIN services_pointrule k ON k.id = p.rule_id "
        f"WHERE p.service_date BETWEEN %s AND %s {team_sql} GROUP BY p.member_id "
        "HAVING SUM(p.points) > 0",
        [PointRule.Kind.PARTICIPATION, date_from, date_to, *team_params],
    )
    team_sql = team_sql.replace("p.", "h.")
    minutes = dict(
        _rows(
            "SELECT h.member_id, SUM(h.minutes) FROM services_servicehours h "  # noqa: S608 - test SQL, placeholders only
            f"WHERE h.counted AND h.service_date BETWEEN %s AND %s {team_sql} "
            "GROUP BY h.member_id",
            [date_from, date_to, *team_params],
        )
    )
    rows = [(m, int(p), int(n), int(minutes.get(m) or 0)) for m, p, n in totals]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def leaders_from_rollup(date_from=WIDE[0], date_to=WIDE[1], team_id=None) -> list[tuple]:
    board = points.leaderboard(
        viewer=Viewer(user_id=None, staff=True, manager=False),
        period=points.Period(start=date_from, end=date_to),
        team_id=team_id,
        limit=1000,
    )
    return [(r.member_id, r.points, r.participations, r.service_minutes) for r in board]


def snapshot() -> dict:
    """Both rollups, every column, keyed by their unique keys."""
    teams = {
        (r.period, r.town_key, r.kind_key, r.starts_on, r.team_key): tuple(
            getattr(r, c) for c in rollups.TEAM_SUMS
        )
        for r in TeamStat.objects.all()
    }
    members = {
        (r.period, r.town_key, r.kind_key, r.starts_on, r.member_id, r.team_key): tuple(
            getattr(r, c) for c in rollups.MEMBER_SUMS
        )
        for r in MemberStat.objects.all()
    }
    return {"teams": teams, "members": members}


def assert_exact(towns, kinds, teams) -> None:
    for by in ("team", "member"):
        assert from_rollup(by) == from_rows(by), by
        for town in towns:
            assert from_rollup(by, town_id=town.pk) == from_rows(by, town_id=town.pk), by
        for kind in kinds:
            assert from_rollup(by, kind=kind) == from_rows(by, kind=kind), by
    assert leaders_from_rollup() == leaders_from_rows()
    for team in teams:
        assert leaders_from_rollup(team_id=team.pk) == leaders_from_rows(team_id=team.pk)


# ---------------------------------------------------------------- the world


class District:
    """Two towns with a station each, two 三暖 kinds, two teams and members without one."""

    def __init__(self) -> None:
        ensure_rules()
        self.towns = [TownFactory(), TownFactory()]
        self.stations = [StationFactory(town=town) for town in self.towns]
        self.campaigns = [CampaignFactory(kind=k) for k in ("warm_village", "warm_enterprise")]
        self.teams = [TeamFactory(), TeamFactory()]
        self.members = [MemberFactory(team=self.teams[i % 2]) for i in range(4)]
        self.members += [MemberFactory(team=None) for _ in range(2)]
        self.staff = [UserFactory(is_staff=True) for _ in range(8)]
        self.intake_codes = {
            s.pk: code_for(actor=self.staff[0], station=s, village=None) for s in self.stations
        }

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.campaigns]

    def submitted(self, rng: random.Random, *, people: int | None = None) -> ServiceRecord:
        station = rng.choice(self.stations)
        members = rng.sample(self.members, rng.randint(1, 4))
        service_request = under_way(
            station=station, campaign=rng.choice(self.campaigns), slots=len(members)
        )
        claims = [checked_in(service_request, member) for member in members]
        return submit_record(
            user=claims[0].member.user,
            request_id=service_request.pk,
            people_served=rng.randint(0, 23) if people is None else people,
            enterprises_served=rng.randint(0, 5),
            households_visited=rng.randint(0, 7),
            summary="入户走访，宣传政策",
            participants=[c.pk for c in claims],
        )

    def rate(self, record: ServiceRecord, score: int, n: int) -> IntakeRating:
        intake = submit_intake(
            code=self.intake_codes[record.station_id], description=f"第 {n} 件：门前道路积水"
        )
        Intake.objects.filter(pk=intake.pk).update(request_id=record.request_id)
        return ratings.rate(intake_id=intake.pk, score=score)


def verify(district: District, record: ServiceRecord, rng: random.Random, staff=None) -> None:
    corrections = []
    for claim in record.participants.all():
        if rng.random() < 0.4:
            corrections.append(
                hours.Correction(claim=claim.pk, minutes=rng.randint(10, 170), reason="按实际")
            )
    verify_record(
        actor=staff or rng.choice(district.staff),
        record_id=record.pk,
        approved=True,
        note="已核查",
        hours_given=corrections,
    )


# ---------------------------------------------------------------- tests


def test_shares_are_whole_and_add_up():
    assert rollups.shares(7, 3) == [3, 2, 2]
    assert rollups.shares(2, 4) == [1, 1, 0, 0]
    assert rollups.shares(0, 2) == [0, 0]
    for total in range(30):
        for n in range(1, 7):
            parts = rollups.shares(total, n)
            assert sum(parts) == total and max(parts) - min(parts) <= 1


@pytest.mark.django_db
def test_verify_correct_rate_revoke_keep_the_figures_exact():
    rng = random.Random(22)
    district = District()
    pending = [district.submitted(rng) for _ in range(16)]
    verified: list[ServiceRecord] = []
    rated = 0
    while pending or rated < 6:
        roll = rng.random()
        if verified and roll < 0.2:
            record = verified.pop(rng.randrange(len(verified)))
            revoke_record(actor=district.staff[0], record_id=record.pk, reason="抽查不实")
        elif verified and (roll < 0.5 or not pending):
            rating = district.rate(rng.choice(verified), rng.randint(1, 5), rated)
            rated += 1
            if rng.random() < 0.5:  # the resident changes their mind
                intake = rating.intake
                ratings.rate(intake_id=intake.pk, score=rng.randint(1, 5), change=True)
        elif pending:
            record = pending.pop(rng.randrange(len(pending)))
            if rng.random() < 0.15:
                verify_record(
                    actor=district.staff[1], record_id=record.pk, approved=False, note="退回"
                )
                continue
            verify(district, record, rng)
            verified.append(record)
        assert_exact(district.towns, district.kinds, district.teams)
    assert IntakeRating.objects.exists() and PointEntry.objects.filter(award=False).exists()
    assert ServiceHours.objects.filter(source=ServiceHours.Source.CORRECTED).exists()
    # The groups add up to the records' totals: shares, not one count per group.
    people = sum(r.people_served for r in ServiceRecord.objects.filter(status=VERIFIED))
    assert sum(v[1] for v in from_rollup("team").values()) == people
    assert sum(v[1] for v in from_rollup("member").values()) == people

    kept = snapshot()
    rebuilt = rollups.rebuild()
    assert snapshot() == kept
    assert (rebuilt.team_stats, rebuilt.member_stats) == (
        len(kept["teams"]),
        len(kept["members"]),
    )


@pytest.mark.django_db
def test_a_period_reads_its_days_months_and_years():
    rng = random.Random(5)
    district = District()
    for _ in range(5):
        verify(district, district.submitted(rng), rng)
    day = ServiceRecord.objects.filter(status=VERIFIED).values_list("service_date", flat=True)[0]
    for date_from, date_to in (
        (day, day),
        (day.replace(day=1), day),
        (day.replace(month=1, day=1), day),
    ):
        for by in ("team", "member"):
            assert from_rollup(by, date_from, date_to) == from_rows(by, date_from, date_to)
        assert leaders_from_rollup(date_from, date_to) == leaders_from_rows(date_from, date_to)
    before = date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)
    assert from_rollup("team", *before) == {} == from_rows("team", *before)


@pytest.mark.django_db
def test_a_revoked_record_leaves_no_rows_and_a_drifted_rollup_is_rebuilt():
    rng = random.Random(9)
    district = District()
    record = district.submitted(rng, people=9)
    verify(district, record, rng)
    district.rate(ServiceRecord.objects.get(pk=record.pk), 5, 0)
    assert TeamStat.objects.filter(ratings=1).exists()
    good = snapshot()
    MemberStat.objects.update(points=999)
    TeamStat.objects.update(people_served=999)
    rollups.rebuild()
    assert snapshot() == good

    revoke_record(actor=district.staff[0], record_id=record.pk, reason="重复登记")
    assert not TeamStat.objects.exists() and not MemberStat.objects.exists()
    assert from_rollup("team") == {} and leaders_from_rollup() == []


@pytest.mark.django_db
def test_a_rating_of_a_revoked_record_is_refused_and_counts_nothing():
    rng = random.Random(3)
    district = District()
    record = district.submitted(rng)
    verify(district, record, rng)
    revoke_record(actor=district.staff[0], record_id=record.pk, reason="重复登记")
    from services.intake import errors as intake_errors

    with pytest.raises(intake_errors.RatingNotYet):
        district.rate(ServiceRecord.objects.get(pk=record.pk), 4, 0)
    assert not TeamStat.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_and_ratings_keep_the_rollups_exact():
    rng = random.Random(41)
    district = District()
    first = [district.submitted(rng) for _ in range(4)]
    for record in first:
        verify(district, record, rng, staff=district.staff[0])
    second = [district.submitted(rng) for _ in range(8)]
    intakes = []
    for n, record in enumerate(first * 2):
        intake = submit_intake(
            code=district.intake_codes[record.station_id], description=f"第 {n} 件：路灯不亮"
        )
        Intake.objects.filter(pk=intake.pk).update(request_id=record.request_id)
        intakes.append(intake)
    calls = [
        (
            lambda record=record, staff=staff, seed=i: verify(
                district, record, random.Random(seed), staff=staff
            )
        )
        for i, (record, staff) in enumerate(zip(second, district.staff, strict=True))
    ]
    calls += [
        (lambda intake=intake, score=1 + i % 5: ratings.rate(intake_id=intake.pk, score=score))
        for i, intake in enumerate(intakes)
    ]
    # And one revocation racing the ratings of its record.
    calls.append(
        lambda: revoke_record(actor=district.staff[0], record_id=first[0].pk, reason="抽查不实")
    )

    results = run_together(calls, workers=len(calls))

    failures = [r for r in results if isinstance(r, Exception)]
    assert all(type(r).__name__ == "RatingNotYet" for r in failures), [str(r) for r in failures]
    assert ServiceRecord.objects.filter(status=VERIFIED).count() == 11
    assert_exact(district.towns, district.kinds, district.teams)
    kept = snapshot()
    rollups.rebuild()
    assert snapshot() == kept
