"""The in-app notification list (站内通知): reading one's own notifications and marking them read.

Read marks are the reader's own view state, not a change to anything shared, so they leave no
audit Event. Every query is scoped to the user: another user's notification does not exist here.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound

from accounts.fields import MAX_ID
from accounts.models import Notification, User


def notifications_for(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    """``user``'s notifications, newest first; only unread (True) or only read (False)."""
    rows = Notification.objects.filter(user=user)
    if unread is not None:
        rows = rows.filter(read_at__isnull=unread)
    return rows.order_by("-created_at", "-id")


def unread_count(*, user: User) -> int:
    """How many of ``user``'s notifications are unread."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_mark_read(
    *, user: User, notification_id: int, now: datetime | None = None
) -> Notification:
    """Mark one of ``user``'s notifications read; marking it again keeps the first time."""
    if not 0 < notification_id <= MAX_ID:  # the URL takes any digits; the column is 64-bit
        raise NotFound("未找到该通知。")
    Notification.objects.filter(pk=notification_id, user=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("未找到该通知。")
    return notification


def notifications_mark_all_read(*, user: User, now: datetime | None = None) -> int:
    """Mark all of ``user``'s unread notifications read; how many were unread."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )
