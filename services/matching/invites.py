"""Invitations: a station reserves an open request for one team's first claims."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.audit import record_event
from accounts.errors import InvalidInput
from accounts.models import User
from members.models import Member, Team
from services import errors, notifications
from services.models import (
    ServiceRequest,
)
from services.notifications import iso
from services.requests.transitions import Status, lock_request, resolve_now


def invite_team(
    *,
    actor: User,
    request_id: int,
    team: Team,
    until: datetime,
    now: datetime | None = None,
) -> ServiceRequest:
    """Reserve an open request for one team until ``until`` (first-claim window); its active
    members are told. A new invitation replaces the previous one."""
    now = resolve_now(now)
    problems: dict[str, list[str]] = {}
    if not team.active:
        problems["team"] = ["该团队已停用。"]
    if until <= now:
        problems["until"] = ["邀请截止时间必须晚于当前时间。"]
    with transaction.atomic():
        service_request = lock_request(request_id)
        if service_request.status != Status.OPEN or now >= service_request.ends_at:
            raise errors.RequestNotOpen("只有可认领（open）的需求可以邀请团队。")
        if "until" not in problems and until >= service_request.starts_at:
            problems["until"] = ["邀请截止时间必须早于需求开始时间。"]
        if problems:
            raise InvalidInput(next(iter(problems.values()))[0], fields=problems)
        previous_team = service_request.invited_team_id
        previous_until = service_request.invite_until
        ServiceRequest.objects.filter(pk=service_request.pk, status=Status.OPEN).update(
            invited_team=team, invite_until=until, updated_at=now
        )
        service_request.refresh_from_db()
        event = record_event(
            actor=actor,
            verb="request_team_invited",
            obj=service_request,
            from_status=service_request.status,
            to_status=service_request.status,
            payload={
                "team": team.pk,
                "until": iso(until),
                "previous_team": previous_team,
                "previous_until": iso(previous_until),
            },
        )
        members = Member.objects.filter(team=team, active=True, user__is_member=True)
        notifications.team_invited(
            service_request, team, members.select_related("user"), until=until, event_id=event.pk
        )
    return service_request
