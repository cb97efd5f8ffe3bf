"""Every notice the services app sends: its kind, title, text, payload and dedupe key.

State changes call one function here per notice, inside their transaction; each queues an
outbox row through ``accounts.audit.notify`` (docs/notifications.md). Titles are cut to 100
characters and texts to 500, the outbox's columns. The dedupe key makes a retried transition
queue a notice once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.audit import notify
from accounts.models import Notification, User
from members.models import Member, Team
from members.pii import mask_name
from services.models import Claim, ServiceRecord, ServiceRequest

TITLE_LIMIT = 100
BODY_LIMIT = 500
REMINDER_KIND = "reminder"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso(value: datetime | None) -> str | None:
    """An aware datetime as the API shows times: Asia/Shanghai, to the second (None stays None)."""
    if value is None:
        return None
    return timezone.localtime(value).replace(microsecond=0).isoformat()


def _local(value: datetime) -> str:
    return f"{timezone.localtime(value):%m月%d日 %H:%M}"


def span(starts_at: datetime, ends_at: datetime) -> str:
    """``06月01日 09:00–11:00`` (the end's day too when it is another day)."""
    start, end = timezone.localtime(starts_at), timezone.localtime(ends_at)
    until = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%m月%d日 %H:%M}"
    return f"{start:%m月%d日 %H:%M}–{until}"


def check_in_opens(service_request: ServiceRequest) -> datetime:
    return service_request.starts_at - timedelta(minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES)


def _send(
    user: User, *, kind: str, title: str, body: str, payload: dict[str, Any], key: str
) -> None:
    notify(
        user=user,
        kind=kind,
        title=shorten(title, TITLE_LIMIT),
        body=shorten(body, BODY_LIMIT),
        payload=payload,
        dedupe_key=key,
    )


# ---------------------------------------------------------------- claims


def claim_confirmed(service_request: ServiceRequest, claim: Claim) -> None:
    """The member who just took a place: when, where, and when to check in."""
    where = service_request.address or "见需求详情"
    opens = check_in_opens(service_request)
    when = span(service_request.starts_at, service_request.ends_at)
    _send(
        claim.member.user,
        kind="claim_confirmed",
        title=f"认领成功：{service_request.title}",
        body=(
            f"您已认领需求“{service_request.title}”。时间：{when}；"
            f"地点：{where}；签到时间：{_local(opens)} 至 {_local(service_request.ends_at)}。"
        ),
        payload={
            "request": service_request.pk,
            "claim": claim.pk,
            "request_title": service_request.title,
            "starts_at": iso(service_request.starts_at),
            "ends_at": iso(service_request.ends_at),
            "address": service_request.address,
            "check_in_opens_at": iso(opens),
        },
        key=f"claim_confirmed:{claim.pk}",
    )


def claim_promoted(service_request: ServiceRequest, claim: Claim, *, check_in_by: datetime):
    """A waitlisted member got a slot."""
    _send(
        claim.member.user,
        kind="claim_promoted",
        title="候补转正：您已获得服务名额",
        body=(
            f"您候补的需求“{service_request.title}”有名额空出，已为您自动认领。"
            f"请按时到场签到（{_local(check_in_by)}）。"
        ),
        payload={
            "request": service_request.pk,
            "claim": claim.pk,
            "starts_at": iso(service_request.starts_at),
        },
        key=f"claim_promoted:{claim.pk}",
    )


def claim_cancelled_late(service_request: ServiceRequest, claim: Claim, *, reason: str) -> None:
    """The station's managers: a member gave up a slot shortly before the start."""
    _to_managers(
        service_request,
        kind="claim_cancelled_late",
        title="委员临时取消认领",
        body=(
            f"{claim.member.name} 在开始前不足 {settings.SERVICES_LATE_CANCEL_HOURS} "
            f"小时取消了需求“{service_request.title}”的认领。原因：{reason}"
        ),
        payload={"request": service_request.pk, "claim": claim.pk, "reason": reason},
        key=f"claim_cancelled_late:{claim.pk}",
    )


def claim_rejected(service_request: ServiceRequest, claim: Claim, *, reason: str) -> None:
    """The claimant: the station declined the claim."""
    _send(
        claim.member.user,
        kind="claim_rejected",
        title="您的认领未获通过",
        body=f"驿站未接受您对需求“{service_request.title}”的认领。原因：{reason}",
        payload={"request": service_request.pk, "claim": claim.pk, "reason": reason},
        key=f"claim_rejected:{claim.pk}",
    )


