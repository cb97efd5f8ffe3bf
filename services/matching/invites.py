"""Invitations: a station reserves an open request for one team's first claims."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.audit import notify, record_event
from accounts.errors import InvalidInput
from accounts.models import User
from members.models import Member, Team
from services import errors
from services.models import (
    ServiceRequest,
)
from services.workflow import Status, _iso, _lock_request, _now, _short


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
    now = _now(now)
    problems: dict[str, list[str]] = {}
    if not team.active:
        problems["team"] = ["该团队已停用。"]
    if until <= now:
        problems["until"] = ["邀请截止时间必须晚于当前时间。"]
    with transaction.atomic():
        service_request = _lock_request(request_id)
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
                "until": _iso(until),
                "previous_team": previous_team,
                "previous_until": _iso(previous_until),
            },
        )
        local_until = timezone.localtime(until)
        for member in Member.objects.filter(
            team=team, active=True, user__is_member=True
        ).select_related("user"):
            notify(
                user=member.user,
                kind="team_invited",
                title=_short(f"团队受邀：{service_request.title}", 100),
                body=_short(
                    f"驿站邀请“{team.name}”承接需求“{service_request.title}”"
                    f"（{timezone.localtime(service_request.starts_at):%m月%d日 %H:%M} 开始）。"
                    f"{local_until:%m月%d日 %H:%M} 前仅本团队委员可以认领。",
                    500,
                ),
                payload={
                    "request": service_request.pk,
                    "request_title": service_request.title,
                    "team": team.pk,
                    "team_name": team.name,
                    "until": _iso(until),
                    "starts_at": _iso(service_request.starts_at),
                },
                # The event id keeps a repeated invitation (same team, new window) notifiable.
                dedupe_key=f"team_invited:{event.pk}:{member.pk}",
            )
    return service_request
