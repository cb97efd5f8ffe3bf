"""Reads of the intake: who may see which intakes, the queue, the overdue list, the figures."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_staff
from services.models import Intake
from stations.selectors import managed_station_ids, manages_station


def may_manage_station(user: User, station_id: int) -> bool:
    """The station's managers and staff handle its codes and its intakes."""
    return bool(user.is_authenticated) and (is_staff(user) or manages_station(user, station_id))


def visible_intakes(user: User) -> QuerySet[Intake]:
    """Staff see every intake; a station's managers their stations'; nobody else any."""
    intakes = Intake.objects.select_related(
        "station", "village", "specialty", "request"
    ).prefetch_related("photos")
    if not user.is_authenticated:
        return intakes.none()
    if is_staff(user):
        return intakes
    return intakes.filter(station_id__in=managed_station_ids(user))


def queue(user: User, *, status: str | None = None, station: int | None = None):
    """The user's intakes, oldest in the queue first."""
    intakes = visible_intakes(user)
    if status:
        intakes = intakes.filter(status=status)
    if station:
        intakes = intakes.filter(station_id=station)
    return intakes.order_by("queued_at", "id")


def untriaged(user: User | None, *, now: datetime, hours: int | None = None) -> QuerySet[Intake]:
    """New intakes waiting in their station's queue for longer than ``hours``."""
    hours = hours or settings.INTAKE_TRIAGE_HOURS
    intakes = visible_intakes(user) if user is not None else Intake.objects.all()
    return intakes.filter(
        status=Intake.Status.NEW, queued_at__lt=now - timedelta(hours=hours)
    ).order_by("queued_at", "id")


def triage_figures(intakes: QuerySet[Intake], *, now: datetime) -> dict:
    """Counts per status, the time to triage (submission to first decision, hours: median
    and mean) and how many wait past INTAKE_TRIAGE_HOURS."""
    by_status = dict.fromkeys(Intake.Status.values, 0)
    for value in intakes.values_list("status", flat=True):
        by_status[value] += 1
    waits = [
        (triaged - created).total_seconds() / 3600
        for created, triaged in intakes.filter(triaged_at__isnull=False).values_list(
            "created_at", "triaged_at"
        )
    ]
    overdue = intakes.filter(
        status=Intake.Status.NEW,
        queued_at__lt=now - timedelta(hours=settings.INTAKE_TRIAGE_HOURS),
    ).count()
    return {
        "intakes": sum(by_status.values()),
        "by_status": by_status,
        "triaged": len(waits),
        "triage_hours_median": round(statistics.median(waits), 1) if waits else None,
        "triage_hours_mean": round(statistics.fmean(waits), 1) if waits else None,
        "untriaged_overdue": overdue,
    }