def claim_expired(service_request: ServiceRequest, claim: Claim) -> None:
    """The claimant: no check-in in time, the slot went back."""
    _send(
        claim.member.user,
        kind="claim_expired",
        title="认领已过期",
        body=f"您认领的需求“{service_request.title}”未按时签到，认领已过期，名额已释放。",
        payload={"request": service_request.pk, "claim": claim.pk, "was_waitlisted": False},
        key=f"claim_expired:{claim.pk}",
    )


def waitlist_ended(service_request: ServiceRequest, claim: Claim) -> None:
    """A waitlisted member: the request ended before a slot freed."""
    _send(
        claim.member.user,
        kind="claim_expired",
        title="候补已结束",
        body=f"需求“{service_request.title}”已结束，您的候补未能转正。",
        payload={"request": service_request.pk, "claim": claim.pk, "was_waitlisted": True},
        key=f"claim_expired:{claim.pk}",
    )


# ---------------------------------------------------------------- requests


def request_cancelled(service_request: ServiceRequest, claim: Claim, *, reason: str) -> None:
    """A claimant or waitlisted member of a cancelled request (``claim`` as it was)."""
    _send(
        claim.member.user,
        kind="request_cancelled",
        title="您认领的需求已取消",
        body=f"需求“{service_request.title}”已被取消。原因：{reason}",
        payload={
            "request": service_request.pk,
            "claim": claim.pk,
            "reason": reason,
            "starts_at": iso(service_request.starts_at),
            "was_waitlisted": claim.status == Claim.Status.WAITLISTED,
        },
        key=f"request_cancelled:{claim.pk}",
    )


@dataclass(frozen=True)
class Change:
    """One thing that changed on a request, as a person reads it: ``label: before → after``."""

    field: str
    label: str
    before: str
    after: str

    def text(self) -> str:
        return f"{self.label}：{self.before} → {self.after}"


def request_changed(
    service_request: ServiceRequest, claim: Claim, *, changes: Sequence[Change], event_id: int
) -> None:
    """A claimant or waitlisted member: the time, place or slots of their request changed."""
    what = "；".join(change.text() for change in changes)
    waiting = claim.status == Claim.Status.WAITLISTED
    _send(
        claim.member.user,
        kind="request_changed",
        title=f"需求有变更：{service_request.title}",
        body=(
            f"您{'候补' if waiting else '认领'}的需求“{service_request.title}”有变更。{what}。"
            + ("如新安排不便，请及时取消认领。" if not waiting else "")
        ),
        payload={
            "request": service_request.pk,
            "claim": claim.pk,
            "request_title": service_request.title,
            "summary": "、".join(change.label for change in changes) + "有变更",
            "changes": {c.field: {"from": c.before, "to": c.after} for c in changes},
            "starts_at": iso(service_request.starts_at),
            "was_waitlisted": waiting,
        },
        key=f"request_changed:{event_id}:{claim.pk}",
    )


def team_invited(
    service_request: ServiceRequest, team: Team, members: Sequence[Member], *, until, event_id
):
    """Each active member of an invited team; the event id keeps a new window notifiable."""
    for member in members:
        _send(
            member.user,
            kind="team_invited",
            title=f"团队受邀：{service_request.title}",
            body=(
                f"驿站邀请“{team.name}”承接需求“{service_request.title}”"
                f"（{_local(service_request.starts_at)} 开始）。"
                f"{_local(until)} 前仅本团队委员可以认领。"
            ),
            payload={
                "request": service_request.pk,
                "request_title": service_request.title,
                "team": team.pk,
                "team_name": team.name,
                "until": iso(until),
                "starts_at": iso(service_request.starts_at),
            },
            key=f"team_invited:{event_id}:{member.pk}",
        )


# ---------------------------------------------------------------- team leaders (派单)


def assignment_created(service_request: ServiceRequest, assignment, *, event_id: int) -> None:
    """The teammate a leader assigned: what, when, where; accept or decline in the app."""
    where = service_request.address or "见需求详情"
    _send(
        assignment.member.user,
        kind="assignment_created",
        title=f"团队派单：{service_request.title}",
        body=(
            f"“{assignment.team.name}”负责人请您承接需求“{service_request.title}”。"
            f"时间：{span(service_request.starts_at, service_request.ends_at)}；地点：{where}。"
            "请在小程序中接单或拒绝，接单后才算认领。"
            + (f"说明：{assignment.note}" if assignment.note else "")
        ),
        payload={
            "request": service_request.pk,
            "assignment": assignment.pk,
            "request_title": service_request.title,
            "team_name": assignment.team.name,
            "starts_at": iso(service_request.starts_at),
            "address": service_request.address,
        },
        key=f"assignment_created:{event_id}",
    )


