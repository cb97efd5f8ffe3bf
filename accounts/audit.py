"""Writing the audit trail and the outbox; callers hold the transaction."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

from accounts.models import Event, Notification, User


def record_event(
    *,
    actor: User | None,
    verb: str,
    obj: models.Model,
    from_status: str = "",
    to_status: str = "",
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append one audit line for ``obj``."""
    return Event.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        verb=verb,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        from_status=from_status,
        to_status=to_status,
        payload=payload or {},
    )


def notify(
    *,
    user: User,
    kind: str,
    title: str,
    body: str = "",
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Queue one message to ``user`` in the caller's transaction (the outbox pattern)."""
    notification = Notification.objects.create(
        user=user, kind=kind, title=title, body=body, payload=payload or {}, dedupe_key=dedupe_key
    )
    if settings.CELERY_BROKER_URL:
        # Imported here: without a broker nothing needs Celery, and run_outbox sends the row.
        from accounts.tasks import drain_after_commit

        drain_after_commit()
    return notification
