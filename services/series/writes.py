"""Recurring services (周期服务): post a series, edit or cancel every future occurrence, claim
every future occurrence one can.

Each occurrence is an ordinary ServiceRequest linked to its series, made by ``create_request``
(every rule of a posted request, checked for each date) in one transaction: a plan with one bad
date writes nothing. Editing or cancelling one occurrence is the request's own PATCH or cancel;
"all future ones" runs ``update_requests`` / ``cancel_request`` over them, so each claimant is
told as for any request. Claiming every future occurrence is one ``claim_request`` per
occurrence — each claim checked and decided on its own (slots, conflicts, the invite window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import ApplicationError, InvalidInput
from accounts.models import User
from members.models import Specialty
from services import errors
from services.models import Campaign, ServiceRequest, ServiceSeries
from services.requests.claims import claim_request
from services.requests.transitions import resolve_now
from services.requests.writes import (
    cancel_request,
    create_request,
    resolve_station,
    update_requests,
)
from services.series.occurrences import MONTHLY, series_dates
from stations.geo import Point
from stations.models import Station, Village

Status = ServiceRequest.Status


def _at(day: date, start_time: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, start_time))


def plan_dates(
    *,
    frequency: str,
    weekdays: Sequence[int],
    starts_on: date,
    until: date | None,
    count: int | None,
    week_of_month: int | None,
) -> list[date]:
    """The dates of a plan, refused (400) when it makes none or more than the cap."""
    cap = settings.SERIES_MAX_OCCURRENCES
    dates = series_dates(
        frequency=frequency,
        weekdays=weekdays,
        starts_on=starts_on,
        until=until,
        count=count,
        cap=cap,
        week_of_month=week_of_month,
    )
    if len(dates) > cap:
        raise errors.SeriesTooLong(
            f"周期服务最多 {cap} 次，请缩短截止日期或减少次数。", extra={"max_occurrences": cap}
        )
    if not dates:
        message = "截止日期前没有符合所选星期的日期。"
        raise InvalidInput(message, fields={"until": [message]})
    return dates


def create_series(
    *,
    actor: User,
    campaign: Campaign,
    title: str,
    frequency: str,
    weekdays: Sequence[int],
    starts_on: date,
    start_time: time,
    duration_minutes: int,
    slots: int,
    until: date | None = None,
    count: int | None = None,
    week_of_month: int | None = None,
    station: Station | None = None,
    village: Village | None = None,
    description: str = "",
    specialties: Sequence[Specialty] = (),
    point: Point | None = None,
    address: str = "",
    contact_name: str = "",
    contact_phone: str = "",
    now: datetime | None = None,
) -> ServiceSeries:
    """A station (manager, liaison or staff, as for a request) posts a recurring service."""
    now = resolve_now(now)
    if frequency == MONTHLY and week_of_month is None:
        week_of_month = (starts_on.day - 1) // 7 + 1  # the n-th weekday the first date is
    dates = plan_dates(
        frequency=frequency,
        weekdays=weekdays,
        starts_on=starts_on,
        until=until,
        count=count,
        week_of_month=week_of_month,
    )
    length = timedelta(minutes=duration_minutes)
    owner = resolve_station(actor=actor, station=station, village=village)
    with transaction.atomic():
        series = ServiceSeries.objects.create(
            station=owner,
            village=village,
            campaign=campaign,
            title=title,
            frequency=frequency,
            weekdays=sorted(set(weekdays)),
            week_of_month=week_of_month if frequency == MONTHLY else None,
            starts_on=starts_on,
            start_time=start_time,
            duration_minutes=duration_minutes,
            until=until,
            count=count,
            created_by=actor,
        )
        for day in dates:
            starts_at = _at(day, start_time)
            try:
                create_request(
                    actor=actor,
                    campaign=campaign,
                    title=title,
                    starts_at=starts_at,
                    ends_at=starts_at + length,
                    slots=slots,
                    station=station,
                    village=village,
                    description=description,
                    specialties=specialties,
                    point=point,
                    address=address,
                    contact_name=contact_name,
                    contact_phone=contact_phone,
                    now=now,
                    series=series,
                )
            except InvalidInput as exc:
                # Name the date that broke the rule (the campaign's period, a year ahead ...).
                exc.detail = f"{day:%Y-%m-%d} 这一场：{exc.detail}"
                raise
        record_event(
            actor=actor,
            verb="series_created",
            obj=series,
            payload={"occurrences": len(dates), "frequency": frequency, "weekdays": weekdays},
        )
    series.refresh_from_db()
    return series


def future_occurrences(series: ServiceSeries, *, now: datetime) -> list[ServiceRequest]:
    """The occurrences not started yet that still change: open or full."""
    return list(
        series.occurrences.filter(
            starts_at__gt=now, status__in=[Status.OPEN, Status.FULL]
        ).order_by("starts_at", "id")
    )


# What an edit of every future occurrence may change; times as a new start time and length.
SERIES_EDITABLE = frozenset(
    {
        "title",
        "description",
        "address",
        "point",
        "slots",
        "contact_name",
        "contact_phone",
        "start_time",
        "duration_minutes",
    }
)


def update_series(
    *, actor: User, series_id: int, changes: dict[str, Any], now: datetime | None = None
) -> list[ServiceRequest]:
    """Apply ``changes`` to every future occurrence (one transaction: all or none); each
    occurrence's claimants and waitlist are told what changed, as for any request."""
    now = resolve_now(now)
    unknown = set(changes) - SERIES_EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    series = ServiceSeries.objects.get(pk=series_id)
    occurrences = future_occurrences(series, now=now)
    if not occurrences:
        raise errors.SeriesEnded()
    start_time = changes.get("start_time", series.start_time)
    minutes = changes.get("duration_minutes", series.duration_minutes)
    retimed = "start_time" in changes or "duration_minutes" in changes
    plain = {k: v for k, v in changes.items() if k not in ("start_time", "duration_minutes")}
    per_request: dict[int, dict[str, Any]] = {}
    for occurrence in occurrences:
        one = dict(plain)
        if retimed:
            starts_at = _at(timezone.localtime(occurrence.starts_at).date(), start_time)
            one["starts_at"] = starts_at
            one["ends_at"] = starts_at + timedelta(minutes=minutes)
        per_request[occurrence.pk] = one
    with transaction.atomic():
        updated = update_requests(actor=actor, changes=per_request, now=now)
        template = {
            k: v for k, v in changes.items() if k in ("title", "start_time", "duration_minutes")
        }
        if template:
            ServiceSeries.objects.filter(pk=series.pk).update(**template)
        record_event(
            actor=actor,
            verb="series_updated",
            obj=series,
            payload={"occurrences": sorted(updated), "fields": sorted(changes)},
        )
    return [updated[o.pk] for o in occurrences]