def assignment_answered(service_request: ServiceRequest, assignment, *, accepted: bool) -> None:
    """The leader who assigned: the teammate accepted (a claim now) or declined (why)."""
    leader = assignment.team.leader
    if leader is None:
        return
    name = mask_name(assignment.member.name)  # the PII rule: a leader is not staff
    if accepted:
        body = f"{name} 已接单：需求“{service_request.title}”，已为其认领名额。"
    else:
        body = (
            f"{name} 拒绝了需求“{service_request.title}”的派单。原因：{assignment.decline_reason}"
        )
    _send(
        leader,
        kind="assignment_answered",
        title=f"派单{'已接单' if accepted else '被拒绝'}：{service_request.title}",
        body=body,
        payload={
            "request": service_request.pk,
            "assignment": assignment.pk,
            "request_title": service_request.title,
            "accepted": accepted,
        },
        key=f"assignment_answered:{assignment.pk}",
    )


def service_reminder(claim: Claim, *, key: str) -> Notification:
    """An unsaved reminder for a claimant before the start (reminders insert them in bulk)."""
    request = claim.request
    where = request.address or "见需求详情"
    return Notification(
        user_id=claim.member.user_id,
        kind=REMINDER_KIND,
        title=shorten(f"服务提醒：{request.title}", TITLE_LIMIT),
        body=shorten(
            f"您认领的服务将于 {_local(request.starts_at)} 开始，地点：{where}。", BODY_LIMIT
        ),
        payload={
            "request_id": request.pk,
            "claim_id": claim.pk,
            "request_title": request.title,
            "starts_at": request.starts_at.isoformat(),
            "address": request.address,
        },
        dedupe_key=key,
    )


# ---------------------------------------------------------------- records


def record_submitted(service_request: ServiceRequest, record: ServiceRecord, *, submitter: User):
    """The station's managers but the submitter: a record waits for review."""
    flags = record.flag_count
    station = service_request.station
    for manager in station.managers.filter(is_station_manager=True).exclude(pk=submitter.pk):
        _send(
            manager,
            kind="record_submitted",
            title="有服务记录待核实",
            body=(
                f"需求“{service_request.title}”提交了服务记录（服务 {record.people_served} 人次"
                + (f"，{flags} 项异常标记" if flags else "")
                + "），请核实。"
            ),
            payload={
                "request": service_request.pk,
                "record": record.pk,
                "request_title": service_request.title,
                "flags": flags,
            },
            key=f"record_submitted:{record.pk}:{manager.pk}",
        )


def record_verified(
    service_request: ServiceRequest, record: ServiceRecord, claim: Claim, *, note: str, points: int
):
    """A participant: the record was approved and these points earned."""
    _send(
        claim.member.user,
        kind="record_verified",
        title="服务记录已核实",
        body=(
            f"您参与的需求“{service_request.title}”服务记录已核实通过，获得履职积分 {points} 分。"
        ),
        payload={
            "request": service_request.pk,
            "record": record.pk,
            "request_title": service_request.title,
            "note": note,
            "points": points,
        },
        key=f"record_verified:{record.pk}:{claim.member.user_id}",
    )


def record_rejected(
    service_request: ServiceRequest, record: ServiceRecord, *, submitter: User, note: str
):
    """The submitter: the record came back with the verifier's note."""
    _send(
        submitter,
        kind="record_rejected",
        title="服务记录被退回",
        body=f"需求“{service_request.title}”的服务记录被退回，请修改后重新提交。意见：{note}",
        payload={
            "request": service_request.pk,
            "record": record.pk,
            "request_title": service_request.title,
            "note": note,
        },
        key=f"record_rejected:{record.pk}",
    )


def record_revoked(
    service_request: ServiceRequest,
    record: ServiceRecord,
    claim: Claim,
    *,
    reason: str,
    points: int,
):
    """A participant: staff took the verification back and reversed these points."""
    _send(
        claim.member.user,
        kind="record_revoked",
        title="服务记录的核实已撤销",
        body=(
            f"需求“{service_request.title}”服务记录的核实已被撤销，相应履职积分"
            f"（{points} 分）已冲回。原因：{reason}"
        ),
        payload={
            "request": service_request.pk,
            "record": record.pk,
            "request_title": service_request.title,
            "reason": reason,
        },
        key=f"record_revoked:{record.pk}:{claim.member.user_id}",
    )


def _to_managers(
    service_request: ServiceRequest,
    *,
    kind: str,
    title: str,
    body: str,
    payload: dict[str, Any],
    key: str,
) -> None:
    for manager in service_request.station.managers.filter(is_station_manager=True):
        _send(
            manager, kind=kind, title=title, body=body, payload=payload, key=f"{key}:{manager.pk}"
        )


# ---------------------------------------------------------------- residents' intake (群众点单)


