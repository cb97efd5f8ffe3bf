"""Personal data retention: purge_personal_data forgets contacts and check-in positions of
requests that ended long ago, keeps everything else, and can run any number of times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import Event
from services.models import Claim, ServiceRecord, ServiceRequest
from services.retention import VERB, purge_personal_data
from tests.factories import ClaimFactory, ServiceRecordFactory, ServiceRequestFactory


def _ended(days_ago: int, world, **kwargs) -> ServiceRequest:
    ends = timezone.now() - timedelta(days=days_ago)
    return ServiceRequestFactory(
        station=world.station,
        starts_at=ends - timedelta(hours=3),
        ends_at=ends,
        status=ServiceRequest.Status.VERIFIED,
        **kwargs,
    )


def _checked_in(service_request, member) -> Claim:
    claim = ClaimFactory(
        request=service_request,
        member=member,
        status=Claim.Status.DONE,
        checked_in_at=service_request.starts_at,
        check_in_lat=30.0201,
        check_in_lng=122.1052,
        check_in_distance_m=42.5,
    )
    record_event(
        actor=member.user,
        verb="claim_checked_in",
        obj=claim,
        from_status="claimed",
        to_status="checked_in",
        payload={
            "request": service_request.pk,
            "lat": 30.0201,
            "lng": 122.1052,
            "distance_m": 42.5,
        },
    )
    return claim


def _contact_edit(service_request, actor) -> Event:
    return record_event(
        actor=actor,
        verb="request_updated",
        obj=service_request,
        payload={
            "changed": {
                "contact_phone": ["13900000000", "13900009999"],
                "title": ["旧标题", service_request.title],
            }
        },
    )


@pytest.fixture
def rows(world):
    """An old request (ended 200 days ago) and a recent one (10 days), each with a check-in,
    an edit of the contact, and a verified record."""
    old = _ended(200, world, contact_name="张联系", contact_phone="13900009999")
    recent = _ended(10, world, contact_name="李联系", contact_phone="13900008888")
    data = {}
    for name, service_request in (("old", old), ("recent", recent)):
        claim = _checked_in(service_request, world.alice)
        edit = _contact_edit(service_request, world.mary)
        record = ServiceRecordFactory(
            request=service_request, people_served=25, participants=[claim]
        )
        data[name] = {"request": service_request, "claim": claim, "edit": edit, "record": record}
    return data


def _snapshot(row: dict) -> dict:
    service_request = ServiceRequest.objects.get(pk=row["request"].pk)
    claim = Claim.objects.get(pk=row["claim"].pk)
    record = ServiceRecord.objects.get(pk=row["record"].pk)
    return {
        "request": (
            service_request.status,
            service_request.slots,
            service_request.claimed,
            service_request.updated_at,
            service_request.title,
        ),
        "claim": (claim.status, claim.check_in_distance_m, claim.checked_in_at),
        "record": (record.status, record.people_served, record.participants_count),
    }


def test_it_purges_old_contacts_and_positions_and_keeps_counts(world, rows):
    before = {name: _snapshot(row) for name, row in rows.items()}
    report = purge_personal_data()
    assert (report.requests, report.claims, report.request_events, report.claim_events) == (
        1,
        1,
        1,
        1,
    )

    old = ServiceRequest.objects.get(pk=rows["old"]["request"].pk)
    assert (old.contact_name, old.contact_phone) == ("", "")
    old_claim = Claim.objects.get(pk=rows["old"]["claim"].pk)
    assert (old_claim.check_in_lat, old_claim.check_in_lng) == (None, None)
    # Counts, distances, states and times are all still there.
    assert {name: _snapshot(row) for name, row in rows.items()} == before

    # The audit trail keeps what happened, not the values.
    edit = Event.objects.get(pk=rows["old"]["edit"].pk)
    assert edit.payload == {
        "changed": {"title": ["旧标题", old.title]},
        "purged": ["contact_phone"],
    }
    check_in = Event.objects.get(verb="claim_checked_in", object_id=str(old_claim.pk))
    assert check_in.payload == {
        "request": old.pk,
        "distance_m": 42.5,
        "purged": ["lat", "lng"],
    }

    # The recent request is untouched.
    recent = ServiceRequest.objects.get(pk=rows["recent"]["request"].pk)
    assert (recent.contact_name, recent.contact_phone) == ("李联系", "13900008888")
    recent_claim = Claim.objects.get(pk=rows["recent"]["claim"].pk)
    assert (recent_claim.check_in_lat, recent_claim.check_in_lng) == (30.0201, 122.1052)
    assert "contact_phone" in Event.objects.get(pk=rows["recent"]["edit"].pk).payload["changed"]
    assert (
        "lat" in Event.objects.get(verb="claim_checked_in", object_id=str(recent_claim.pk)).payload
    )

    [summary] = Event.objects.filter(verb=VERB)
    assert summary.actor is None
    assert summary.object_id == "*"
    assert summary.payload["requests"] == 1 and summary.payload["claims"] == 1
    assert summary.payload["retention_days"] == 180


def test_a_second_run_changes_nothing_and_leaves_no_event(world, rows):
    purge_personal_data()
    events = Event.objects.count()
    report = purge_personal_data()
    assert report.total == 0
    assert Event.objects.count() == events


def test_a_dry_run_counts_and_writes_nothing(world, rows):
    events = list(Event.objects.values_list("id", "payload"))
    report = purge_personal_data(dry_run=True)
    assert (report.requests, report.claims, report.request_events, report.claim_events) == (
        1,
        1,
        1,
        1,
    )
    assert list(Event.objects.values_list("id", "payload")) == events
    old = ServiceRequest.objects.get(pk=rows["old"]["request"].pk)
    assert old.contact_phone == "13900009999"
    assert Claim.objects.get(pk=rows["old"]["claim"].pk).check_in_lat == 30.0201


def test_days_moves_the_cutoff_and_batches_cover_every_row(world, rows):
    more = [_ended(20, world) for _ in range(4)]
    report = purge_personal_data(days=5, batch_size=2)
    assert report.requests == 2 + len(more)
    assert not ServiceRequest.objects.exclude(contact_phone="").exists()
    assert not Claim.objects.filter(check_in_lat__isnull=False).exists()
    assert report.claim_events == 2 and report.request_events == 2


def test_a_request_still_running_keeps_its_contact(world):
    running = ServiceRequestFactory(station=world.station)
    assert purge_personal_data(days=1).total == 0
    running.refresh_from_db()
    assert running.contact_phone == "13900009999"


def test_the_command_reports_and_honours_dry_run(world, rows, capsys):
    call_command("purge_personal_data", "--dry-run")
    assert "将清除" in capsys.readouterr().out
    assert ServiceRequest.objects.exclude(contact_phone="").count() == 2
    call_command("purge_personal_data", "--days", "365")
    assert "已清除" in capsys.readouterr().out
    assert ServiceRequest.objects.exclude(contact_phone="").count() == 2
    call_command("purge_personal_data")
    out = capsys.readouterr().out
    assert "联系人信息 1 条需求" in out and "签到坐标 1 条认领" in out
    assert ServiceRequest.objects.exclude(contact_phone="").count() == 1


def test_the_command_refuses_days_below_one(world):
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        call_command("purge_personal_data", "--days", "0")
