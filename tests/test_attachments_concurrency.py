"""Parallel uploads to one record never pass ATTACHMENTS_MAX_PER_RECORD: each upload counts
under the record's lock (its request's row), and a refused upload removes the files it had
already stored. Real threads, real transactions, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from services.attachments import errors
from services.models import Attachment
from services.records.writes import submit_record
from tests.attachments_fixtures import (
    attachment_root,
    attachments_url,
    jpeg_with_exif,
    stored_files,
    upload,
)
from tests.factories import CampaignFactory, MemberFactory, StationFactory, UserFactory
from tests.records_fixtures import checked_in, ensure_rules, under_way
from tests.test_claim_concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)
attachment_root = attachment_root

UPLOADERS = 12
CAP = 5


def _upload(client, record, data):
    def call():
        response = client.post(
            attachments_url(record),
            {"files": [upload("a.jpg", data)]},
            format="multipart",
        )
        return response.status_code, response.json()

    return call


@pytest.mark.postgres
def test_parallel_uploads_never_pass_the_cap(client_for, attachment_root, settings):
    settings.ATTACHMENTS_MAX_PER_RECORD = CAP
    ensure_rules()
    manager = UserFactory(is_station_manager=True)
    station = StationFactory(managers=[manager])
    service_request = under_way(station=station, campaign=CampaignFactory(), slots=UPLOADERS)
    members = [MemberFactory() for _ in range(UPLOADERS)]
    claims = [checked_in(service_request, member) for member in members]
    record = submit_record(
        user=members[0].user,
        request_id=service_request.pk,
        people_served=20,
        summary="集中宣讲",
        participants=[c.pk for c in claims],
    )
    data = jpeg_with_exif(
        taken_at=service_request.starts_at + timedelta(minutes=5),
        lat=service_request.lat,
        lng=service_request.lng,
    )
    calls = [_upload(client_for(member.user), record, data) for member in members]

    results = run_together(calls, workers=UPLOADERS)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: CAP, 409: UPLOADERS - CAP}, statuses
    assert {body["code"] for status, body in results if status == 409} == {
        errors.TOO_MANY_ATTACHMENTS
    }
    assert Attachment.objects.filter(record=record).count() == CAP
    # The refused uploads left no file behind: two files (image, thumbnail) per row.
    names = set(Attachment.objects.values_list("file_name", flat=True)) | set(
        Attachment.objects.values_list("thumbnail_name", flat=True)
    )
    on_disk = {str(p.relative_to(attachment_root)) for p in stored_files(attachment_root)}
    assert on_disk == names and len(on_disk) == 2 * CAP
