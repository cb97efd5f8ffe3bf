"""The resident's ticket (回执): where their intake is, step by step, with dates.

The steps are 已提交, 已受理, 已派单, 已有委员认领, 服务中, 已完成, each with the time it was
reached (None while not yet); a declined or referred intake shows its reason instead. Nothing
about the members who serve (names, phones, teams) is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Min

from services.models import Claim, Intake, ServiceRecord

TICKET_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime | None


@dataclass(frozen=True)
class TicketView:
    status: str
    status_label: str
    steps: list[Step] = field(default_factory=list)
    reason: str = ""
    closed: bool = False
    # 评单 (services.intake.ratings): whether the resident may rate now, and the rating.
    can_rate: bool = False
    score: int | None = None
    comment: str = ""
    rating_changeable_until: datetime | None = None


def by_ticket(ticket: str) -> Intake | None:
    """The intake of ``ticket``, or None (a ticket is URL-safe base64; nothing else is looked
    up, so a NUL or an overlong value never reaches SQL)."""
    if not isinstance(ticket, str) or not TICKET_RE.fullmatch(ticket):
        return None
    return Intake.objects.select_related("request", "station").filter(ticket=ticket).first()


def verified_record(intake: Intake) -> ServiceRecord | None:
    if intake.request_id is None:
        return None
    return (
        ServiceRecord.objects.filter(
            request_id=intake.request_id, status=ServiceRecord.Status.VERIFIED
        )
        .order_by("-version")
        .first()
    )


def steps_of(intake: Intake) -> list[Step]:
    steps = [Step("已提交", intake.created_at)]
    accepted = intake.status in (Intake.Status.ACCEPTED, Intake.Status.MERGED)
    steps.append(Step("已受理", intake.triaged_at if accepted else None))
    service_request = intake.request if accepted else None
    if service_request is None:
        return [
            *steps,
            *(Step(name, None) for name in ("已派单", "已有委员认领", "服务中", "已完成")),
        ]
    # 已派单: the request is out for members to claim — posted, or, for a merge into a request
    # posted earlier, the moment the intake joined it.
    dispatched = max(service_request.created_at, intake.triaged_at)
    checked_in = Claim.objects.filter(
        request_id=service_request.pk, checked_in_at__isnull=False
    ).aggregate(first=Min("checked_in_at"))["first"]
    record = verified_record(intake)
    return [
        *steps,
        Step("已派单", dispatched),
        Step("已有委员认领", service_request.first_claimed_at),
        Step("服务中", checked_in),
        Step("已完成", record.verified_at if record else None),
    ]


def ticket_view(intake: Intake, *, now: datetime | None = None) -> TicketView:
    from services.intake import ratings

    reason = (
        intake.reason if intake.status in (Intake.Status.DECLINED, Intake.Status.REFERRED) else ""
    )
    rating = ratings.rating_of(intake)
    steps = steps_of(intake)
    label = intake.get_status_display()
    if intake.status in (Intake.Status.ACCEPTED, Intake.Status.MERGED):
        label = [step.name for step in steps if step.at][-1]  # the last step reached
    return TicketView(
        status=intake.status,
        status_label=label,
        steps=steps,
        reason=reason,
        closed=intake.status in (Intake.Status.DECLINED, Intake.Status.REFERRED),
        can_rate=ratings.can_rate(intake, now=now),
        score=rating.score if rating else None,
        comment=rating.comment if rating else "",
        rating_changeable_until=ratings.changeable_until(rating) if rating else None,
    )
