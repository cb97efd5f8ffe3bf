"""The follow-up sweep: tell a station's managers, once, about each intake left untriaged
past INTAKE_TRIAGE_HOURS (cron ``manage.py notify_untriaged_intakes`` or Celery beat).

Like the reminders it changes no state but a stamp: a conditional UPDATE of
``overdue_notified_at`` claims each intake before its notices are queued, in one transaction,
so two sweeps at once notify once (and the notices' dedupe keys hold it too). A referral
clears the stamp: the new station's managers are told in their turn.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from services import notifications
from services.intake.selectors import untriaged
from services.models import Intake


def notify_untriaged(*, now: datetime | None = None) -> int:
    """Queue the overdue notices; the number of intakes notified by this call."""
    now = now or timezone.now()
    hours = settings.INTAKE_TRIAGE_HOURS
    due = untriaged(None, now=now).filter(overdue_notified_at__isnull=True)
    notified = 0
    for intake in due.iterator():
        with transaction.atomic():
            claimed = Intake.objects.filter(
                pk=intake.pk, status=Intake.Status.NEW, overdue_notified_at__isnull=True
            ).update(overdue_notified_at=now)
            if claimed:
                notifications.intake_overdue(intake, hours=hours)
                notified += 1
    return notified
