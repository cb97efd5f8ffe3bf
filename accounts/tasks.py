"""Celery tasks of accounts: drain the outbox (after each commit that writes a notification,
and every minute from beat as a safety net). Imported only where Celery is installed."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from accounts import outbox

logger = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.drain_outbox", ignore_result=True)
def drain_outbox() -> dict[str, int]:
    """Send every notification that is due (the same code path as ``run_outbox``)."""
    report = dict(outbox.drain())
    # Under the request id of whoever queued the task (its message headers, backend/celery.py).
    logger.info("drain_outbox: %s", report or "nothing due")
    return report


def _queue_drain() -> None:
    try:
        # No publish retries: a broker that is down must not hold up the request that
        # committed; the row is safe in the outbox and beat's periodic drain sends it.
        drain_outbox.apply_async(retry=False)
    except Exception as exc:
        logger.warning("could not queue drain_outbox: %s", type(exc).__name__)


def drain_after_commit(using: str | None = None) -> None:
    """Queue one ``drain_outbox`` when the current transaction commits (once per transaction)."""
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and any(
        entry[1] is _queue_drain for entry in connection.run_on_commit
    ):
        return
    transaction.on_commit(_queue_drain, using=using)
