"""Statistics benchmark: services.stats.selectors over 1M verified records, against raw SQL.

    .venv/bin/python bench/stats.py                                   # SQLite, 100k records
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/stats.py                               # PostgreSQL, 1M records
    .venv/bin/python bench/stats.py --records 20000 --repeat 3         # any size

A fresh database (bench/harness.py) gets 13 towns, 50 stations, 50 teams, 2,000 members and
``--records`` verified service records spread over 2025 — each with its request (plus 10% more
requests cancelled, expired or open), one to three participating claims (two on average) and
the participants rows — written with INSERT ... SELECT in the database itself. Then each figure
is timed two ways in the same run, interleaved: the function the API calls (the summary, each
breakdown) and a single hand-written SQL statement computing the same figures. Both answers are
compared before any timing is printed. The statistics read the rollups (the daily sums, the
request counts and the two duration histograms, filled here by ``rollups.rebuild()`` since the
rows bypass the workflow; it also stamps each row's duration) while the raw SQL still aggregates
the requests and records themselves, medians by ``percentile_cont``: it stays the ground truth of
each figure, and the ratio printed is rollup path / raw SQL over the rows. The summary's parts are
timed apart too. Direct function calls, no HTTP: the question here is whether the stats queries
beat hand-written ones, not the web stack.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

TOWNS, STATIONS, TEAMS, MEMBERS = 13, 50, 50, 2000
PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
KINDS = ["warm_enterprise", "warm_village", "warm_heart"]
SUMMARY_TARGET_MS = 100.0
# Every figure, the team and member breakdowns included, reads a rollup within this.
FIGURE_TARGET_MS = 100.0
LEADERS = 100
RATIO_TARGET = 1.5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data, written by the database


class Dialect:
    """The few SQL spellings that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"

    def series(self, n: int) -> tuple[str, str]:
        """(WITH prefix, FROM source) of the integers 1..n as column ``i``."""
        if self.pg:
            return "", f"generate_series(1::bigint, {n}) AS g(i)"
        return (
            f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) ",
            "g",
        )

    def ts(self, days: str, hours: str = "0") -> str:
        """A UTC timestamp ``days`` and ``hours`` after 2024-12-01 01:00 UTC (09:00 Shanghai)."""
        if self.pg:
            return (
                "(TIMESTAMPTZ '2024-12-01 01:00:00+00' + "
                f"make_interval(days => ({days})::int, hours => ({hours})::int))"
            )
        return (
            f"datetime('2024-12-01 01:00:00', '+' || ({days}) || ' days', "
            f"'+' || ({hours}) || ' hours')"
        )

    def day(self, days: str) -> str:
        """The Shanghai calendar day ``days`` after 2024-12-01."""
        if self.pg:
            return f"(DATE '2024-12-01' + ({days})::int)"
        return f"date('2024-12-01', '+' || ({days}) || ' days')"

    def literal(self, value) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return ("TRUE" if value else "FALSE") if self.pg else str(int(value))
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list | dict):
            return "'[]'" if value == [] else "'{}'"
        return "'" + str(value).replace("'", "''") + "'"


