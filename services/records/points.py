"""Duty points (履职积分): which rules a verified participation earns, totals, the leaderboard,
and the /me/ section.

The ledger (``PointEntry``) is written only by ``services.records.writes`` (verify, revoke);
everything here reads. Periods are the records' service days (Asia/Shanghai calendar dates), so
an award and its reversal always fall in the same period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from members.models import Member
from members.pii import Viewer, shown_name
from services import rollups
from services.models import Campaign, Claim, MemberStat, PointEntry, PointRule, ServiceRequest
from services.records.hours import as_hours
from services.records.serializers import MePointsSectionSerializer, PointEntrySerializer

REASON_LENGTH = 100


def _short(text: str, limit: int = REASON_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- awards (pure)


@dataclass(frozen=True)
class Award:
    """One ledger line to write when a record is verified."""

    member_id: int
    team_id: int | None
    rule: PointRule
    points: int
    reason: str


def applies(rule: PointRule, *, claim: Claim, service_request: ServiceRequest) -> bool:
    """Whether ``rule`` rewards this participation (claim with team, request with village)."""
    if rule.kind == PointRule.Kind.PARTICIPATION:
        return True
    if rule.kind == PointRule.Kind.REMOTE_VILLAGE:
        village = service_request.village
        return bool(
            village is not None
            and village.remote
            and service_request.campaign.kind == Campaign.Kind.WARM_VILLAGE
        )
    if rule.kind == PointRule.Kind.TEAM_LEADER:
        # The team the member claimed with (Claim.team), led by this member's account.
        team = claim.team
        return (
            team is not None
            and team.leader_id is not None
            and team.leader_id == claim.member.user_id
        )
    return False


def awards_for(
    *, claims: Sequence[Claim], service_request: ServiceRequest, rules: Sequence[PointRule]
) -> list[Award]:
    """Every (participant, rule) award of a verified record; pure over loaded objects."""
    awards = []
    for claim in claims:
        for rule in rules:
            # A rule set to 0 in the admin is off in effect: no empty ledger lines.
            if rule.points <= 0 or not rule.active:
                continue
            if not applies(rule, claim=claim, service_request=service_request):
                continue
            awards.append(
                Award(
                    member_id=claim.member_id,
                    team_id=claim.team_id,
                    rule=rule,
                    points=rule.points,
                    reason=_short(f"{rule.name}：{service_request.title}"),
                )
            )
    return awards


def active_rules() -> list[PointRule]:
    """The rules in force, in table order."""
    return list(PointRule.objects.filter(active=True).order_by("id"))


# ---------------------------------------------------------------- totals and /me/


def member_total(member_id: int) -> int:
    """A member's net points over all time (awards minus reversals)."""
    total = PointEntry.objects.filter(member_id=member_id).aggregate(total=Sum("points"))["total"]
    return int(total or 0)


def recent_entries(member_id: int, *, limit: int) -> list[PointEntry]:
    """A member's latest ledger lines, newest first."""
    return list(
        PointEntry.objects.filter(member_id=member_id)
        .select_related("rule", "record__request")
        .order_by("-created_at", "-id")[:limit]
    )


def me_section(user: User) -> dict[str, Any]:
    """/me/ provider: ``points_total`` and ``points_recent`` (empty for non-members)."""
    member_id = Member.objects.filter(user=user).values_list("id", flat=True).first()
    if member_id is None:
        return {"points_total": 0, "points_recent": []}
    entries = recent_entries(member_id, limit=settings.POINTS_RECENT_ENTRIES)
    return {
        "points_total": member_total(member_id),
        "points_recent": PointEntrySerializer(entries, many=True).data,
    }


me_section.serializer = MePointsSectionSerializer


# ---------------------------------------------------------------- leaderboard


@dataclass(frozen=True)
class Period:
    """A closed range of Asia/Shanghai calendar days."""

    start: date
    end: date


