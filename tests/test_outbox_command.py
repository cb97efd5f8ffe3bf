"""``manage.py run_outbox``: ``--once`` for cron, and the loop that stops cleanly on a signal."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.audit import notify
from accounts.models import Notification
from tests import fake_wechat
from tests.factories import UserFactory
from tests.servers import point_at_test_database

ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(wechat_base: str, **extra: str) -> dict[str, str]:
    """The environment for a Django process that uses this test's database and fake WeChat."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONUNBUFFERED="1",
        WECHAT_APPID=fake_wechat.APPID,
        WECHAT_SECRET=fake_wechat.SECRET,
        WECHAT_API_BASE=wechat_base,
        WECHAT_TEMPLATE_REMINDER=fake_wechat.TEMPLATE_ID,
    )
    point_at_test_database(env)
    env.update(extra)
    return env


class Process:
    """A child process whose output lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None:
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} not seen; output so far:\n{''.join(self.output)}")

    def text(self) -> str:
        """Everything the process printed so far."""
        while True:
            try:
                self.output.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.output)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


def wait_until(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


def test_once_drains_what_is_due_and_exits(wx, db):
    user = UserFactory(wechat_openid="openid-cron")
    rows = [notify(user=user, kind="reminder", title=f"提醒 {n}") for n in range(3)]
    skipped = notify(user=user, kind="welcome", title="欢迎")
    out = StringIO()
    call_command("run_outbox", "--once", "--batch-size", "2", stdout=out)
    assert out.getvalue().strip() == "run_outbox: sent 3, skipped 1, taken 4"
    assert {Notification.objects.get(pk=r.pk).status for r in rows} == {Notification.Status.SENT}
    assert Notification.objects.get(pk=skipped.pk).status == Notification.Status.SKIPPED
    assert len(wx.delivered()) == 3


def test_once_with_nothing_due(wx, db):
    out = StringIO()
    call_command("run_outbox", "--once", stdout=out)
    assert out.getvalue().strip() == "run_outbox: nothing due"


@pytest.mark.django_db(transaction=True)
def test_the_loop_sends_rows_as_they_arrive_and_stops_on_sigterm(wx, httpserver):
    user = UserFactory(wechat_openid="openid-loop")
    env = subprocess_env(httpserver.url_for("").rstrip("/"))
    process = Process([sys.executable, "manage.py", "run_outbox", "--interval", "0.1"], env)
    try:
        process.wait_for("run_outbox: started")
        row = notify(user=user, kind="reminder", title="服务提醒")
        assert wait_until(
            lambda: Notification.objects.get(pk=row.pk).status == Notification.Status.SENT
        ), "the loop did not send the row"
        process.popen.send_signal(signal.SIGTERM)
        assert process.popen.wait(timeout=10) == 0
        process.wait_for("run_outbox: stopped", timeout=5)
    finally:
        process.stop()
    assert [send["body"]["touser"] for send in wx.delivered()] == ["openid-loop"]


@pytest.mark.django_db(transaction=True)
def test_the_loop_stops_cleanly_on_sigint(wx, httpserver):
    env = subprocess_env(httpserver.url_for("").rstrip("/"))
    process = Process([sys.executable, "manage.py", "run_outbox", "--interval", "30"], env)
    try:
        process.wait_for("run_outbox: started")
        started = time.monotonic()
        process.popen.send_signal(signal.SIGINT)
        assert process.popen.wait(timeout=10) == 0
        assert time.monotonic() - started < 5  # does not sit out the 30 s poll
        process.wait_for("run_outbox: stopped", timeout=5)
    finally:
        process.stop()
