"""The outbox (发送箱): take due Notification rows one sender at a time, send, record the outcome.

Rows are written by :func:`accounts.audit.notify` in the transaction that causes them, so a
message exists exactly when its cause committed. Sending then goes:

1. **take** — a short transaction marks due rows ``sending``, ``attempts + 1`` and a lease
   (``next_attempt_at = now + OUTBOX_LEASE_SECONDS``). On PostgreSQL the rows are picked with
   ``SELECT ... FOR UPDATE SKIP LOCKED``; elsewhere (SQLite) each candidate is taken by a
   conditional ``UPDATE ... WHERE id = ? AND <still due>``, and only rows whose update count
   is 1 belong to this sender. Either way no two senders hold a row at once.
2. **renew, then send** — just before a row is sent its lease is renewed (``now +
   OUTBOX_LEASE_SECONDS``), fenced on the attempt this sender took: the lease covers the one
   send under way, not the whole batch, so a batch that takes longer than the lease (a slow
   WeChat) never lets a second sender take a row that is being sent. A row whose renewal finds it
   taken by another sender (its lease ran out while it waited in this batch) is skipped: that
   sender sends it. The send runs outside any transaction (a slow WeChat never holds a lock).
   The settings refuse a lease shorter than one send can take (backend/settings.py).
3. **finish** — ``sent`` (with WeChat's msgid and sent_at), ``skipped``, ``failed``, or back to
   ``pending`` with an exponential backoff until ``OUTBOX_MAX_ATTEMPTS``. The update is fenced
   on ``(status='sending', attempts)`` so a sender that lost its lease cannot overwrite the
   row's newer state — except a success, which is never thrown away.

Delivery is **at-least-once**: a sender that dies between send and finish leaves its row
``sending``; once the lease passes the row is due again and is resent. The row then keeps the
msgid of the last successful send. ``dedupe_key`` makes the *row* unique (one reminder per
claim); WeChat itself has no idempotency key, so a crash at that one moment can duplicate a
message, never lose one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import wechat_messages
from accounts.models import Notification
from accounts.wechat_messages import Delivery, Outcome
from backend import metrics, request_id

logger = logging.getLogger(__name__)

Status = Notification.Status


def due(now: datetime) -> Q:
    """Rows a sender may take at ``now``: pending and due, or sending with an expired lease."""
    pending = Q(status=Status.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    abandoned = Q(status=Status.SENDING, next_attempt_at__lte=now)
    return pending | abandoned


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed send: doubling, capped."""
    seconds = settings.OUTBOX_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.OUTBOX_BACKOFF_MAX_SECONDS))


def take_due(*, now: datetime | None = None, limit: int | None = None) -> list[Notification]:
    """Mark up to ``limit`` due rows ``sending`` for this sender and return them."""
    now = now or timezone.now()
    limit = limit or settings.OUTBOX_BATCH_SIZE
    taken_values = {
        "status": Status.SENDING,
        "attempts": F("attempts") + 1,
        "next_attempt_at": now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
    }
    candidates = Notification.objects.filter(due(now)).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
            )
            if ids:
                Notification.objects.filter(pk__in=ids).update(**taken_values)
    else:
        # No row locks here (SQLite): the WHERE of each UPDATE re-checks "still due" atomically,
        # so of two senders that read the same candidate only one updates it.
        ids = [
            pk
            for pk in list(candidates.values_list("pk", flat=True)[:limit])
            if Notification.objects.filter(due(now), pk=pk).update(**taken_values) == 1
        ]
    if not ids:
        return []
    return list(Notification.objects.filter(pk__in=ids).select_related("user").order_by("pk"))


