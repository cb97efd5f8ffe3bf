"""Senders in parallel (real threads, real connections, the fake WeChat server) never send one
row twice. PostgreSQL takes rows with FOR UPDATE SKIP LOCKED; SQLite with conditional UPDATEs."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from accounts import outbox
from accounts.audit import notify
from accounts.models import Notification
from tests import fake_wechat
from tests.factories import UserFactory
from tests.test_claim_concurrency import row_locked

pytestmark = pytest.mark.django_db(transaction=True)

on_postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) exist on PostgreSQL only"
)

SENDERS = 4
ROWS = 60


def run_in_threads(target, count: int) -> list:
    """Run ``target(index)`` in ``count`` threads at once; their results, or their errors."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:  # re-raised in the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sender hung"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    fake = fake_wechat.serve_subscribe(httpserver, settings)
    fake.delay_seconds = 0.05  # sends take a moment, so every sender gets rows even under load
    # The fake answers one request at a time: four senders queue behind each other, and on a
    # loaded machine the suite's 1 s timeout would turn a slow answer into a retry (the row is
    # then sent once, as it must, but counted as not sent yet).
    settings.WECHAT_TIMEOUT = 10.0
    return fake


def test_parallel_senders_never_send_one_row_twice(wx):
    users = [UserFactory(wechat_openid=f"openid-{n}") for n in range(6)]
    rows = [
        notify(user=users[n % len(users)], kind="reminder", title=f"服务提醒 {n}")
        for n in range(ROWS)
    ]

    reports = run_in_threads(lambda index: outbox.drain(batch_size=3), SENDERS)

    per_row = Counter(send["body"]["page"] for send in wx.sends)
    assert len(per_row) == ROWS
    assert set(per_row.values()) == {1}, [page for page, n in per_row.items() if n > 1]
    assert sum(report["sent"] for report in reports) == ROWS
    assert sum(report["taken"] for report in reports) == ROWS
    assert sum(1 for report in reports if report["sent"]) >= 2, reports  # really in parallel
    statuses = Counter(
        Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", "attempts")
    )
    assert statuses == {(Notification.Status.SENT, 1): ROWS}


def test_parallel_takes_split_the_rows_between_senders(wx):
    user = UserFactory(wechat_openid="openid-x")
    rows = [notify(user=user, kind="reminder", title=f"提醒 {n}") for n in range(ROWS)]
    now = timezone.now()

    taken = run_in_threads(
        lambda index: [row.pk for row in outbox.take_due(now=now, limit=ROWS)], SENDERS
    )

    all_taken = [pk for batch in taken for pk in batch]
    assert sorted(all_taken) == sorted(row.pk for row in rows)  # each row by exactly one
    assert Notification.objects.filter(status=Notification.Status.SENDING).count() == ROWS


@pytest.mark.postgres
@on_postgres_only
def test_a_row_locked_by_another_sender_is_skipped_without_waiting(wx):
    user = UserFactory(wechat_openid="openid-x")
    locked_row = notify(user=user, kind="reminder", title="被锁定")
    free_row = notify(user=user, kind="reminder", title="空闲")
    with row_locked(Notification.objects.filter(pk=locked_row.pk), hold=10):
        started = time.monotonic()
        taken = outbox.take_due()
        assert time.monotonic() - started < 2  # SKIP LOCKED: no waiting on the held row
        assert [row.pk for row in taken] == [free_row.pk]
    assert [row.pk for row in outbox.take_due()] == [locked_row.pk]
