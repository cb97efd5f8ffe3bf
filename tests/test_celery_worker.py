"""The Celery run mode end to end: a real Redis broker, a real worker (and beat) process, this
test's database and the fake WeChat server. Skipped unless CELERY_BROKER_URL is set; .ci/run's
Celery leg sets it, starting Redis when it is not up."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

import pytest
from django.db import transaction

from accounts.audit import notify
from accounts.models import Notification
from backend import request_id
from tests import fake_wechat
from tests.factories import UserFactory
from tests.test_outbox_command import Process, subprocess_env, wait_until

BROKER = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.celery,
    pytest.mark.skipif(not BROKER, reason="needs CELERY_BROKER_URL (a Redis broker)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


@pytest.fixture
def celery_env(wx, httpserver, tmp_path):
    return subprocess_env(
        httpserver.url_for("").rstrip("/"),
        CELERY_BROKER_URL=BROKER,
        CELERY_DRAIN_OUTBOX_SECONDS="1",
    )


def start(args: list[str], env: dict[str, str]) -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "backend", *args], env)


def shut_down(process: Process) -> None:
    """Warm shutdown (SIGTERM), as a service manager would; killed if it hangs."""
    if process.popen.poll() is None:
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout=20)
        finally:
            process.stop()


def sent(row: Notification) -> bool:
    return Notification.objects.get(pk=row.pk).status == Notification.Status.SENT


def test_a_committed_notify_is_sent_by_the_worker(wx, celery_env):
    user = UserFactory(wechat_openid="openid-celery")
    worker = start(
        ["worker", "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle"],
        celery_env,
    )
    try:
        # notify() queues drain_outbox on commit; the task waits in Redis until the worker is up.
        with transaction.atomic():
            row = notify(user=user, kind="reminder", title="明天 9:00 法律咨询")
        assert wait_until(lambda: sent(row), timeout=60), worker.text()
    finally:
        shut_down(worker)
    row.refresh_from_db()
    [delivery] = wx.delivered()
    assert delivery["body"]["touser"] == "openid-celery"
    assert row.provider_msgid == str(delivery["msgid"])
    assert row.attempts == 1


def test_beat_drains_rows_that_were_not_queued(wx, celery_env, tmp_path):
    # A row written without a queued task (e.g. its broker publish failed) is the case the
    # periodic drain exists for; beat here runs it every second (CELERY_DRAIN_OUTBOX_SECONDS).
    user = UserFactory(wechat_openid="openid-beat")
    row = Notification.objects.create(user=user, kind="reminder", title="安全网")
    worker = start(
        ["worker", "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle"],
        celery_env,
    )
    beat = start(["beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")], celery_env)
    try:
        assert wait_until(lambda: sent(row), timeout=60), beat.text() + worker.text()
    finally:
        shut_down(beat)
        shut_down(worker)
    assert [d["body"]["touser"] for d in wx.delivered()] == ["openid-beat"]


def test_the_request_id_rides_the_task_headers_into_the_worker(wx, celery_env):
    """A request's id reaches the worker: the task's own log line and the send's carry it."""
    user = UserFactory(wechat_openid="openid-request-id")
    # The shipped LOGGING (the test settings silence it), with the broker's Redis as the cache.
    env = {
        **celery_env,
        "DJANGO_SETTINGS_MODULE": "tests.process_settings",
        "LOG_FORMAT": "json",
        "REDIS_URL": BROKER,
    }
    worker = start(
        ["worker", "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle"],
        env,
    )
    try:
        with request_id.bound("celery-req-0001"), transaction.atomic():
            row = notify(user=user, kind="reminder", title="明天 9:00 法律咨询")
        assert row.request_id == "celery-req-0001"
        assert wait_until(lambda: sent(row), timeout=60), worker.text()
        assert wait_until(lambda: "drain_outbox" in worker.text(), timeout=10), worker.text()
    finally:
        shut_down(worker)
    lines = []
    for text in worker.text().splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(text))
    task_lines = [line for line in lines if line.get("logger") == "accounts.tasks"]
    assert task_lines and task_lines[0]["request_id"] == "celery-req-0001", worker.text()
    send_lines = [
        line
        for line in lines
        if line.get("logger") == "accounts.outbox" and f"notification {row.pk} " in line["message"]
    ]
    assert send_lines and send_lines[0]["request_id"] == "celery-req-0001", worker.text()
