"""Reminders before a service starts: one outbox row per claimed place, never two.

A reminder changes no state, so it is not a workflow step; it only writes to the outbox. The
notification's unique ``dedupe_key`` (``reminder:claim:<id>``) makes "once per claim" hold even
when ``send_reminders`` runs from cron and from Celery beat at the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification
from services import notifications
from services.models import Claim, ServiceRequest


def reminder_key(claim_id: int) -> str:
    """The outbox dedupe key of a claim's reminder."""
    return f"reminder:claim:{claim_id}"


def send_reminders(*, now: datetime | None = None) -> int:
    """Queue a reminder for every claimed place starting within ``SERVICES_REMINDER_HOURS``.

    Returns how many reminders were queued by this call (already queued ones are skipped).
    """
    now = now or timezone.now()
    horizon = now + timedelta(hours=settings.SERVICES_REMINDER_HOURS)
    claims = list(
        Claim.objects.filter(
            status=Claim.Status.CLAIMED,
            request__status__in=[ServiceRequest.Status.OPEN, ServiceRequest.Status.FULL],
            request__starts_at__gt=now,
            request__starts_at__lte=horizon,
        )
        .select_related("request", "member")
        .order_by("request__starts_at", "id")
    )
    if not claims:
        return 0
    keys = {claim.pk: reminder_key(claim.pk) for claim in claims}
    already = set(
        Notification.objects.filter(dedupe_key__in=keys.values()).values_list(
            "dedupe_key", flat=True
        )
    )
    rows = [
        notifications.service_reminder(claim, key=keys[claim.pk])
        for claim in claims
        if keys[claim.pk] not in already
    ]
    if not rows:
        return 0
    with transaction.atomic():
        # A parallel run may insert the same keys between our read and this write; the unique
        # key makes the database drop those instead of failing the batch.
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        if settings.CELERY_BROKER_URL:
            from accounts.tasks import drain_after_commit

            drain_after_commit()
    return len(rows)
