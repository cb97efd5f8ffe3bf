"""派单: a team leader assigns a teammate to a request the team was invited to; the teammate
accepts (the place is then an ordinary claim, made under every claim rule) or declines.

Locks follow the one order (docs/architecture.md#lock-order): Member, then ServiceRequest, then
the Assignment, then claims — accepting is ``claim_request`` with the assignment locked after
the request, so an accept racing a claim for the last slot is decided by the same conditional
UPDATE as two claims are.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.http import Http404

from accounts.audit import record_event
from accounts.models import User
from members.models import Member, Team
from services import errors, notifications
from services.models import Assignment, Claim, ServiceRequest
from services.requests.claims import claim_locked, lock_member
from services.requests.expiry import expire_overdue
from services.requests.transitions import lock_request, member_of, resolve_now

Status = Assignment.Status


def leads(user: User, team: Team) -> bool:
    """Whether ``user`` is the leader of ``team`` (an active team)."""
    return bool(user.is_authenticated and team.active and team.leader_id == user.pk)


def _lock_assignment(assignment_id: int) -> tuple[ServiceRequest, Assignment]:
    """The assignment's request, then the assignment (404 when there is none)."""
    request_id = (
        Assignment.objects.filter(pk=assignment_id).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        raise Http404
    service_request = lock_request(request_id)
    assignment = (
        Assignment.objects.select_for_update(of=("self",), no_key=True)
        .select_related("member__user", "team__leader")
        .get(pk=assignment_id)
    )
    return service_request, assignment


def assign(
    *, actor: User, request_id: int, member: Member, note: str = "", now: datetime | None = None
) -> Assignment:
    """The invited team's leader asks ``member`` (a teammate) to take a place."""
    now = resolve_now(now)
    expire_overdue(now=now, request_ids=[request_id])
    with transaction.atomic():
        service_request = lock_request(request_id)
        team = service_request.invited_team
        if team is None or not leads(actor, team):
            if not Team.objects.filter(leader=actor, active=True).exists():
                raise errors.NotTeamLeader()
            raise errors.TeamNotInvited()
        if (
            service_request.status
            not in (
                ServiceRequest.Status.OPEN,
                ServiceRequest.Status.FULL,
            )
            or now >= service_request.ends_at
        ):
            raise errors.RequestNotOpen("该需求已不再接受认领，不能派单。")
        if member.team_id != team.pk:
            raise errors.AssigneeNotInTeam(fields={"member": ["只能派单给本团队的委员。"]})
        if not member.active or not member.user.is_member or not member.user.is_active:
            raise errors.AssigneeInactive(fields={"member": ["该委员已不在册。"]})
        if Claim.objects.filter(
            request_id=service_request.pk, member_id=member.pk, status__in=Claim.LIVE
        ).exists():
            raise errors.AlreadyClaimed("该委员已认领（或候补）该需求。")
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(
                    request=service_request,
                    member=member,
                    team=team,
                    assigned_by=actor,
                    note=note,
                )
        except IntegrityError:
            raise errors.AlreadyAssigned() from None
        event = record_event(
            actor=actor,
            verb="assignment_created",
            obj=assignment,
            to_status=Status.PENDING,
            payload={"request": service_request.pk, "member": member.pk, "team": team.pk},
        )
        notifications.assignment_created(service_request, assignment, event_id=event.pk)
    return assignment


def accept(*, user: User, assignment_id: int, now: datetime | None = None) -> Assignment:
    """The assignee accepts: a claim under every claim rule; the assignment points at it."""
    now = resolve_now(now)
    member = member_of(user)
    request_id = (
        Assignment.objects.filter(pk=assignment_id).values_list("request_id", flat=True).first()
    )
    if request_id is not None:
        expire_overdue(now=now, request_ids=[request_id])
    with transaction.atomic():
        lock_member(member)
        service_request, assignment = _lock_assignment(assignment_id)
        _check_answerable(assignment, user)
        claim = claim_locked(user, member, service_request, waitlist=False, now=now)
        Assignment.objects.filter(pk=assignment.pk, status=Status.PENDING).update(
            status=Status.ACCEPTED, claim=claim, answered_at=now
        )
        record_event(
            actor=user,
            verb="assignment_accepted",
            obj=assignment,
            from_status=Status.PENDING,
            to_status=Status.ACCEPTED,
            payload={"request": service_request.pk, "claim": claim.pk},
        )
        notifications.assignment_answered(service_request, assignment, accepted=True)
        assignment.refresh_from_db()
    return assignment


def decline(
    *, user: User, assignment_id: int, reason: str, now: datetime | None = None
) -> Assignment:
    """The assignee declines, with a reason the leader reads; nothing else changes."""
    now = resolve_now(now)
    with transaction.atomic():
        service_request, assignment = _lock_assignment(assignment_id)
        _check_answerable(assignment, user)
        Assignment.objects.filter(pk=assignment.pk, status=Status.PENDING).update(
            status=Status.DECLINED, decline_reason=reason, answered_at=now
        )
        record_event(
            actor=user,
            verb="assignment_declined",
            obj=assignment,
            from_status=Status.PENDING,
            to_status=Status.DECLINED,
            payload={"request": service_request.pk, "reason": reason},
        )
        assignment.refresh_from_db()
        notifications.assignment_answered(service_request, assignment, accepted=False)
    return assignment


def _check_answerable(assignment: Assignment, user: User) -> None:
    if assignment.member.user_id != user.pk:
        raise errors.NotAssignee()
    if assignment.status != Status.PENDING:
        raise errors.AssignmentNotPending()
