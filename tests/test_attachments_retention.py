"""Retention covers photos: the purge deletes the files and thumbnails of records whose request
ended more than PERSONAL_DATA_RETENTION_DAYS ago, and clears their GPS position."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import Event
from services.attachments import errors
from services.models import Attachment
from services.retention import VERB, purge_personal_data
from tests import records_fixtures
from tests.attachments_fixtures import (
    attachment_root,
    attachments_url,
    jpeg_with_exif,
    post_files,
    stored_files,
    submitted,
    upload,
)
from tests.records_fixtures import record_url
from tests.test_errors import assert_error

rules = records_fixtures.rules
service = records_fixtures.service
attachment_root = attachment_root


def _later() -> timezone.datetime:
    """A moment past the retention period of a request ending today."""
    return timezone.now() + timedelta(days=django_settings.PERSONAL_DATA_RETENTION_DAYS + 1)


def test_the_purge_deletes_photo_files_and_positions_and_keeps_the_rows(
    world, client_for, anon, service, attachment_root
):
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at, lat=service.request.lat, lng=service.request.lng
    )
    post_files(client_for(world.alice.user), record, upload("a.jpg", photo), upload("b.jpg", photo))
    [link, _] = client_for(world.alice.user).get(attachments_url(record)).json()
    assert len(stored_files(attachment_root)) == 4

    dry = purge_personal_data(now=_later(), dry_run=True)
    assert dry.attachments == 2 and len(stored_files(attachment_root)) == 4

    report = purge_personal_data(now=_later(), batch_size=1)

    assert report.attachments == 2
    assert stored_files(attachment_root) == []
    rows = list(Attachment.objects.order_by("id"))
    assert len(rows) == 2
    for row in rows:
        assert row.purged_at is not None and row.file_name == "" and row.thumbnail_name == ""
        assert row.taken_lat is None and row.taken_lng is None
        # What the record needs to say it had photos stays.
        assert row.taken_at is not None and row.size_bytes > 0 and len(row.sha256) == 64
    event = Event.objects.get(verb=VERB)
    assert event.payload["attachments"] == 2
    # Served no more: the list says purged with no links, and an old link is gone.
    [listed, _] = client_for(world.alice.user).get(attachments_url(record)).json()
    assert listed["purged"] is True and listed["url"] is None and listed["thumbnail_url"] is None
    detail = client_for(world.mary).get(record_url(record)).json()
    assert [a["purged"] for a in detail["attachments"]] == [True, True]
    assert_error(anon.get(urlsplit(link["url"]).path), 404, errors.ATTACHMENT_GONE)

    # A second run changes nothing.
    again = purge_personal_data(now=_later())
    assert again.attachments == 0 and again.total == 0
    assert Event.objects.filter(verb=VERB).count() == 1


def test_photos_of_a_recent_request_are_kept(world, client_for, service, attachment_root):
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at, lat=service.request.lat, lng=service.request.lng
    )
    post_files(client_for(world.alice.user), record, upload("a.jpg", photo))

    report = purge_personal_data()

    assert report.attachments == 0
    assert len(stored_files(attachment_root)) == 2
    row = Attachment.objects.get()
    assert row.purged_at is None and row.taken_lat is not None