def insert_select(cursor, dialect: Dialect, model, exprs: dict[str, str], n: int, where="") -> None:
    """INSERT every concrete column of ``model``: ``exprs`` by field name (over ``g.i``), the
    rest NULL or their default, for i in 1..n (``where`` may narrow, e.g. a cross join)."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.generated:
            continue  # the database computes it (ServiceRequest.grid)
        if field.name in exprs:
            value = exprs[field.name]
        elif field.null:
            value = "NULL"
        elif field.has_default():
            value = dialect.literal(field.get_default())
        elif field.blank and field.get_internal_type() in ("CharField", "TextField"):
            value = "''"
        else:
            raise RuntimeError(f"bench: no value for {model.__name__}.{field.name}")
        columns.append(f'"{field.column}"')
        values.append(value)
    prefix, source = dialect.series(n)
    cursor.execute(
        f'{prefix}INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) '
        f"SELECT {', '.join(values)} FROM {source} {where}"
    )


def build(records: int) -> None:
    """The benchmark's data: dimensions through the ORM, the big tables in SQL.

    Long on purpose: one linear script that writes the benchmark's rows in bulk, step by step."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import User
    from members.models import Member, Team
    from services.models import (
        Campaign,
        Claim,
        PointEntry,
        PointRule,
        ServiceHours,
        ServiceRecord,
        ServiceRequest,
    )
    from stations.models import Station, Town

    d = Dialect(connection.vendor)
    started = time.perf_counter()
    towns = Town.objects.bulk_create(
        Town(name=f"测试{i}镇", lat=30.0 + i / 100, lng=122.0 + i / 100) for i in range(TOWNS)
    )
    Station.objects.bulk_create(
        Station(
            name=f"测试驿站{i}",
            kind=Station.Kind.CONSULTATION,
            town=towns[i % TOWNS],
            lat=30.0,
            lng=122.0,
        )
        for i in range(STATIONS)
    )
    Team.objects.bulk_create(Team(name=f"测试团队{i}") for i in range(TEAMS))
    password = make_password("bench-password")
    User.objects.bulk_create(
        User(username=f"member{i}", password=password, is_member=True) for i in range(MEMBERS)
    )
    User.objects.create_user("staff", password="bench-password", is_staff=True)  # noqa: S106
    users = list(User.objects.filter(is_member=True).order_by("id").values_list("id", flat=True))
    Member.objects.bulk_create(
        Member(user_id=user_id, name=f"委员{i}", team_id=i % TEAMS + 1)
        for i, user_id in enumerate(users)
    )
    for year in (2024, 2025):
        for kind in KINDS:
            Campaign.objects.create(
                kind=kind,
                name=f"{year} {kind}",
                starts_on=date(year, 1, 1),
                ends_on=date(year, 12, 31),
                target_served=100_000,
            )
    # Ids are 1..n in a fresh database: towns, stations, teams, members, campaigns (2024
    # kinds first, then 2025's: 4, 5, 6).
    extra = records // 10
    total = records + extra
    station = f"((i * 7919) % {STATIONS} + 1)"
    kind = "(i % 3)"
    day = "(31 + (i * 104729) % 365)"  # days after 2024-12-01: a day of 2025
    with connection.cursor() as cursor:
        verified = f"i <= {records}"
        insert_select(
            cursor,
            d,
            ServiceRequest,
            {
                "id": "i",
                "station": station,
                "campaign": f"(4 + {kind})",
                "title": "'bench'",
                "description": "''",
                "lat": "30.0",
                "lng": "122.0",
                "address": "''",
                "starts_at": d.ts(day),
                "ends_at": d.ts(day, "3"),
                "slots": "5",
                "claimed": f"CASE WHEN {verified} THEN 1 + i % 3 ELSE 0 END",
                "status": f"CASE WHEN {verified} THEN 'verified' WHEN i % 3 = 0 THEN 'cancelled' "
                "WHEN i % 3 = 1 THEN 'expired' ELSE 'open' END",
                "contact_name": "''",
                "contact_phone": "''",
                "created_at": d.ts(f"{day} - 1 - i % 14"),
                "updated_at": d.ts(day),
                "first_claimed_at": f"CASE WHEN {verified} THEN "
                f"{d.ts(f'{day} - 1 - i % 14', '1 + (i * 31) % 72')} END",
                "cancel_reason": "''",
            },
            total,
        )
        log(f"  requests: {total:,} ({time.perf_counter() - started:.0f} s)")
        claim_source = (
            "CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) h "
            f"WHERE h.k <= 1 + i % 3 AND i <= {records}"
        )
        member = f"((i * 13 + h.k * 977) % {MEMBERS} + 1)"
        # Each participant's minutes: 30 to 179, checked in at the start, out that long after.
        minutes = "(30 + (i * 7 + h.k * 11) % 150)"
        insert_select(
            cursor,
            d,
            Claim,
            {
                "id": "(i - 1) * 3 + h.k",
                "request": "i",
                "member": member,
                "team": f"(({member} - 1) % {TEAMS} + 1)",
                "status": "'done'",
                "created_at": d.ts(f"{day} - 1", "h.k"),
                "claimed_at": d.ts(f"{day} - 1", "h.k"),
                "check_in_by": d.ts(day),
                "checked_in_at": d.ts(day),
                "checked_out_at": d.ts(day, f"{minutes} / 60"),
                "duration_minutes": minutes,
                "cancel_reason": "''",
                "reject_reason": "''",
                "updated_at": d.ts(day),
            },
            records,
            claim_source,
        )
        log(f"  claims ({time.perf_counter() - started:.0f} s)")
        insert_select(
            cursor,
            d,
            ServiceRecord,
            {
                "id": "i",
                "request": "i",
                "version": "1",
                "people_served": "5 + (i * 37) % 40",
                "enterprises_served": f"CASE WHEN {kind} = 0 THEN i % 5 ELSE 0 END",
                "households_visited": "i % 9",
                "summary": "''",
                "participants_count": "1 + i % 3",
                "status": "'verified'",
                "submitted_at": d.ts(day, "20"),
                "verified_at": d.ts(day, "21 + (i * 17) % 96"),
                "station": station,
                "town": f"(({station} - 1) % {TOWNS} + 1)",
                "campaign": f"(4 + {kind})",
                "campaign_kind": f"CASE {kind} WHEN 0 THEN 'warm_enterprise' "
                "WHEN 1 THEN 'warm_village' ELSE 'warm_heart' END",
                "service_date": d.day(day),
            },
            records,
        )
        log(f"  records ({time.perf_counter() - started:.0f} s)")
        through = ServiceRecord.participants.through
        insert_select(
            cursor,
            d,
            through,
            {"id": "(i - 1) * 3 + h.k", "servicerecord": "i", "claim": "(i - 1) * 3 + h.k"},
            records,
            claim_source,
        )
        log(f"  participants ({time.perf_counter() - started:.0f} s)")
        # One counted hours entry per participant, as verification writes it, with the
        # record's denormalised columns; then each record's service_minutes is their sum.
        insert_select(
            cursor,
            d,
            ServiceHours,
            {
                "id": "(i - 1) * 3 + h.k",
                "record": "i",
                "claim": "(i - 1) * 3 + h.k",
                "member": member,
                "team": f"(({member} - 1) % {TEAMS} + 1)",
                "minutes": minutes,
                "source": "'recorded'",
                "created_at": d.ts(day, "21"),
                "current": d.literal(True),
                "counted": d.literal(True),
                "service_date": d.day(day),
                "station": station,
                "town": f"(({station} - 1) % {TOWNS} + 1)",
                "campaign_kind": f"CASE {kind} WHEN 0 THEN 'warm_enterprise' "
                "WHEN 1 THEN 'warm_village' ELSE 'warm_heart' END",
            },
            records,
            claim_source,
        )
        cursor.execute(
            "UPDATE services_servicerecord SET service_minutes = (SELECT SUM(h.minutes) "
            "FROM services_servicehours h WHERE h.record_id = services_servicerecord.id)"
        )
        log(f"  hours ({time.perf_counter() - started:.0f} s)")
        # The participation award of each participant, as verification writes it; every
        # 50th record's awards reversed as well (lines netting to nothing, as a revocation's).
        rule = PointRule.objects.get(kind=PointRule.Kind.PARTICIPATION)
        for award in (True, False):
            insert_select(
                cursor,
                d,
                PointEntry,
                {
                    "id": f"{0 if award else 3 * records} + (i - 1) * 3 + h.k",
                    "member": member,
                    "points": str(rule.points if award else -rule.points),
                    "rule": str(rule.pk),
                    "reason": "'bench'",
                    "record": "i",
                    "award": d.literal(award),
                    "created_at": d.ts(day, "21"),
                    "service_date": d.day(day),
                    "team": f"(({member} - 1) % {TEAMS} + 1)",
                },
                records,
                claim_source if award else claim_source + " AND i % 50 = 0",
            )
        log(f"  points ({time.perf_counter() - started:.0f} s)")
        if d.pg:
            for model in (ServiceRequest, Claim, ServiceRecord, through, ServiceHours, PointEntry):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT MAX(id) FROM "{table}"))'
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if d.pg else "ANALYZE")
    log(f"  built in {time.perf_counter() - started:.0f} s")


# ---------------------------------------------------------------- the hand-written SQL


def raw_queries(vendor: str) -> dict[str, str]:
    """One SQL statement per figure set, as a person would write it for this schema.

    Long on purpose: the hand-written baseline, one SQL statement per figure, side by side."""
    pg = vendor == "postgresql"
    r = "services_servicerecord"
    where = "status = 'verified' AND service_date BETWEEN %s AND %s"

    def kind_sums(kind: str) -> str:
        f = f"FILTER (WHERE kind = '{kind}')"
        return ", ".join(
            f"COALESCE(SUM({column}) {f}, 0)" for column in ("n", "people", "ent", "hh", "part")
        )

    if pg:
        median_claim = (
            "SELECT percentile_cont(0.5) WITHIN GROUP "
            "(ORDER BY date_part('epoch', first_claimed_at - created_at)) "
            "FROM services_servicerequest WHERE starts_at >= %s AND starts_at < %s "
            "AND first_claimed_at IS NOT NULL AND created_at IS NOT NULL"
        )
        median_verify = (
            "SELECT percentile_cont(0.5) WITHIN GROUP "
            "(ORDER BY date_part('epoch', verified_at - submitted_at)) "
            f"FROM {r} WHERE {where} AND verified_at IS NOT NULL AND submitted_at IS NOT NULL"
        )
    else:

        def middle(table: str, value: str, cond: str) -> str:
            n = f"(SELECT COUNT(*) FROM {table} WHERE {cond})"
            return (
                f"SELECT AVG(v) FROM (SELECT {value} AS v FROM {table} WHERE {cond} ORDER BY v "
                f"LIMIT 2 - {n} % 2 OFFSET ({n} - 1) / 2)"
            )

        claim_cond = (
            "starts_at >= %s AND starts_at < %s AND first_claimed_at IS NOT NULL "
            "AND created_at IS NOT NULL"
        )
        verify_cond = f"{where} AND verified_at IS NOT NULL AND submitted_at IS NOT NULL"
        median_claim = middle(
            "services_servicerequest",
            "(julianday(first_claimed_at) - julianday(created_at)) * 86400",
            claim_cond,
        )
        median_verify = middle(
            r, "(julianday(verified_at) - julianday(submitted_at)) * 86400", verify_cond
        )

    # Records once, grouped by campaign (c); totals, kinds and campaign progress read c.
    summary = f"""
WITH c AS (SELECT campaign_id, campaign_kind AS kind, COUNT(*) AS n, SUM(people_served) AS people,
                  SUM(enterprises_served) AS ent, SUM(households_visited) AS hh,
                  SUM(participants_count) AS part, SUM(service_minutes) AS mins
             FROM {r} WHERE {where} GROUP BY campaign_id, campaign_kind)
SELECT t.*, a.active, q.*, ({median_claim}) AS median_claim, ({median_verify}) AS median_verify,
       (SELECT {"string_agg" if pg else "group_concat"}(cp.id || ':' || COALESCE(c.people, 0), ',')
          FROM services_campaign cp LEFT JOIN c ON c.campaign_id = cp.id
         WHERE cp.starts_on <= %s AND cp.ends_on >= %s) AS campaigns
  FROM (SELECT COALESCE(SUM(n), 0), COALESCE(SUM(people), 0), COALESCE(SUM(ent), 0),
               COALESCE(SUM(hh), 0), COALESCE(SUM(part), 0),
               {", ".join(kind_sums(k) for k in KINDS)}, COALESCE(SUM(mins), 0)
          FROM c) t,
       (SELECT COUNT(*) AS active FROM members_member m
         WHERE EXISTS (SELECT 1 FROM services_claim cl
                         JOIN services_servicerecord_participants p ON p.claim_id = cl.id
                         JOIN {r} rr ON rr.id = p.servicerecord_id
                        WHERE cl.member_id = m.id AND rr.status = 'verified'
                          AND rr.service_date BETWEEN %s AND %s)) a,
       (SELECT COUNT(*) AS posted,
               COUNT(*) FILTER (WHERE q.status IN ('completed', 'verified')) AS completed,
               COUNT(*) FILTER (WHERE q.status = 'verified'),
               COUNT(*) FILTER (WHERE q.status = 'cancelled'),
               COUNT(*) FILTER (WHERE q.status = 'expired')
          FROM services_servicerequest q
         WHERE q.starts_at >= %s AND q.starts_at < %s) q
"""
    group = (
        "SELECT {key}, COUNT(*), SUM(people_served) AS people, SUM(enterprises_served), "
        f"SUM(households_visited), SUM(participants_count), SUM(service_minutes) "
        f"FROM {r} {{join}} "
        f"WHERE {r}.{where.replace('service_date', f'{r}.service_date')} "
        "GROUP BY {group} ORDER BY people DESC, 1"
    )
    month = "date_trunc('month', service_date)::date" if pg else "strftime('%%Y-%%m', service_date)"
    return {
        "summary": summary,
        "town": group.format(
            key="town_id, t.name",
            join=f"JOIN stations_town t ON t.id = {r}.town_id",
            group="town_id, t.name",
        ),
        "station": group.format(
            key="station_id, s.name",
            join=f"JOIN stations_station s ON s.id = {r}.station_id",
            group="station_id, s.name",
        ),
        "campaign_kind": group.format(key="campaign_kind", join="", group="campaign_kind"),
        "month": group.format(key=f"{month} AS m", join="", group="m").replace(
            "ORDER BY people DESC, 1", "ORDER BY 1"
        ),
        # Each participant's share of a record's counts, in whole numbers: claim order,
        # remainder to the first (what the team and member figures promise), over the rows.
        "team": f"""
WITH s AS (SELECT h.record_id, h.team_id, h.minutes, r.people_served AS p,
                  r.enterprises_served AS e, r.households_visited AS hh,
                  ROW_NUMBER() OVER (PARTITION BY h.record_id ORDER BY h.claim_id, h.id) AS pos,
                  COUNT(*) OVER (PARTITION BY h.record_id) AS n
             FROM services_servicehours h JOIN {r} r ON r.id = h.record_id
            WHERE h.counted AND r.status = 'verified' AND r.service_date BETWEEN %s AND %s)
SELECT s.team_id, tm.name, COUNT(DISTINCT s.record_id),
       SUM(p / n + CASE WHEN pos <= p %% n THEN 1 ELSE 0 END),
       SUM(e / n + CASE WHEN pos <= e %% n THEN 1 ELSE 0 END),
       SUM(hh / n + CASE WHEN pos <= hh %% n THEN 1 ELSE 0 END), COUNT(*), SUM(s.minutes)
  FROM s LEFT JOIN members_team tm ON tm.id = s.team_id
 GROUP BY s.team_id, tm.name ORDER BY 7 DESC, 8 DESC, 1
""",
        "member": f"""
WITH s AS (SELECT h.record_id, h.member_id, h.minutes, r.people_served AS p,
                  r.enterprises_served AS e, r.households_visited AS hh,
                  ROW_NUMBER() OVER (PARTITION BY h.record_id ORDER BY h.claim_id, h.id) AS pos,
                  COUNT(*) OVER (PARTITION BY h.record_id) AS n
             FROM services_servicehours h JOIN {r} r ON r.id = h.record_id
            WHERE h.counted AND r.status = 'verified' AND r.service_date BETWEEN %s AND %s)
SELECT s.member_id, m.name, COUNT(DISTINCT s.record_id),
       SUM(p / n + CASE WHEN pos <= p %% n THEN 1 ELSE 0 END),
       SUM(e / n + CASE WHEN pos <= e %% n THEN 1 ELSE 0 END),
       SUM(hh / n + CASE WHEN pos <= hh %% n THEN 1 ELSE 0 END), COUNT(*), SUM(s.minutes)
  FROM s JOIN members_member m ON m.id = s.member_id
 GROUP BY s.member_id, m.name ORDER BY 7 DESC, 8 DESC, 1
""",
        # The leaderboard's top 100 over the ledger and the counted hours.
        "leaderboard": f"""
SELECT p.member_id, SUM(p.points),
       SUM(CASE WHEN k.kind = 'participation' THEN (CASE WHEN p.award THEN 1 ELSE -1 END)
           ELSE 0 END),
       COALESCE((SELECT SUM(h.minutes) FROM services_servicehours h
                  WHERE h.counted AND h.member_id = p.member_id
                    AND h.service_date BETWEEN %s AND %s), 0)
  FROM services_pointentry p JOIN services_pointrule k ON k.id = p.rule_id
 WHERE p.service_date BETWEEN %s AND %s
 GROUP BY p.member_id HAVING SUM(p.points) > 0 ORDER BY 2 DESC, 1 LIMIT {LEADERS}
""",
    }


