"""Enterprises and their 暖企专员: create, deactivate, assign (docs/enterprises.md).

Each is keyword-only, runs in one transaction and leaves an Event without the contact (the
contact stays on the enterprise, where the retention purge finds it). Staff only: the views
check the role, these check the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import InvalidInput
from accounts.models import User
from members.models import Member
from services import notifications
from services.enterprises import codes, errors
from services.models import Enterprise, EnterpriseLiaison
from stations.geo import Point
from stations.models import Station, Town


def check_credit_code(code: str) -> str:
    """The normalised code, or 400 ``credit_code_invalid`` saying what is wrong."""
    code = codes.normalise(code)
    problem = codes.credit_code_error(code)
    if problem:
        raise errors.CreditCodeInvalid(problem, fields={"credit_code": [problem]})
    return code


def check_place(*, town: Town, station: Station) -> None:
    """The serving station must be active and in the enterprise's town."""
    if not station.active or station.town_id != town.pk:
        message = "服务驿站须为该镇/街道启用中的驿站。"
        raise InvalidInput(message, fields={"station": [message]})


def create_enterprise(
    *,
    actor: User | None,
    name: str,
    credit_code: str,
    town: Town,
    station: Station,
    point: Point,
    address: str = "",
    industry: str = "",
    key_project: bool = False,
    contact_name: str = "",
    contact_phone: str = "",
    source: str = "api",
) -> Enterprise:
    """One enterprise; a code another enterprise has is 409 ``credit_code_taken``."""
    credit_code = check_credit_code(credit_code)
    check_place(town=town, station=station)
    try:
        with transaction.atomic():
            enterprise = Enterprise.objects.create(
                name=name,
                credit_code=credit_code,
                town=town,
                station=station,
                lat=point.lat,
                lng=point.lng,
                address=address,
                industry=industry,
                key_project=key_project,
                contact_name=contact_name,
                contact_phone=contact_phone,
                desk_ticket=codes.new_ticket(),
                created_by=actor,
            )
            record_event(
                actor=actor,
                verb="enterprise_created",
                obj=enterprise,
                payload={"credit_code": credit_code, "station": station.pk, "source": source},
            )
    except IntegrityError:
        if Enterprise.objects.filter(credit_code=credit_code).exists():
            raise errors.CreditCodeTaken(
                fields={"credit_code": [errors.CreditCodeTaken.default_detail]}
            ) from None
        raise
    return enterprise


def deactivate_enterprise(
    *, actor: User, enterprise_id: int, reason: str, now: datetime | None = None
) -> Enterprise:
    """停用: kept with its history; its current pairings end, no visit or 诉求 is taken."""
    now = now or timezone.now()
    with transaction.atomic():
        enterprise = Enterprise.objects.select_for_update().get(pk=enterprise_id)
        if not Enterprise.objects.filter(pk=enterprise.pk, active=True).update(
            active=False, deactivated_at=now, deactivate_reason=reason, updated_at=now
        ):
            raise errors.EnterpriseInactive()
        ended = EnterpriseLiaison.objects.filter(
            enterprise_id=enterprise.pk, ended_at__isnull=True
        ).update(ended_at=now)
        record_event(
            actor=actor,
            verb="enterprise_deactivated",
            obj=enterprise,
            payload={"reason": reason, "liaisons_ended": ended},
        )
        enterprise.refresh_from_db()
    return enterprise


def _check_members(lead: Member, deputies: Sequence[Member]) -> None:
    everyone = [lead, *deputies]
    if len({member.pk for member in everyone}) != len(everyone):
        raise errors.LiaisonInvalid("牵头专员与协助专员不能是同一位委员。")
    inactive = [member.pk for member in everyone if not member.active]
    if inactive:
        raise errors.LiaisonInvalid("暖企专员须为在册委员。", extra={"inactive_members": inactive})


def assign_liaisons(
    *,
    actor: User,
    enterprise_id: int,
    lead: Member,
    deputies: Sequence[Member] = (),
    starts_on: date,
    ends_on: date | None = None,
    now: datetime | None = None,
) -> list[EnterpriseLiaison]:
    """指派: the enterprise's 专员 from ``starts_on`` (to ``ends_on``); the pairings in place
    end now and stay as history (``ended_at``), so a reassignment never rewrites the past."""
    now = now or timezone.now()
    _check_members(lead, deputies)
    if ends_on is not None and ends_on < starts_on:
        message = "截止日期不能早于起始日期。"
        raise errors.LiaisonInvalid(message, fields={"ends_on": [message]})
    with transaction.atomic():
        enterprise = Enterprise.objects.select_for_update().get(pk=enterprise_id)
        if not enterprise.active:
            raise errors.EnterpriseInactive()
        before = list(
            EnterpriseLiaison.objects.filter(
                enterprise_id=enterprise.pk, ended_at__isnull=True
            ).values_list("member_id", "role")
        )
        EnterpriseLiaison.objects.filter(enterprise_id=enterprise.pk, ended_at__isnull=True).update(
            ended_at=now
        )
        rows = [
            EnterpriseLiaison.objects.create(
                enterprise=enterprise,
                member=member,
                role=role,
                starts_on=starts_on,
                ends_on=ends_on,
                assigned_by=actor,
            )
            for member, role in [
                (lead, EnterpriseLiaison.Role.LEAD),
                *((deputy, EnterpriseLiaison.Role.DEPUTY) for deputy in deputies),
            ]
        ]
        record_event(
            actor=actor,
            verb="enterprise_liaisons_assigned",
            obj=enterprise,
            payload={
                "lead": lead.pk,
                "deputies": [deputy.pk for deputy in deputies],
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat() if ends_on else None,
                "replaced": [[member, role] for member, role in before],
            },
        )
        for row in rows:
            if (row.member_id, row.role) not in before:
                notifications.enterprise_assigned(enterprise, row)
    return rows
