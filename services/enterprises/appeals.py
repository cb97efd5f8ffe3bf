"""企业诉求 to 办结: raise, 转办, 办理, 办结, 不予受理, 企业评价 (docs/enterprises.md#诉求).

```
已受理 accepted → 已转办 referred (department, what was asked, due date) → 办理中 in_progress
→ 已办结 resolved (outcome) → 已评价 rated (1–5, by the enterprise)
已受理 accepted → 不予受理 rejected (reason)
```

Every move locks the 诉求's row, moves it by a conditional UPDATE on the state it starts from
(so no move goes backwards or skips, and of two parallel moves one wins), leaves an Event and
notifies the enterprise's 专员 and, through the mini-program, the enterprise
(``services.notifications.appeal_step``). The rating is the enterprise's: through its desk,
never a member's account.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import InvalidInput
from accounts.models import User
from services import notifications
from services.enterprises import errors
from services.intake.writes import new_ticket
from services.models import Enterprise, EnterpriseAppeal, EnterpriseVisit

Status = EnterpriseAppeal.Status


def raise_appeal(
    *,
    actor: User | None,
    enterprise: Enterprise,
    description: str,
    source: str,
    visit: EnterpriseVisit | None = None,
    now: datetime | None = None,
) -> EnterpriseAppeal:
    """A 诉求, accepted (已受理) at once; inside the caller's transaction when there is one."""
    now = now or timezone.now()
    if not enterprise.active:
        raise errors.EnterpriseInactive()
    with transaction.atomic():
        appeal = EnterpriseAppeal.objects.create(
            enterprise=enterprise,
            visit=visit,
            source=source,
            ticket=new_ticket(),
            description=description,
            raised_by=actor,
            created_at=now,
        )
        record_event(
            actor=actor,
            verb="enterprise_appeal_raised",
            obj=appeal,
            to_status=Status.ACCEPTED,
            payload={
                "enterprise": enterprise.pk,
                "source": source,
                "visit": visit.pk if visit else None,
            },
        )
        notifications.appeal_step(
            appeal,
            step="已受理",
            body=f"企业诉求已受理：{notifications.shorten(description, 60)}",
            key="accepted",
        )
    return appeal


def _move(
    *,
    appeal_id: int,
    actor: User | None,
    allowed_from: tuple[str, ...],
    to: str,
    verb: str,
    now: datetime,
    payload: dict[str, Any],
    step: str,
    body: str,
    **values,
) -> EnterpriseAppeal:
    appeal = (
        EnterpriseAppeal.objects.select_for_update().select_related("enterprise").get(pk=appeal_id)
    )
    if appeal.status not in allowed_from:
        raise errors.AppealWrongState(
            f"该诉求当前为“{appeal.get_status_display()}”，不能{step}。",
            extra={"status": appeal.status},
        )
    moved = EnterpriseAppeal.objects.filter(pk=appeal.pk, status__in=allowed_from).update(
        status=to, updated_at=now, **values
    )
    if not moved:
        raise errors.AppealWrongState()
    before = appeal.status
    appeal.refresh_from_db()
    record_event(
        actor=actor,
        verb=verb,
        obj=appeal,
        from_status=before,
        to_status=to,
        payload={"enterprise": appeal.enterprise_id, **payload},
    )
    notifications.appeal_step(appeal, step=step, body=body, key=to)
    return appeal


def refer_appeal(
    *,
    actor: User,
    appeal_id: int,
    department: str,
    asked: str,
    due_on: date,
    now: datetime | None = None,
) -> EnterpriseAppeal:
    """转办: to a named department, with what was asked of it and the date it is due."""
    now = now or timezone.now()
    if due_on < timezone.localdate(now):
        message = "办理时限不能早于今天。"
        raise InvalidInput(message, fields={"due_on": [message]})
    with transaction.atomic():
        return _move(
            appeal_id=appeal_id,
            actor=actor,
            allowed_from=(Status.ACCEPTED,),
            to=Status.REFERRED,
            verb="enterprise_appeal_referred",
            now=now,
            payload={"department": department, "due_on": due_on.isoformat()},
            step="已转办",
            body=f"诉求已转办至{department}，办理时限 {due_on:%Y年%m月%d日}。",
            department=department,
            asked=asked,
            due_on=due_on,
            referred_at=now,
        )


