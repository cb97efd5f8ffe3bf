"""The outbox: taking due rows, recording outcomes, retries with backoff, at-least-once after a
crash. Time is passed in as ``now``; nothing sleeps for a backoff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import outbox
from accounts.audit import notify
from accounts.models import Notification
from accounts.wechat_messages import Delivery, Outcome
from tests import fake_wechat
from tests.factories import UserFactory

Status = Notification.Status


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    settings.OUTBOX_MAX_ATTEMPTS = 4
    settings.OUTBOX_BACKOFF_SECONDS = 60
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 150
    settings.OUTBOX_LEASE_SECONDS = 300
    return fake_wechat.serve_subscribe(httpserver, settings)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", is_member=True, wechat_openid="openid-alice")


@pytest.fixture
def t0():
    return timezone.now()


def row_for(user, kind="reminder", **fields):
    return notify(
        user=user, kind=kind, title="明天 9:00 有服务", payload={"request_id": 1}, **fields
    )


def reload(row) -> Notification:
    row.refresh_from_db()
    return row


def test_a_due_row_is_sent_and_marked_with_the_msgid(wx, alice, t0):
    row = row_for(alice)
    report = outbox.drain(now=t0)
    assert report == {"taken": 1, "sent": 1}
    row = reload(row)
    assert row.status == Status.SENT
    assert row.provider_msgid == str(wx.delivered()[0]["msgid"])
    assert row.sent_at == t0
    assert row.attempts == 1
    assert row.next_attempt_at is None
    assert row.last_error == ""
    assert outbox.drain(now=t0 + timedelta(days=1)) == {}
    assert len(wx.sends) == 1


def test_drain_sends_every_due_row_across_batches(wx, alice, t0):
    rows = [row_for(alice) for _ in range(7)]
    report = outbox.drain(now=t0, batch_size=3)
    assert report == {"taken": 7, "sent": 7}
    assert {reload(r).status for r in rows} == {Status.SENT}
    assert len(wx.token_calls) == 1


def test_rows_not_yet_due_or_finished_are_not_taken(wx, alice, t0):
    later = row_for(alice)
    Notification.objects.filter(pk=later.pk).update(next_attempt_at=t0 + timedelta(minutes=5))
    for status in (Status.SENT, Status.SKIPPED, Status.FAILED):
        Notification.objects.filter(pk=row_for(alice).pk).update(status=status)
    leased = row_for(alice)
    Notification.objects.filter(pk=leased.pk).update(
        status=Status.SENDING, next_attempt_at=t0 + timedelta(seconds=1)
    )
    assert outbox.take_due(now=t0) == []
    assert [r.pk for r in outbox.take_due(now=t0 + timedelta(minutes=5))] == [later.pk, leased.pk]


def test_taking_marks_sending_with_a_lease_and_counts_the_attempt(wx, alice, t0):
    row = row_for(alice)
    [taken] = outbox.take_due(now=t0)
    assert taken.pk == row.pk
    assert taken.status == Status.SENDING
    assert taken.attempts == 1
    assert taken.next_attempt_at == t0 + timedelta(seconds=300)
    # Held: nobody else takes it, on this or any other sender.
    assert outbox.take_due(now=t0 + timedelta(seconds=299)) == []


def test_the_conditional_take_updates_only_a_row_that_is_still_due(wx, alice, t0):
    row = row_for(alice)
    values = {"status": Status.SENDING, "next_attempt_at": t0 + timedelta(seconds=300)}
    first = Notification.objects.filter(outbox.due(t0), pk=row.pk).update(**values)
    second = Notification.objects.filter(outbox.due(t0), pk=row.pk).update(**values)
    assert (first, second) == (1, 0)


def test_a_kind_without_template_is_skipped_and_stays_in_the_list(wx, alice, t0):
    row = row_for(alice, kind="welcome")
    assert outbox.drain(now=t0) == {"taken": 1, "skipped": 1}
    row = reload(row)
    assert row.status == Status.SKIPPED
    assert "模板" in row.last_error
    assert wx.sends == []


def test_a_user_without_openid_is_skipped(wx, db, t0):
    row = row_for(UserFactory(is_member=True))
    outbox.drain(now=t0)
    assert reload(row).status == Status.SKIPPED
    assert reload(row).last_error == "接收人未绑定微信"


def test_43101_is_skipped_and_not_retried(wx, alice, t0):
    wx.script("openid-alice", 43101)
    row = row_for(alice)
    assert outbox.drain(now=t0) == {"taken": 1, "skipped": 1}
    row = reload(row)
    assert row.status == Status.SKIPPED
    assert row.last_error.startswith("errcode 43101")
    assert outbox.drain(now=t0 + timedelta(days=1)) == {}
    assert len(wx.sends) == 1


def test_40003_fails_permanently(wx, alice, t0):
    wx.script("openid-alice", 40003)
    row = row_for(alice)
    assert outbox.drain(now=t0) == {"taken": 1, "failed": 1}
    row = reload(row)
    assert (row.status, row.attempts, row.next_attempt_at) == (Status.FAILED, 1, None)
    assert row.last_error.startswith("errcode 40003")
    assert outbox.drain(now=t0 + timedelta(days=1)) == {}


@pytest.mark.parametrize("reply", [-1, fake_wechat.HTTP_500, fake_wechat.NOT_JSON])
def test_transient_errors_retry_with_exponential_backoff_then_fail(wx, alice, t0, reply):
    wx.script("openid-alice", reply, reply, reply, reply, reply)
    row = row_for(alice)
    expected_waits = [60, 120, 150]  # doubling from 60 s, capped at 150 s
    now = t0
    for attempt, wait in enumerate(expected_waits, start=1):
        assert outbox.drain(now=now) == {"taken": 1, "retry": 1}
        row = reload(row)
        assert (row.status, row.attempts) == (Status.PENDING, attempt)
        assert row.next_attempt_at == now + timedelta(seconds=wait)
        assert row.last_error
        # Not due a second early.
        assert outbox.drain(now=row.next_attempt_at - timedelta(seconds=1)) == {}
        now = row.next_attempt_at
    # The fourth attempt is the last (OUTBOX_MAX_ATTEMPTS = 4).
    assert outbox.drain(now=now) == {"taken": 1, "failed": 1}
    row = reload(row)
    assert (row.status, row.attempts, row.next_attempt_at) == (Status.FAILED, 4, None)
    assert "gave up after 4 attempts" in row.last_error
    assert outbox.drain(now=now + timedelta(days=1)) == {}
    assert len(wx.sends) == 4


def test_a_retry_that_then_succeeds_is_sent(wx, alice, t0):
    wx.script("openid-alice", -1)
    row = row_for(alice)
    outbox.drain(now=t0)
    assert outbox.drain(now=t0 + timedelta(seconds=60)) == {"taken": 1, "sent": 1}
    row = reload(row)
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert row.provider_msgid == str(wx.delivered()[0]["msgid"])


def test_a_timeout_is_retried(wx, alice, t0, settings):
    settings.WECHAT_TIMEOUT = 0.2
    wx.slow_seconds = 0.4
    wx.script("openid-alice", fake_wechat.SLOW)
    row = row_for(alice)
    assert outbox.drain(now=t0) == {"taken": 1, "retry": 1}
    assert "TimeoutError" in reload(row).last_error


def test_a_refused_token_is_refreshed_inside_one_attempt(wx, alice, t0):
    outbox.drain(now=t0)
    wx.revoke_token()
    row = row_for(alice)
    assert outbox.drain(now=t0) == {"taken": 1, "sent": 1}
    assert reload(row).attempts == 1


def test_one_bad_row_does_not_stop_the_others(wx, alice, db, t0):
    wx.script("openid-alice", 40003)
    bad = row_for(alice)
    good = [row_for(UserFactory(wechat_openid=f"openid-{n}")) for n in range(3)]
    assert outbox.drain(now=t0) == {"taken": 4, "failed": 1, "sent": 3}
    assert reload(bad).status == Status.FAILED
    assert {reload(r).status for r in good} == {Status.SENT}


def test_a_crash_between_send_and_mark_is_resent_after_the_lease(wx, alice, t0):
    """At-least-once: the sender dies after WeChat accepted the message but before marking
    the row sent. The row stays ``sending`` until its lease passes, then it is sent again and
    keeps the msgid of that last successful send."""
    row = row_for(alice)
    [taken] = outbox.take_due(now=t0)
    first = outbox.send_one(taken, now=t0)  # WeChat accepts it ... and the process dies here.
    assert first.outcome == Outcome.SENT
    assert reload(row).status == Status.SENDING

    assert outbox.drain(now=t0 + timedelta(seconds=299)) == {}  # the lease still holds
    assert outbox.drain(now=t0 + timedelta(seconds=300)) == {"taken": 1, "sent": 1}
    row = reload(row)
    assert (row.status, row.attempts) == (Status.SENT, 2)
    deliveries = wx.delivered()
    assert len(deliveries) == 2  # the duplicate at-least-once allows
    assert row.provider_msgid == str(deliveries[-1]["msgid"]) != first.msgid
    assert row.sent_at == t0 + timedelta(seconds=300)


def test_a_row_whose_senders_keep_dying_fails_after_max_attempts(wx, alice, t0):
    row = row_for(alice)
    now = t0
    for _ in range(4):  # OUTBOX_MAX_ATTEMPTS takes, none of them finished
        assert len(outbox.take_due(now=now)) == 1
        now += timedelta(seconds=300)
    assert outbox.drain(now=now) == {"taken": 1, "failed": 1}
    row = reload(row)
    assert (row.status, row.attempts) == (Status.FAILED, 5)
    assert row.last_error == "abandoned by its senders too often"
    assert wx.sends == []


def test_a_stale_sender_cannot_overwrite_the_new_owner(wx, alice, t0):
    row = row_for(alice)
    [stale] = outbox.take_due(now=t0)
    [fresh] = outbox.take_due(now=t0 + timedelta(seconds=300))  # the lease ran out
    assert (stale.attempts, fresh.attempts) == (1, 2)
    # The stale sender's failure is dropped ...
    assert outbox.finish(stale, Delivery(Outcome.FAILED, error="x"), now=t0) is False
    assert reload(row).status == Status.SENDING
    # ... the new owner's result counts.
    assert outbox.finish(fresh, Delivery(Outcome.SENT, msgid="222"), now=t0) is True
    assert (reload(row).status, reload(row).provider_msgid) == (Status.SENT, "222")


def test_a_late_success_is_never_lost_and_the_last_msgid_is_kept(wx, alice, t0):
    row = row_for(alice)
    [stale] = outbox.take_due(now=t0)
    [fresh] = outbox.take_due(now=t0 + timedelta(seconds=300))
    # The slow first sender did get through: the row is sent even though it lost the lease.
    assert outbox.finish(stale, Delivery(Outcome.SENT, msgid="111"), now=t0) is False
    assert (reload(row).status, reload(row).provider_msgid) == (Status.SENT, "111")
    # The second sender's failure does not undo that; its success would replace the msgid.
    assert outbox.finish(fresh, Delivery(Outcome.RETRY, error="busy"), now=t0) is False
    assert reload(row).status == Status.SENT
    assert outbox.finish(fresh, Delivery(Outcome.SENT, msgid="222"), now=t0) is False
    assert reload(row).provider_msgid == "222"


def test_a_stopping_sender_gives_back_rows_it_has_not_sent(wx, alice, t0):
    rows = [row_for(alice) for _ in range(3)]
    asked = []

    def stop_after_one() -> bool:
        asked.append(1)
        return len(asked) > 2  # the loop asks once before taking, then before each row

    report = outbox.drain(now=t0, should_stop=stop_after_one)
    assert report == {"taken": 1, "sent": 1}
    statuses = [(reload(r).status, reload(r).attempts) for r in rows]
    assert statuses == [(Status.SENT, 1), (Status.PENDING, 0), (Status.PENDING, 0)]
    assert outbox.drain(now=t0) == {"taken": 2, "sent": 2}


def test_a_crash_inside_the_sender_is_a_retry_of_that_row(wx, db, t0, settings):
    # A template whose data is not a mapping is a configuration bug, not a reason to stop.
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {"reminder": {"template_id": "t", "data": ["oops"]}}
    row = row_for(UserFactory(wechat_openid="openid-x"))
    assert outbox.drain(now=t0) == {"taken": 1, "retry": 1}
    assert reload(row).last_error == "internal error: AttributeError"


def test_backoff_doubles_and_is_capped(settings):
    settings.OUTBOX_BACKOFF_SECONDS = 30
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 3600
    assert [outbox.backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_the_take_path_matches_the_database(db):
    # PostgreSQL takes with FOR UPDATE SKIP LOCKED; SQLite with conditional UPDATEs.
    skip_locked = connection.features.has_select_for_update_skip_locked
    assert skip_locked == (connection.vendor == "postgresql")
