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
from tests.fake_wechat import ok
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


# ------------------------------------------------ the mini-program: photos after submitting


def _photos_url(intake) -> str:
    return f"{QUEUE_URL}tickets/{intake.ticket}/photos/"


def _mini_program_intake(anon, code, openid="o-resident") -> Intake:
    body = {
        "code": code.code,
        "description": "河边护栏倒了，晚上有危险。",
        "wechat_code": ok(openid),
    }
    response = anon.post(QUEUE_URL, body, format="json")
    assert response.status_code == 201, response.json()
    return only_intake()


def test_the_mini_program_adds_photos_one_upload_at_a_time(
    world, client_for, anon, station_code, attachment_root, wechat, settings
):
    settings.INTAKE_MAX_PHOTOS = 2
    intake = _mini_program_intake(anon, station_code)
    for n in (1, 2):
        response = anon.post(
            _photos_url(intake),
            {"files": [upload(f"{n}.jpg", _photo(world))], "wechat_code": ok("o-resident")},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
        assert response.json() == {"photos": n, "max_photos": 2}
    photos = Attachment.objects.filter(intake=intake)
    assert photos.count() == 2
    assert {photo.uploaded_by.wechat_openid for photo in photos} == {"o-resident"}
    assert all(b"Exif" not in files.read(photo.file_name) for photo in photos)
    assert Event.objects.filter(verb="intake_photos_added", object_id=str(intake.pk)).count() == 2
    (row,) = client_for(world.mary).get(QUEUE_URL).json()["results"]
    assert len(row["photos"]) == 2

    # A third is over INTAKE_MAX_PHOTOS: 400, nothing stored.
    response = anon.post(
        _photos_url(intake),
        {"files": [upload("3.jpg", _photo(world))], "wechat_code": ok("o-resident")},
        format="multipart",
    )
    assert response.status_code == 400 and "files" in response.json()["fields"]
    assert Attachment.objects.filter(intake=intake).count() == 2
    assert len(stored_files(attachment_root)) == 4


def test_photo_uploads_bad_inputs_write_nothing(
    world, anon, station_code, attachment_root, wechat, settings
):
    intake = _mini_program_intake(anon, station_code)
    good = ok("o-resident")
    cases = [
        # Someone else's WeChat account, or none: 403.
        ({"files": [upload("a.jpg", _photo(world))], "wechat_code": ok("o-other")}, 403),
        ({"files": [upload("a.jpg", _photo(world))]}, 403),
        # A PDF named .jpg: 415; no file part: 400; an unknown part: 400.
        ({"files": [upload("a.jpg", pdf_bytes())], "wechat_code": good}, 415),
        ({"wechat_code": good}, 400),
        ({"files": [upload("a.jpg", _photo(world))], "wechat_code": good, "extra": "x"}, 400),
    ]
    for body, expected in cases:
        response = anon.post(_photos_url(intake), body, format="multipart")
        assert response.status_code == expected, (body, response.json())
    unknown = anon.post(
        f"{QUEUE_URL}tickets/no-such-ticket/photos/",
        {"files": [upload("a.jpg", _photo(world))]},
        format="multipart",
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "intake_ticket_unknown"
    assert not Attachment.objects.exists() and stored_files(attachment_root) == []
    assert not Event.objects.filter(verb="intake_photos_added").exists()


def test_photos_close_once_triaged_or_after_the_window(
    world, client_for, anon, station_code, attachment_root, wechat, settings
):
    intake = _mini_program_intake(anon, station_code)
    body = {"files": [upload("a.jpg", _photo(world))], "wechat_code": ok("o-resident")}
    Intake.objects.filter(pk=intake.pk).update(
        created_at=timezone.now() - timedelta(minutes=settings.INTAKE_PHOTO_WINDOW_MINUTES + 1)
    )
    response = anon.post(_photos_url(intake), body, format="multipart")
    assert response.status_code == 409 and response.json()["code"] == "intake_photos_closed"

    Intake.objects.filter(pk=intake.pk).update(
        created_at=timezone.now(), status=Intake.Status.DECLINED
    )
    body = {"files": [upload("a.jpg", _photo(world))], "wechat_code": ok("o-resident")}
    response = anon.post(_photos_url(intake), body, format="multipart")
    assert response.status_code == 409 and response.json()["code"] == "intake_photos_closed"
    assert not Attachment.objects.exists() and stored_files(attachment_root) == []


def test_photo_uploads_share_the_address_limit(
    world, anon, station_code, attachment_root, wechat, settings
):
    settings.INTAKE_RATE_PER_ADDRESS = "2/hour"
    intake = _mini_program_intake(anon, station_code)  # the first of two
    body = {"files": [upload("a.jpg", _photo(world))], "wechat_code": ok("o-resident")}
    assert anon.post(_photos_url(intake), body, format="multipart").status_code == 201
    body = {"files": [upload("b.jpg", _photo(world))], "wechat_code": ok("o-resident")}
    response = anon.post(_photos_url(intake), body, format="multipart")
    assert response.status_code == 429 and response.json()["code"] == "intake_throttled"
    assert Attachment.objects.filter(intake=intake).count() == 1