def renew(notification: Notification, *, now: datetime | None = None) -> bool:
    """Lease a taken row again from ``now``, just before it is sent; False when another sender
    took it meanwhile (this sender must then not send it)."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    return bool(_held(notification).update(next_attempt_at=lease))


def _held(notification: Notification):
    """The row, only while this sender still holds it (fenced on the attempt it took)."""
    return Notification.objects.filter(
        pk=notification.pk, status=Status.SENDING, attempts=notification.attempts
    )


def finish(notification: Notification, delivery: Delivery, *, now: datetime | None = None) -> bool:
    """Record ``delivery`` on a row taken by :func:`take_due`; False when the lease was lost."""
    now = now or timezone.now()
    error = delivery.error[:200]
    if delivery.outcome == Outcome.SENT:
        values = {
            "status": Status.SENT,
            "provider_msgid": delivery.msgid[:64],
            "sent_at": now,
            "last_error": "",
            "next_attempt_at": None,
        }
        if _held(notification).update(**values):
            return True
        # Another sender took the row after our lease ran out. The message did go out, so say
        # so whatever that sender is doing; if it sends too, its msgid (the last) replaces ours.
        Notification.objects.filter(pk=notification.pk).update(**values)
        logger.warning("outbox: notification %s was sent after its lease ran out", notification.pk)
        return False
    if delivery.outcome == Outcome.SKIPPED:
        values = {"status": Status.SKIPPED, "last_error": error, "next_attempt_at": None}
    elif delivery.outcome == Outcome.FAILED:
        values = {"status": Status.FAILED, "last_error": error, "next_attempt_at": None}
    elif notification.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        values = {
            "status": Status.FAILED,
            "last_error": f"{error} (gave up after {notification.attempts} attempts)"[:200],
            "next_attempt_at": None,
        }
    else:
        values = {
            "status": Status.PENDING,
            "last_error": error,
            "next_attempt_at": now + backoff(notification.attempts),
        }
    if _held(notification).update(**values):
        return True
    logger.warning(
        "outbox: notification %s was taken over after its lease ran out; %s dropped",
        notification.pk,
        delivery.outcome,
    )
    return False


def release(notification: Notification) -> bool:
    """Give back a taken row that was not sent (the sender is stopping): due again at once."""
    return bool(
        _held(notification).update(
            status=Status.PENDING, attempts=F("attempts") - 1, next_attempt_at=None
        )
    )


def send_one(notification: Notification, *, now: datetime | None = None) -> Delivery:
    """Send a taken row; a bug in sending is a retry of that row, not the end of the drain."""
    try:
        return wechat_messages.deliver(notification, now=now)
    except Exception as exc:
        logger.exception("outbox: sending notification %s crashed", notification.pk)
        return Delivery(Outcome.RETRY, error=f"internal error: {type(exc).__name__}")


def drain(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Counter[str]:
    """Send every row that is due, batch by batch; counts of ``taken`` and each outcome.

    ``now`` fixes the clock (tests); ``should_stop`` is asked before each row, and rows taken
    but not yet sent when it says yes are given back.
    """
    report: Counter[str] = Counter()
    stopping = should_stop or (lambda: False)
    while not stopping():
        rows = take_due(now=now, limit=batch_size)
        if not rows:
            break
        for index, row in enumerate(rows):
            if stopping():
                for rest in rows[index:]:
                    release(rest)
                return report
            if not renew(row, now=now):
                # Its lease ran out while it waited in this batch and another sender has it.
                report["lost_lease"] += 1
                logger.warning("outbox: notification %s taken by another sender", row.pk)
                continue
            if row.attempts > settings.OUTBOX_MAX_ATTEMPTS:
                # Its last allowed attempt was taken and never finished (the sender died, maybe
                # because of this row): stop instead of taking it again every lease.
                delivery = Delivery(Outcome.FAILED, error="abandoned by its senders too often")
            else:
                with request_id.bound(row.request_id):  # the request that wrote the row
                    delivery = send_one(row, now=now)
            outcome = delivery.outcome.value
            if delivery.outcome == Outcome.RETRY and row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                outcome = Outcome.FAILED.value
            metrics.send_finished(outcome, delivery.error)
            if not finish(row, delivery, now=now):
                report["lost_lease"] += 1
            report["taken"] += 1
            report[outcome] += 1
            logger.info(
                "outbox: notification %s %s (attempt %s)",
                row.pk,
                delivery.outcome,
                row.attempts,
                extra={"request_id": row.request_id},
            )
    return report