def raw_params(name: str, filters) -> list:
    """The parameters of ``raw_queries()[name]``, in the order the placeholders appear."""
    from django.db import connection

    period = [filters.date_from, filters.date_to]
    if name == "leaderboard":
        return period * 2
    if name != "summary":
        return period
    adapt = connection.ops.adapt_datetimefield_value  # SQLite keeps UTC text
    times = [adapt(filters.starts), adapt(filters.ends)]
    if connection.vendor == "postgresql":
        claim, verify = times, period
    else:
        # middle(): the condition appears three times (the two counts and the rows).
        claim, verify = times * 3, period * 3
    return [*period, *claim, *verify, filters.date_to, filters.date_from, *period, *times]


# ---------------------------------------------------------------- timing


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median milliseconds of ``repeat`` calls (after one warm-up) and the last result."""
    result = fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), result


def main() -> None:
    # Long on purpose: the run's steps and its printed table, in the order they happen.
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=None, help="verified records")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per figure")
    parser.add_argument("--reuse", action="store_true", help="keep the database of a last run")
    parser.add_argument(
        "--keep-rollups", action="store_true", help="with --reuse: do not rebuild the rollups"
    )
    args = parser.parse_args()

    import os

    postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    records = args.records or (1_000_000 if postgres else 100_000)
    name = f"stats_{records}"
    url = _existing_url(name) if args.reuse else harness.bench_database_url(name)
    log(f"database: {url.split('@')[-1]}  records: {records:,}")
    harness.setup_django(url)

    from django.db import connection

    from accounts.models import User
    from services.stats import selectors as stats

    if not args.reuse:
        build(records)
    # The rows were written in SQL, not through the workflow: stamp their durations and fill
    # the rollups the way ``manage.py rebuild_stats`` does (and time it: a full recomputation).
    from services import rollups
    from services.models import (
        ActiveMemberStat,
        ClaimTimeStat,
        DailyServiceStat,
        MemberStat,
        RequestStat,
        ServiceRecord,
        ServiceRequest,
        TeamStat,
        VerifyTimeStat,
    )

    started = time.perf_counter()
    if args.reuse and args.keep_rollups:
        rebuilt = rollups.Rebuilt(*[0] * len(rollups.Rebuilt.__dataclass_fields__))
    else:
        rebuilt = rollups.rebuild()
    took = time.perf_counter() - started
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What autovacuum would do after a bulk write: visibility map and statistics.
            rollup_models = (
                DailyServiceStat,
                RequestStat,
                ClaimTimeStat,
                VerifyTimeStat,
                ActiveMemberStat,
                TeamStat,
                MemberStat,
            )
            for model in rollup_models + (
                (ServiceRequest, ServiceRecord) if rebuilt.stamped else ()
            ):
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        else:
            cursor.execute("ANALYZE")
    log(
        f"  rollups rebuilt in {took:.1f} s: daily {rebuilt.daily:,} rows, requests "
        f"{rebuilt.requests:,}, time to claim {rebuilt.claim_times:,}, time to verify "
        f"{rebuilt.verify_times:,}, active members {rebuilt.active_members:,}, teams "
        f"{rebuilt.team_stats:,}, members {rebuilt.member_stats:,}; durations "
        f"stamped on {rebuilt.stamped:,} rows"
    )
    staff = User.objects.get(username="staff")
    filters = stats.resolve_filters(user=staff, date_from=PERIOD[0], date_to=PERIOD[1])
    queries = raw_queries(connection.vendor)

    # One month of the year: what the default views of a busy district look like.
    march = stats.resolve_filters(user=staff, date_from=date(2025, 3, 1), date_to=date(2025, 3, 31))

    def raw(name: str, f=filters):
        def run():
            with connection.cursor() as cursor:
                cursor.execute(queries[name], raw_params(name, f))
                return cursor.fetchall()

        return run

    checks = _check(filters, {n: raw(n)() for n in queries})
    _check_summary(march, raw("summary", march)()[0])
    rows = []
    for figure in ["summary", *stats.BREAKDOWNS, "leaderboard", "summary, 1 month"]:
        if figure == "leaderboard":
            orm = lambda: _leaderboard(filters)  # noqa: E731
            baseline = raw(figure)
        elif figure.startswith("summary"):
            f = march if figure.endswith("month") else filters
            orm = lambda f=f: stats.stats_summary(filters=f)  # noqa: E731
            baseline = raw("summary", f)
        else:
            orm = lambda by=figure: stats.stats_breakdown(filters=filters, by=by)  # noqa: E731
            baseline = raw(figure)
        # Interleave: raw, function, raw, function ... so drift hits both alike.
        raw_ms, orm_ms = [], []
        for _ in range(args.repeat):
            raw_ms.append(timed(baseline, 1)[0])
            orm_ms.append(timed(orm, 1)[0])
        rows.append((figure, statistics.median(orm_ms), statistics.median(raw_ms)))

    print(
        f"\nservices.stats vs hand-written SQL — {connection.vendor}, {records:,} verified records"
    )
    print(f"(median of {args.repeat} interleaved calls each; period {PERIOD[0]}..{PERIOD[1]})")
    print("(stats.py reads the rollups; raw SQL aggregates the rows themselves: the ground truth)")
    print(f"{'figure':<18}{'stats.py ms':>13}{'raw SQL ms':>12}{'ratio':>8}")
    for figure, orm_ms, raw_ms in rows:
        print(f"{figure:<18}{orm_ms:>13.1f}{raw_ms:>12.1f}{orm_ms / raw_ms:>8.2f}")
    worst = max(orm / raw for _, orm, raw in rows)
    slowest = max(rows, key=lambda row: row[1])
    summary_ms = rows[0][1]
    print(f"\nsummary parts, ms (median of {args.repeat}; whole year)")
    for part, fn in summary_parts(filters).items():
        print(f"  {part:<22}{timed(fn, args.repeat)[0]:>8.1f}")
    print(f"\nchecks: {checks}")
    print(
        f"worst ratio {worst:.2f} (target ≤ {RATIO_TARGET}); summary {summary_ms:.0f} ms "
        f"(target ≤ {SUMMARY_TARGET_MS:.0f} ms at 1M on PostgreSQL); slowest figure "
        f"{slowest[0]} {slowest[1]:.0f} ms (target: every figure ≤ {FIGURE_TARGET_MS:.0f} ms)"
    )


def summary_parts(f) -> dict[str, Callable[[], object]]:
    """The summary's queries one by one (what ``stats_summary`` runs, in its order)."""
    from services.stats import selectors as stats

    return {
        "daily rollup": lambda: list(
            stats.daily(f).values("campaign_id", "campaign_kind").annotate(**stats._served())
        ),
        "active members": lambda: stats._active_members(f),
        "request counts": lambda: stats._request_counts(f),
        "median time to claim": lambda: stats._median_hours(stats._claim_times(f), f),
        "median time to verify": lambda: stats._median_hours(stats._verify_times(f), f),
    }