def default_period(*, today: date | None = None) -> Period:
    """This calendar year up to today (Asia/Shanghai)."""
    today = today or timezone.localdate()
    return Period(start=today.replace(month=1, day=1), end=today)


@dataclass(frozen=True)
class LeaderRow:
    """One member's place on the leaderboard, name already shown as the viewer may see it."""

    rank: int
    member_id: int
    name: str
    team_id: int | None
    team_name: str | None
    points: int
    participations: int
    # Verified minutes of services in the period (the counted hours entries).
    service_minutes: int = 0

    @property
    def service_hours(self) -> float:
        return as_hours(self.service_minutes)


def leaderboard(
    *,
    viewer: Viewer,
    period: Period,
    team_id: int | None = None,
    town_ids: frozenset[int] | None = None,
    campaign_kind: str | None = None,
    limit: int,
) -> list[LeaderRow]:
    """Members by net points earned for services in ``period``, best first, with their
    verified hours beside (two queries: the member rollup, the members shown).

    ``team`` filters on the team the points were earned with; the row shows the member's
    current team. ``town_ids`` and ``campaign_kind`` (the dashboard's filters) keep the points
    and hours of services in those towns and of that 三暖 kind (the record's own place and
    kind). Members whose points net to zero or less are left out. Ties share a rank
    (1, 2, 2, 4), ordered by member id."""
    rows = _leaders(period, team_id, limit, town_ids=town_ids, campaign_kind=campaign_kind)
    members = {
        row["id"]: row
        for row in Member.objects.filter(pk__in=[row[0] for row in rows]).values(
            "id", "user_id", "name", "team_id", "team__name"
        )
    }
    board: list[LeaderRow] = []
    rank = 0
    previous: int | None = None
    for position, (member_id, total, participations, minutes) in enumerate(rows, start=1):
        if total != previous:
            rank, previous = position, total
        member = members[member_id]
        board.append(
            LeaderRow(
                rank=rank,
                member_id=member_id,
                name=shown_name(viewer, member["user_id"], member["name"]),
                team_id=member["team_id"],
                team_name=member["team__name"],
                points=int(total),
                participations=int(participations),
                service_minutes=int(minutes),
            )
        )
    return board


def _leaders(
    period: Period,
    team_id: int | None,
    limit: int,
    *,
    town_ids: frozenset[int] | None = None,
    campaign_kind: str | None = None,
) -> list[tuple[int, int, int, int]]:
    """``(member_id, points, participations, minutes)`` of the best ``limit`` members, read
    from the member rollup's rows of the period (``services.rollups``: the ledger's net points
    and participation awards, and the counted minutes, per member and team served with, per
    town and 三暖 kind and over all of them). ``town_ids`` sums the rows of those towns (each
    record is in exactly one), else the all-towns rows (town_key 0); ``campaign_kind`` reads
    that kind's rows, else the all-kinds rows (kind_key '')."""
    if town_ids is not None and not town_ids:
        return []
    period_sql, params = rollups.cover_sql(period.start, period.end)
    if town_ids is None:
        town = "town_key = 0"
    else:
        towns = sorted(town_ids)
        town = f"town_key IN ({', '.join(['%s'] * len(towns))})"
        params.extend(towns)
    params.append(campaign_kind or "")
    team = ""
    if team_id is not None:
        team = " AND team_key = %s"
        params.append(team_id)
    with connections[router.db_for_read(MemberStat)].cursor() as cursor:
        cursor.execute(
            "SELECT member_id, SUM(points), SUM(point_participations), SUM(service_minutes) "  # noqa: S608 - _meta names and placeholders only
            f"FROM {MemberStat._meta.db_table} WHERE {period_sql} AND {town} "
            f"AND kind_key = %s{team} GROUP BY member_id HAVING SUM(points) > 0 "
            "ORDER BY SUM(points) DESC, member_id LIMIT %s",
            [*params, limit],
        )
        return [tuple(int(v) for v in row) for row in cursor.fetchall()]
