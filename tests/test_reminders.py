"""Reminders: one per claimed place starting soon, however often and however parallel the runs."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Notification
from services.models import Claim
from services.requests.reminders import reminder_key, send_reminders
from tests.factories import ClaimFactory, ServiceRequestFactory


def starting_in(world, hours: float):
    return ServiceRequestFactory(
        station=world.station,
        starts_at=timezone.now() + timedelta(hours=hours),
        title=f"{hours} 小时后的法律咨询",
        address="昌国街道文化礼堂",
    )


def test_it_reminds_each_claimant_once(world, settings):
    settings.SERVICES_REMINDER_HOURS = 24
    soon = starting_in(world, 10)
    alice = ClaimFactory(request=soon, member=world.alice)
    bob = ClaimFactory(request=soon, member=world.bob)

    assert send_reminders() == 2
    assert send_reminders() == 0

    rows = Notification.objects.filter(kind="reminder").order_by("id")
    assert [row.user_id for row in rows] == [world.alice.user_id, world.bob.user_id]
    assert [row.dedupe_key for row in rows] == [reminder_key(alice.pk), reminder_key(bob.pk)]
    first = rows[0]
    assert first.title == "服务提醒：10 小时后的法律咨询"
    assert "昌国街道文化礼堂" in first.body
    assert first.payload["request_id"] == soon.pk
    assert first.payload["claim_id"] == alice.pk
    assert first.status == Notification.Status.PENDING


def test_it_skips_places_outside_the_window_or_not_held(world, settings):
    settings.SERVICES_REMINDER_HOURS = 24
    ClaimFactory(request=starting_in(world, 30), member=world.alice)  # too far ahead
    ClaimFactory(request=starting_in(world, 5), member=world.bob, status=Claim.Status.CANCELLED)
    ClaimFactory(
        request=starting_in(world, 6), member=world.charlie, status=Claim.Status.WAITLISTED
    )
    assert send_reminders() == 0
    assert not Notification.objects.exists()


def test_a_later_window_picks_up_new_claims(world, settings):
    settings.SERVICES_REMINDER_HOURS = 24
    request = starting_in(world, 30)
    ClaimFactory(request=request, member=world.alice)
    assert send_reminders() == 0
    assert send_reminders(now=timezone.now() + timedelta(hours=7)) == 1


def test_command_reports_count(world, settings):
    settings.SERVICES_REMINDER_HOURS = 24
    ClaimFactory(request=starting_in(world, 3), member=world.alice)
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert "1" in out.getvalue()
    assert Notification.objects.filter(kind="reminder").count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_write_one_reminder_per_claim(world, settings):
    settings.SERVICES_REMINDER_HOURS = 24
    request = starting_in(world, 4)
    claims = [ClaimFactory(request=request, member=m) for m in (world.alice, world.bob)]
    barrier = threading.Barrier(6)
    errors: list[Exception] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            send_reminders()
        except Exception as exc:  # re-raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    keys = list(Notification.objects.values_list("dedupe_key", flat=True))
    assert sorted(keys) == sorted(reminder_key(c.pk) for c in claims)


def test_celery_tasks_are_the_scheduled_names():
    from services import tasks

    assert tasks.send_reminders.name == "services.tasks.send_reminders"
    assert tasks.expire_overdue.name == "services.tasks.expire_overdue"
