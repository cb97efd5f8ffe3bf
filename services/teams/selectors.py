"""What a team leader reads: the team's claims, the requests it was invited to, its figures,
and the assignments a user may see. Each list is one query per page (claims and requests
joined, counts as correlated subqueries)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from accounts.permissions import is_staff
from members.models import Team
from services import errors
from services.me.selectors import UPCOMING, upcoming_claims
from services.models import Assignment, Claim, PointEntry, ServiceRecord, ServiceRequest
from services.teams.assignments import leads

ClaimStatus = Claim.Status


def team_for_leader(user: User, team_id: int) -> Team:
    """The team, when ``user`` leads it or is staff; 404 unknown, 403 ``not_team_leader``."""
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise Http404
    if not (is_staff(user) or leads(user, team)):
        raise errors.NotTeamLeader()
    return team


def team_claims(team: Team, *, when: str) -> QuerySet[Claim]:
    """Claims made in the team (the claim's team snapshot): upcoming soonest first, past
    latest first (the same split as ``me/tasks/``)."""
    upcoming = upcoming_claims()
    claims = Claim.objects.filter(team=team).select_related(
        "member", "request__station", "request__village"
    )
    if when == UPCOMING:
        return claims.filter(upcoming).order_by("request__starts_at", "id")
    return claims.exclude(upcoming).order_by("-request__starts_at", "-id")


def invited_requests(team: Team) -> QuerySet[ServiceRequest]:
    """Requests the team was invited to that still take claims, soonest first, with how many
    of the team hold or wait for a place and how many assignments wait for an answer."""
    live = (
        Claim.objects.filter(request_id=OuterRef("pk"), team=team, status__in=Claim.LIVE)
        .order_by()
        .values("request_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    pending = (
        Assignment.objects.filter(
            request_id=OuterRef("pk"), team=team, status=Assignment.Status.PENDING
        )
        .order_by()
        .values("request_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        ServiceRequest.objects.filter(
            invited_team=team,
            status__in=[ServiceRequest.Status.OPEN, ServiceRequest.Status.FULL],
            ends_at__gt=timezone.now(),
        )
        .select_related("station", "village")
        .annotate(
            team_claims=Coalesce(Subquery(live), Value(0)),
            pending_assignments=Coalesce(Subquery(pending), Value(0)),
        )
        .order_by("starts_at", "id")
    )


def team_summary(team: Team) -> dict[str, Any]:
    """The team's hours (checked-out minutes of verified claims), people served (verified
    records a teammate took part in, each once), points (the ledger's team lines) — all
    aggregates in the database."""
    minutes = Claim.objects.filter(team=team, status=ClaimStatus.DONE).aggregate(
        n=Coalesce(Sum("duration_minutes"), 0), services=Count("id")
    )
    in_team = ServiceRecord.participants.through.objects.filter(claim__team=team).values(
        "servicerecord_id"
    )
    served = ServiceRecord.objects.filter(
        status=ServiceRecord.Status.VERIFIED, pk__in=in_team
    ).aggregate(n=Coalesce(Sum("people_served"), 0))
    points = PointEntry.objects.filter(team=team).aggregate(n=Coalesce(Sum("points"), 0))
    upcoming = team_claims(team, when=UPCOMING).count()
    return {
        "team": {"id": team.pk, "name": team.name},
        "hours": round(minutes["n"] / 60, 1),
        "services": minutes["services"],
        "people_served": served["n"],
        "points": points["n"],
        "upcoming_claims": upcoming,
        "invited_requests": invited_requests(team).count(),
    }


def visible_assignments(user: User) -> QuerySet[Assignment]:
    """Assignments ``user`` may see: their own, their teams' as leader; staff all."""
    rows = Assignment.objects.select_related(
        "request", "member", "team", "assigned_by", "claim"
    ).order_by("-created_at", "-id")
    if is_staff(user):
        return rows
    return rows.filter(Q(member__user=user) | Q(team__leader=user, team__active=True))
