"""Celery tasks of services, scheduled by beat (see CELERY_BEAT_SCHEDULE in settings).

The same functions run from cron through ``manage.py send_reminders``, ``expire_overdue``,
``purge_personal_data``, ``notify_untriaged_intakes`` and ``notify_overdue_appeals``.
"""

from __future__ import annotations

from celery import shared_task

from services import idempotency, retention
from services.enterprises import appeals
from services.intake import sweep
from services.requests import expiry, reminders


@shared_task(name="services.tasks.send_reminders", ignore_result=True)
def send_reminders() -> int:
    """Queue reminders for places starting soon."""
    return reminders.send_reminders()


@shared_task(name="services.tasks.expire_overdue", ignore_result=True)
def expire_overdue() -> dict[str, int]:
    """Expire overdue claims and requests; forget old idempotency keys."""
    report = expiry.expire_overdue()
    return {
        "claims": report.claims,
        "promoted": report.promoted,
        "waitlisted": report.waitlisted,
        "requests": report.requests,
        "checked_out": report.checked_out,
        "idempotency_keys": idempotency.purge_expired(),
    }


@shared_task(name="services.tasks.purge_personal_data", ignore_result=True)
def purge_personal_data() -> dict[str, int]:
    """The retention job: forget contacts and check-in positions past the retention period."""
    report = retention.purge_personal_data()
    return {
        "requests": report.requests,
        "claims": report.claims,
        "events": report.request_events + report.claim_events,
        "attachments": report.attachments,
        "intakes": report.intakes,
        "enterprises": report.enterprises,
    }


@shared_task(name="services.tasks.notify_untriaged_intakes", ignore_result=True)
def notify_untriaged_intakes() -> int:
    """Tell the managers of residents' intakes left untriaged past INTAKE_TRIAGE_HOURS."""
    return sweep.notify_untriaged()


@shared_task(name="services.tasks.notify_overdue_appeals", ignore_result=True)
def notify_overdue_appeals() -> int:
    """Tell the 专员 and staff of enterprises' 诉求 past their due date (暖企)."""
    return appeals.notify_overdue()