def _check_summary(filters, row) -> object:
    """The summary equals the raw SQL's row: sums, active members, request counts, medians."""
    from services.stats import selectors as stats

    summary = stats.stats_summary(filters=filters)
    assert row[0] == summary.records_verified, (row[0], summary.records_verified)
    assert row[1] == summary.people_served
    assert row[4] == summary.participations
    assert row[5 + 5 * len(KINDS)] == summary.service_minutes, (row, summary.service_minutes)
    at = 6 + 5 * len(KINDS)
    assert row[at] == summary.active_members, (row[at], summary.active_members)
    counts = (
        summary.requests_posted,
        summary.requests_completed,
        summary.requests_verified,
        summary.requests_cancelled,
        summary.requests_expired,
    )
    assert tuple(row[at + 1 : at + 6]) == counts, (row[at + 1 : at + 6], counts)
    medians = tuple(None if v is None else round(v / 3600, 2) for v in row[at + 6 : at + 8])
    ours = (summary.median_hours_to_claim, summary.median_hours_to_verify)
    assert medians == ours, (medians, ours)
    return summary


def _check(filters, raw_results: dict) -> str:
    """The function and the SQL agree on the figures (else the timing means nothing)."""
    from services.stats import selectors as stats

    summary = _check_summary(filters, raw_results["summary"][0])
    differences = 0
    for by in stats.BREAKDOWNS:
        ours = stats.stats_breakdown(filters=filters, by=by)
        theirs = raw_results[by]
        if by in (stats.BY_TEAM, stats.BY_MEMBER):
            # Every figure of every group, exactly: (records, people, enterprises, households,
            # participations, minutes) per team or member, the rollup against the rows.
            mine = {
                None if r["key"] == stats.NO_TEAM_KEY else int(r["key"]): (
                    r["records"],
                    r["people_served"],
                    r["enterprises_served"],
                    r["households_visited"],
                    r["participations"],
                    r["service_minutes"],
                )
                for r in ours
            }
            rows = {t[0]: tuple(int(v) for v in t[2:]) for t in theirs}
            differences += sum(mine.get(k) != v for k, v in rows.items())
            differences += len(set(mine) - set(rows))
            continue
        if by != stats.BY_MONTH:
            assert len(ours) == len(theirs), (by, len(ours), len(theirs))
        mine = [r["people_served"] for r in ours if r["people_served"] or by != "month"]
        assert mine == [int(t[-5]) for t in theirs], by
        assert sum(r["participations"] for r in ours) == sum(int(t[-2]) for t in theirs), by
        assert [r["service_minutes"] for r in ours if r["records"] or by != "month"] == [
            int(t[-1]) for t in theirs
        ], by
    leaders = [tuple(int(v) for v in row) for row in raw_results["leaderboard"]]
    differences += sum(a != b for a, b in zip(_leaderboard(filters), leaders, strict=False))
    differences += abs(len(_leaderboard(filters)) - len(leaders))
    assert differences == 0, f"{differences} team / member / leaderboard rows differ"
    return (
        f"same figures (people served {summary.people_served:,}, participations "
        f"{summary.participations:,}, verified minutes {summary.service_minutes:,}, "
        f"active members {summary.active_members:,}, requests "
        f"posted {summary.requests_posted:,}, medians {summary.median_hours_to_claim} h to claim "
        f"and {summary.median_hours_to_verify} h to verify; the March summary too; "
        f"team and member breakdowns and the top {LEADERS} of the leaderboard: "
        f"{differences} differences)"
    )


def _leaderboard(filters) -> list[tuple[int, int, int, int]]:
    """The leaderboard of the period as the API reads it: (member, points, participations,
    minutes) of the top ``LEADERS``."""
    from members.pii import Viewer
    from services.records import points

    board = points.leaderboard(
        viewer=Viewer(user_id=None, staff=True, manager=False),
        period=points.Period(start=filters.date_from, end=filters.date_to),
        limit=LEADERS,
    )
    return [(r.member_id, r.points, r.participations, r.service_minutes) for r in board]


def _existing_url(name: str) -> str:
    import os
    from urllib.parse import urlsplit, urlunsplit

    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        return urlunsplit(urlsplit(base)._replace(path=f"/bench_{name}"))
    return f"sqlite:///{harness.OUT / f'{name}.sqlite3'}"


if __name__ == "__main__":
    main()
