"""The ranked teams of a need and the invite button.

The ranking is ``services.matching.teams.match_teams`` (what GET requests/{id}/matches/
answers), each team with its reasons; inviting calls ``services.matching.invites.invite_team``
with the input ``InviteInputSerializer`` parses, as POST requests/{id}/invite/ does.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from services.console import forms
from services.console.access import act, action, one
from services.matching.invites import invite_team
from services.matching.serializers import InviteInputSerializer
from services.matching.teams import match_target, match_teams
from services.models import ServiceRequest

# How many ranked teams the page shows.
SHOWN_TEAMS = 10

# The scoring terms (services/matching/scoring.py TERMS) as the page names them.
TERM_LABELS = {
    "specialty": "专长",
    "distance": "距离",
    "load": "任务量",
    "reliability": "守约",
    "history": "服务经历",
}


def default_until(need: ServiceRequest) -> str:
    """The invite form's proposal: a day from now, at most an hour before the start."""
    now = timezone.now()
    until = min(now + timedelta(days=1), need.starts_at - timedelta(hours=1))
    return forms.for_input(until) if until > now else ""


def ranked(request: HttpRequest, need: ServiceRequest, *, invite=None) -> dict:
    """The page's ranked teams (open needs only: only they can be invited for)."""
    invite = invite or {}
    context = {
        "matches": [],
        "invitable": need.status == ServiceRequest.Status.OPEN and need.ends_at > timezone.now(),
        "invite_values": invite.get("values") or {"until": default_until(need)},
        "invite_errors": invite.get("errors") or {},
        "invite_detail": invite.get("detail", ""),
        "max_km": settings.MATCHING_MAX_DISTANCE_KM,
    }
    if not context["invitable"]:
        return context
    now = timezone.now()
    target = match_target(need.pk, now=now)
    if target is not None:
        result = match_teams(target=target, limit=SHOWN_TEAMS, now=now)
        context["matches"] = [
            {
                "match": match,
                "percent": round(match.score * 100),
                "parts": [
                    (TERM_LABELS.get(term, term), f"{value:.2f}")
                    for term, value in match.parts.items()
                ],
            }
            for match in result.matches
        ]
    return context


@action
def invite(request: HttpRequest, pk: int) -> HttpResponse:
    """``invite_team`` for the need; refused: the need's page with the error."""
    from services.console.needs import need_page

    need = one(
        ServiceRequest.objects.select_related("station", "village", "campaign", "invited_team"),
        request.user,
        pk,
    )

    def write():
        data = forms.text_data(request.POST, ("team", "until"), times=("until",))
        given = forms.validated(InviteInputSerializer, data)
        return invite_team(actor=request.user, request_id=need.pk, **given)

    def done(invited):
        team = invited.invited_team
        until = timezone.localtime(invited.invite_until)
        return (
            f"已邀请“{team.name}”，{until:%m月%d日 %H:%M} 前仅该团队委员可以认领。",
            reverse("console:need", args=[invited.pk]),
        )

    def again(detail, errors, status):
        values = {"team": request.POST.get("team", ""), "until": request.POST.get("until", "")}
        need.refresh_from_db()
        return need_page(
            request,
            need,
            invite={"values": values, "errors": errors, "detail": detail},
            status=status,
        )

    return act(request, write, done=done, again=again)