def _to_station_managers(station_id: int, *, kind: str, title: str, body: str, payload, key: str):
    managers = User.objects.filter(managed_stations__id=station_id, is_station_manager=True)
    for manager in managers.order_by("id"):
        _send(
            manager, kind=kind, title=title, body=body, payload=payload, key=f"{key}:{manager.pk}"
        )


def intake_received(intake) -> None:
    """The station's managers: a resident posted a need (no resident text in the notice)."""
    _to_station_managers(
        intake.station_id,
        kind="intake_received",
        title="收到新的群众点单",
        body="有群众通过二维码或小程序提交了诉求，请及时受理（派单）。",
        payload={"intake": intake.pk},
        key=f"intake_received:{intake.pk}:{intake.station_id}",
    )


def intake_overdue(intake, *, hours: int) -> None:
    """The station's managers: an intake waits untriaged past the threshold."""
    _to_station_managers(
        intake.station_id,
        kind="intake_overdue",
        title="群众点单超时未受理",
        body=f"有一条群众点单已超过 {hours} 小时未受理，请尽快处理。",
        payload={"intake": intake.pk, "queued_at": iso(intake.queued_at)},
        key=f"intake_overdue:{intake.pk}:{intake.queued_at.timestamp():.0f}",
    )


def intake_step(intake, *, step: str, body: str, key: str) -> None:
    """The resident who came through the mini-program: their intake reached ``step``."""
    if intake.resident_id is None:
        return
    _send(
        intake.resident,
        kind="intake_step",
        title=f"您的诉求{step}",
        body=body,
        payload={"intake": intake.pk, "ticket": intake.ticket, "step": step},
        key=f"intake_step:{intake.pk}:{key}",
    )


# ---------------------------------------------------------------- 暖企 (enterprises, 诉求)


def enterprise_assigned(enterprise, liaison) -> None:
    """A member: they are now one of an enterprise's 暖企专员."""
    _send(
        liaison.member.user,
        kind="enterprise_assigned",
        title="您被指派为暖企专员",
        body=(
            f"您已被指派为“{enterprise.name}”的{liaison.get_role_display()}，"
            f"自 {liaison.starts_on:%Y年%m月%d日} 起。"
        ),
        payload={"enterprise": enterprise.pk, "role": liaison.role},
        key=f"enterprise_assigned:{liaison.pk}",
    )


def _appeal_liaisons(appeal) -> list[User]:
    from services.enterprises.selectors import current_liaison_users

    return current_liaison_users(appeal.enterprise_id)


def appeal_step(appeal, *, step: str, body: str, key: str) -> None:
    """The enterprise's 专员 and, when it came through the mini-program, the enterprise's
    WeChat account: the 诉求 reached ``step`` (the ticket page shows it to the enterprise)."""
    payload = {"appeal": appeal.pk, "enterprise": appeal.enterprise_id, "step": step}
    for user in _appeal_liaisons(appeal):
        _send(
            user,
            kind="enterprise_appeal",
            title=shorten(f"企业诉求{step}：{appeal.enterprise.name}", TITLE_LIMIT),
            body=shorten(body, BODY_LIMIT),
            payload=payload,
            key=f"enterprise_appeal:{appeal.pk}:{key}:{user.pk}",
        )
    if appeal.source == "miniprogram" and appeal.raised_by_id is not None:
        _send(
            appeal.raised_by,
            kind="enterprise_appeal_step",
            title=f"您的诉求{step}",
            body=shorten(body, BODY_LIMIT),
            payload={**payload, "ticket": appeal.ticket},
            key=f"enterprise_appeal_step:{appeal.pk}:{key}",
        )


def appeal_overdue(appeal) -> None:
    """The 专员 and staff: a referred 诉求 passed its due date without 办结."""
    recipients = {user.pk: user for user in _appeal_liaisons(appeal)}
    for user in User.objects.filter(is_staff=True, is_active=True).order_by("id"):
        recipients.setdefault(user.pk, user)
    for user in recipients.values():
        _send(
            user,
            kind="enterprise_appeal_overdue",
            title=shorten(f"企业诉求超期未办结：{appeal.enterprise.name}", TITLE_LIMIT),
            body=shorten(
                f"转办至{appeal.department}的诉求已过办理时限（{appeal.due_on:%Y年%m月%d日}），"
                "请督办。",
                BODY_LIMIT,
            ),
            payload={
                "appeal": appeal.pk,
                "enterprise": appeal.enterprise_id,
                "due_on": appeal.due_on.isoformat(),
            },
            key=f"enterprise_appeal_overdue:{appeal.pk}:{appeal.due_on.isoformat()}:{user.pk}",
        )