def cancel_series(
    *, actor: User, series_id: int, reason: str, now: datetime | None = None
) -> list[ServiceRequest]:
    """Cancel every future occurrence (one transaction); their claimants are told."""
    now = resolve_now(now)
    series = ServiceSeries.objects.get(pk=series_id)
    occurrences = future_occurrences(series, now=now)
    if not occurrences:
        raise errors.SeriesEnded()
    with transaction.atomic():
        cancelled = [
            cancel_request(actor=actor, request_id=o.pk, reason=reason, now=now)
            for o in sorted(occurrences, key=lambda o: o.pk)
        ]
        record_event(
            actor=actor,
            verb="series_cancelled",
            obj=series,
            payload={"occurrences": [o.pk for o in cancelled], "reason": reason},
        )
    return sorted(cancelled, key=lambda o: (o.starts_at, o.pk))


@dataclass
class SeriesClaims:
    """What claiming every future occurrence did: the claims made and why others were not."""

    claimed: list[Any] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def claim_series(*, user: User, series_id: int, now: datetime | None = None) -> SeriesClaims:
    """Claim every future occurrence that takes the member: one ``claim_request`` each, in
    time order, each its own transaction and checked on its own; a refusal (full, a time
    conflict with another task, already claimed, the invite window …) skips that one."""
    now = resolve_now(now)
    series = ServiceSeries.objects.get(pk=series_id)
    occurrences = future_occurrences(series, now=now)
    if not occurrences:
        raise errors.SeriesEnded()
    result = SeriesClaims()
    for occurrence in occurrences:
        try:
            result.claimed.append(claim_request(user=user, request_id=occurrence.pk, now=now))
        except ApplicationError as exc:
            if exc.status_code not in (403, 409):
                raise
            result.skipped.append(
                {
                    "request": occurrence.pk,
                    "starts_at": occurrence.starts_at,
                    "code": exc.code,
                    "detail": str(exc.detail),
                }
            )
    return result
