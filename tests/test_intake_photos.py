"""A resident's photos on the poster's page: checked, stripped and stored by services.attachments,
shown to the station only, purged with the intake (docs/intake.md)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from accounts.models import Event
from services.attachments import storage as files
from services.models import Attachment, Intake
from services.retention import purge_personal_data
from tests.attachments_fixtures import (
    CAMERA,
    attachment_root,
    image_bytes,
    jpeg_with_exif,
    pdf_bytes,
    stored_files,
    upload,
)
from tests.intake_fixtures import form_client, only_intake, station_code, submit_form

attachment_root = attachment_root  # the fixtures, re-exported for pytest
station_code = station_code

QUEUE_URL = "/api/v1/intake/"


def _photo(world):
    return jpeg_with_exif(
        taken_at=timezone.now() - timedelta(hours=1), lat=world.village.lat, lng=world.village.lng
    )


def test_a_photo_on_the_form_is_stored_stripped_and_shown_to_the_station(
    world, client_for, anon, station_code, attachment_root
):
    original = _photo(world)
    assert CAMERA.encode() in original
    response = submit_form(
        form_client(),
        station_code,
        description="村口的桥栏杆断了，孩子上学要经过。",
        photo=upload("桥.jpg", original),
    )
    assert response.status_code == 303, response.content[:500]
    intake = only_intake()
    (photo,) = Attachment.objects.filter(intake=intake)
    assert photo.record_id is None and photo.uploaded_by_id is None
    assert photo.taken_lat is not None  # the place was read before the metadata went
    stored = files.read(photo.file_name)
    assert b"Exif" not in stored and CAMERA.encode() not in stored
    assert len(stored_files(attachment_root)) == 2  # the image and its thumbnail
    event = Event.objects.get(verb="intake_submitted")
    assert event.payload["photos"] == [photo.pk]

    # The station's manager sees it in the queue, through a signed link.
    (row,) = client_for(world.mary).get(QUEUE_URL).json()["results"]
    (shown,) = row["photos"]
    served = anon.get(urlsplit(shown["url"]).path)
    assert served.status_code == 200 and b"".join(served.streaming_content) == stored
    # The resident's ticket page shows no photo link (nothing a resident writes is public).
    ticket = anon.get(f"/q/t/{intake.ticket}/").content.decode()
    assert shown["url"] not in ticket and "attachments" not in ticket


def test_a_pdf_named_jpg_is_refused_on_the_page_and_nothing_is_written(
    world, station_code, attachment_root
):
    response = submit_form(
        form_client(),
        station_code,
        description="家门口的路灯坏了。",
        photo=upload("照片.jpg", pdf_bytes()),
    )
    assert response.status_code == 415
    assert "照片" in response.content.decode() or "图片" in response.content.decode()
    assert not Intake.objects.exists() and not Attachment.objects.exists()
    assert stored_files(attachment_root) == []


def test_more_photos_than_the_cap_are_refused(world, station_code, attachment_root, settings):
    settings.INTAKE_MAX_PHOTOS = 2
    photos = [upload(f"{i}.png", image_bytes("PNG")) for i in range(3)]
    response = submit_form(form_client(), station_code, description="水管漏水。", photo=photos)
    assert response.status_code == 400
    assert "最多上传 2 张照片" in response.content.decode()
    assert not Intake.objects.exists() and stored_files(attachment_root) == []


def test_the_retention_purge_deletes_the_residents_photos(world, station_code, attachment_root):
    submit_form(
        form_client(),
        station_code,
        description="楼道灯不亮。",
        photo=upload("a.jpg", _photo(world)),
    )
    intake = only_intake()
    Intake.objects.filter(pk=intake.pk).update(created_at=timezone.now() - timedelta(days=400))
    report = purge_personal_data(days=180)
    assert report.attachments == 1
    photo = Attachment.objects.get(intake=intake)
    assert photo.purged_at is not None and photo.file_name == "" and photo.taken_lat is None
    assert stored_files(attachment_root) == []
