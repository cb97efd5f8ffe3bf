"""The console's review queue (/console/records/, docs/console.md): submitted records of my
stations with photos, hours per participant and anomaly flags; approve with corrected hours or
reject through ``verify_record``, with CSRF, the API's permissions and Chinese errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from accounts.models import Event
from services.models import Claim, PointEntry, ServiceHours, ServiceRecord
from services.records.attachments import add_attachments
from tests import attachments_fixtures, records_fixtures
from tests.attachments_fixtures import jpeg_with_exif, submitted, upload
from tests.console_fixtures import CONSOLE, desk, post, text

pytestmark = pytest.mark.django_db

rules = records_fixtures.rules
service = records_fixtures.service
attachment_root = attachments_fixtures.attachment_root

QUEUE = f"{CONSOLE}records/"


def record_url(record, suffix="") -> str:
    return f"{QUEUE}{record.pk}/{suffix}"


@pytest.fixture
def record(service, world, attachment_root) -> ServiceRecord:
    """alice's record of the service, with one photo taken on site during the service."""
    found = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at + timedelta(minutes=30),
        lat=service.request.lat,
        lng=service.request.lng,
    )
    add_attachments(user=world.alice.user, record_id=found.pk, uploads=[upload("a.jpg", photo)])
    found.refresh_from_db()
    return found


def verify(client, record, **fields):
    return post(client, record_url(record, "verify/"), fields)


def test_the_queue_shows_my_stations_submitted_records_only(world, record):
    assert [r.pk for r in desk(world.mary).get(QUEUE).context["rows"]] == [record.pk]
    assert list(desk(world.oscar).get(QUEUE).context["rows"]) == []
    assert [r.pk for r in desk(world.sam).get(QUEUE).context["rows"]] == [record.pk]
    assert desk(world.oscar).get(record_url(record)).status_code == 404


def test_members_and_anonymous_are_kept_out(world, record):
    assert desk(world.alice.user).get(record_url(record)).status_code == 403
    response = desk().get(record_url(record))
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_the_record_page_shows_photos_hours_and_flags(world, record, service):
    client = desk(world.mary)
    page = client.get(record_url(record))
    assert page.status_code == 200
    photos = page.context["photos"]
    assert len(photos) == 1 and photos[0]["taken"]
    # The signed thumbnail link serves the image.
    image = Client().get(photos[0]["thumbnail_url"])
    assert image.status_code == 200 and image["Content-Type"].startswith("image/")
    names = [p["name"] for p in page.context["participants"]]
    assert names == ["王丽", "鲍勃"]
    assert page.context["max_minutes"] > 0
    html = text(page)
    assert "核实通过" in html and "退回" in html


def test_approving_with_a_corrected_hour_calls_verify_record(world, record, service):
    client = desk(world.mary)
    response = verify(
        client,
        record,
        decision="approve",
        note="",
        **{
            f"minutes_{service.alice.pk}": "90",
            f"reason_{service.alice.pk}": "提前离开，按实际时长",
        },
    )
    assert response.status_code == 303 and response["Location"] == QUEUE
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.VERIFIED and record.verified_by == world.mary
    corrected = ServiceHours.objects.get(claim=service.alice, source="corrected")
    assert (corrected.minutes, corrected.reason) == (90, "提前离开，按实际时长")
    assert ServiceHours.objects.filter(claim=service.bob, counted=True).count() == 1
    assert set(
        Claim.objects.filter(pk__in=[service.alice.pk, service.bob.pk]).values_list(
            "status", flat=True
        )
    ) == {"done"}
    assert PointEntry.objects.filter(record=record).exists()
    assert "已核实通过" in text(client.get(QUEUE))


def test_a_correction_without_a_reason_is_refused_and_nothing_written(world, record, service):
    response = verify(
        desk(world.mary), record, decision="approve", **{f"minutes_{service.alice.pk}": "90"}
    )
    assert response.status_code == 400
    assert "更正服务时长须说明原因。" in text(response)
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED
    assert not ServiceHours.objects.exists() and not PointEntry.objects.exists()


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        ("abc", "王丽 的服务时长：请填写合法的整数值。"),
        ("-5", "王丽 的服务时长：请确保该值大于或者等于 0。"),
        ("1000", "服务时长不能超过"),
    ],
)
def test_bad_minutes_are_refused(world, record, service, minutes, message):
    response = verify(
        desk(world.mary),
        record,
        decision="approve",
        **{f"minutes_{service.alice.pk}": minutes, f"reason_{service.alice.pk}": "更正"},
    )
    assert response.status_code == 400
    assert message in response.context["detail"]
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED


def test_rejecting_needs_a_note_then_sends_the_request_back(world, record, service):
    client = desk(world.mary)
    response = verify(client, record, decision="reject", note="")
    assert response.status_code == 400
    assert "退回时必须填写核实意见。" in text(response) or "note" in response.context["errors"]
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED
    response = verify(client, record, decision="reject", note="服务人次与照片不符，请核对。")
    assert response.status_code == 303
    record.refresh_from_db()
    service.request.refresh_from_db()
    assert record.status == ServiceRecord.Status.REJECTED
    assert service.request.status == "in_progress"
    assert Event.objects.filter(verb="record_rejected", object_id=record.pk).exists()


def test_a_flagged_record_needs_a_note(world, record):
    ServiceRecord.objects.filter(pk=record.pk).update(
        flags=[{"code": "people_served_high", "detail": "服务人次偏高", "data": {}}], flag_count=1
    )
    response = verify(desk(world.mary), record, decision="approve", note="")
    assert response.status_code == 400
    assert "该记录有异常标记，请说明核查情况。" in text(response)
    assert "服务人次偏高" in text(response)


def test_a_decision_must_be_chosen(world, record):
    response = verify(desk(world.mary), record, decision="maybe")
    assert response.status_code == 400
    assert "请选择通过或退回。" in text(response)


def test_the_submitter_cannot_verify_even_as_staff(world, record):
    ServiceRecord.objects.filter(pk=record.pk).update(submitted_by=world.sam)
    response = verify(desk(world.sam), record, decision="approve", note="ok")
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED


def test_another_stations_manager_can_do_nothing(world, record):
    response = verify(desk(world.oscar), record, decision="approve", note="ok")
    assert response.status_code == 404
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED
    assert not Event.objects.filter(verb="record_verified").exists()


def test_verifying_without_the_csrf_token_is_refused(world, record):
    response = desk(world.mary).post(record_url(record, "verify/"), {"decision": "approve"})
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED


def test_a_verified_record_is_409_the_second_time(world, record):
    client = desk(world.mary)
    assert verify(client, record, decision="approve").status_code == 303
    response = verify(desk(world.sam), record, decision="approve")
    assert response.status_code == 409
    assert "已核实" in response.context["detail"]
