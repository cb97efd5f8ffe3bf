"""The Celery wiring that needs no broker: the task, queueing after commit, the beat schedule.

The worker itself is tested in test_celery_worker.py (real Redis, real worker process).
"""

from __future__ import annotations

import logging
import time

import pytest
from celery import Celery
from django.db import transaction

from accounts import tasks
from accounts.audit import notify
from accounts.models import Notification
from tests import fake_wechat
from tests.factories import UserFactory


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", is_member=True, wechat_openid="openid-alice")


def test_the_drain_task_sends_through_the_outbox(wx, alice):
    rows = [notify(user=alice, kind="reminder", title=f"提醒 {n}") for n in range(2)]
    notify(user=alice, kind="welcome", title="欢迎")
    assert tasks.drain_outbox() == {"taken": 3, "sent": 2, "skipped": 1}
    assert {Notification.objects.get(pk=r.pk).status for r in rows} == {"sent"}
    assert tasks.drain_outbox.name == "accounts.tasks.drain_outbox"


def test_with_a_broker_notify_queues_one_drain_per_transaction(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/5"
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for n in range(3):
            notify(user=alice, kind="reminder", title=f"提醒 {n}")
    assert callbacks == [tasks._queue_drain]


def test_a_rolled_back_notify_queues_nothing(alice, settings, django_capture_on_commit_callbacks):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/5"
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify(user=alice, kind="reminder", title="不会发出")
        raise RuntimeError("the state change failed")
    assert callbacks == []
    assert not Notification.objects.exists()


def test_without_a_broker_notify_queues_nothing(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_BROKER_URL = ""
    with django_capture_on_commit_callbacks() as callbacks:
        notify(user=alice, kind="reminder", title="提醒")
    assert callbacks == []


def test_a_broker_that_is_down_does_not_hold_up_or_break_the_commit(caplog, monkeypatch):
    # The project's Celery settings, with a broker address where nothing listens (Celery lets
    # the CELERY_BROKER_URL environment variable win over its configuration).
    unreachable = "redis://127.0.0.1:9/0"
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    app = Celery("unreachable", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = unreachable
    previous = tasks.drain_outbox.app
    app.set_current()
    try:
        caplog.set_level(logging.WARNING, logger="accounts.tasks")
        started = time.monotonic()
        tasks._queue_drain()  # what on_commit runs; must not raise
        assert time.monotonic() - started < 3
    finally:
        previous.set_current()
    assert "could not queue drain_outbox: OperationalError" in caplog.text


def test_the_beat_schedule_drains_every_minute_and_names_the_services_tasks(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["drain-outbox"] == {"task": "accounts.tasks.drain_outbox", "schedule": 60.0}
    assert schedule["send-reminders"]["task"] == "services.tasks.send_reminders"
    assert schedule["expire-overdue"]["task"] == "services.tasks.expire_overdue"


def test_beat_leaves_out_entries_whose_task_is_not_defined(caplog):
    from backend.celery import app, drop_undefined_beat_entries

    caplog.set_level(logging.WARNING, logger="backend.celery")
    saved = app.conf.beat_schedule
    try:
        app.conf.beat_schedule = {
            "drain-outbox": {"task": "accounts.tasks.drain_outbox", "schedule": 60.0},
            "later": {"task": "services.tasks.not_written_yet", "schedule": 60.0},
        }
        assert drop_undefined_beat_entries(app) == ["later"]
        assert list(app.conf.beat_schedule) == ["drain-outbox"]
        assert "services.tasks.not_written_yet" in caplog.text
    finally:
        app.conf.beat_schedule = saved