def start_appeal(*, actor: User, appeal_id: int, now: datetime | None = None):
    """办理中: the department took it up."""
    now = now or timezone.now()
    with transaction.atomic():
        return _move(
            appeal_id=appeal_id,
            actor=actor,
            allowed_from=(Status.REFERRED,),
            to=Status.IN_PROGRESS,
            verb="enterprise_appeal_started",
            now=now,
            payload={},
            step="办理中",
            body="承办部门正在办理您的诉求。",
            started_at=now,
        )


def resolve_appeal(*, actor: User, appeal_id: int, outcome: str, now: datetime | None = None):
    """已办结, with the outcome the enterprise reads (never without one)."""
    now = now or timezone.now()
    if not outcome.strip():
        message = "办结须填写办理结果。"
        raise InvalidInput(message, fields={"outcome": [message]})
    with transaction.atomic():
        created = (
            EnterpriseAppeal.objects.filter(pk=appeal_id)
            .values_list("created_at", flat=True)
            .first()
        )
        return _move(
            appeal_id=appeal_id,
            actor=actor,
            allowed_from=(Status.IN_PROGRESS,),
            to=Status.RESOLVED,
            verb="enterprise_appeal_resolved",
            now=now,
            payload={},
            step="已办结",
            body=f"您的诉求已办结：{notifications.shorten(outcome, 200)}。欢迎评价。",
            outcome=outcome,
            resolved_at=now,
            resolve_seconds=(now - created).total_seconds() if created else None,
        )


def reject_appeal(*, actor: User, appeal_id: int, reason: str, now: datetime | None = None):
    """不予受理, with the reason the enterprise reads."""
    now = now or timezone.now()
    with transaction.atomic():
        return _move(
            appeal_id=appeal_id,
            actor=actor,
            allowed_from=(Status.ACCEPTED,),
            to=Status.REJECTED,
            verb="enterprise_appeal_rejected",
            now=now,
            payload={"reason": reason},
            step="不予受理",
            body=f"您的诉求不予受理：{reason}",
            reason=reason,
            rejected_at=now,
        )


def rate_appeal(
    *,
    appeal_id: int,
    score: int,
    comment: str = "",
    actor: User | None = None,
    now: datetime | None = None,
) -> EnterpriseAppeal:
    """企业评价: once, after 办结 (409 ``appeal_not_rateable`` before, or a second time; of
    parallel ratings exactly one is kept)."""
    now = now or timezone.now()
    with transaction.atomic():
        appeal = EnterpriseAppeal.objects.select_for_update().get(pk=appeal_id)
        rated = EnterpriseAppeal.objects.filter(pk=appeal.pk, status=Status.RESOLVED).update(
            status=Status.RATED,
            score=score,
            rating_comment=comment,
            rated_at=now,
            updated_at=now,
        )
        if not rated:
            raise errors.AppealNotRateable(extra={"status": appeal.status})
        record_event(
            actor=actor,
            verb="enterprise_appeal_rated",
            obj=appeal,
            from_status=Status.RESOLVED,
            to_status=Status.RATED,
            payload={"enterprise": appeal.enterprise_id, "score": score},
        )
        appeal.refresh_from_db()
    return appeal


def notify_overdue(*, now: datetime | None = None) -> int:
    """The sweep: tell the 专员 and staff, once per due date, of each referred or in-progress
    诉求 past its due date; the number notified (hooked beside the intake sweep)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = EnterpriseAppeal.objects.filter(
        status__in=(Status.REFERRED, Status.IN_PROGRESS),
        due_on__lt=today,
        overdue_notified_at__isnull=True,
    ).select_related("enterprise")
    notified = 0
    for appeal in due.iterator():
        with transaction.atomic():
            claimed = EnterpriseAppeal.objects.filter(
                pk=appeal.pk,
                status__in=(Status.REFERRED, Status.IN_PROGRESS),
                overdue_notified_at__isnull=True,
            ).update(overdue_notified_at=now)
            if claimed:
                notifications.appeal_overdue(appeal)
                notified += 1
    return notified
