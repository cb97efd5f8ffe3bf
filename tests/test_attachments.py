"""Photo evidence of service records: the images checked, stripped, stored and served signed.

Real image files made with Pillow, a real local folder as the storage, the real signed view."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.utils import timezone
from PIL import Image, PngImagePlugin

from accounts import errors as common
from accounts.models import Event
from services import errors as service_errors
from services.attachments import errors
from services.attachments import storage as files
from services.models import Attachment, ServiceRecord
from services.records import anomalies
from services.records.writes import revoke_record, verify_record
from tests import records_fixtures
from tests.attachments_fixtures import (
    CAMERA,
    attachment_root,
    attachments_url,
    image_bytes,
    jpeg_with_exif,
    pdf_bytes,
    png_bomb,
    post_files,
    stored_files,
    submitted,
    upload,
)
from tests.factories import ClaimFactory
from tests.records_fixtures import record_url
from tests.test_errors import assert_error

rules = records_fixtures.rules
service = records_fixtures.service
attachment_root = attachment_root  # the fixture, re-exported for pytest


@pytest.fixture
def record(service, world, attachment_root) -> ServiceRecord:
    return submitted(service, world)


def on_site_jpeg(service, **kwargs) -> bytes:
    """A JPEG taken on site during the service, with its EXIF time and GPS."""
    return jpeg_with_exif(
        taken_at=service.request.starts_at + timedelta(minutes=30),
        lat=service.request.lat,
        lng=service.request.lng,
        **kwargs,
    )


def assert_nothing_stored(root, record) -> None:
    assert stored_files(root) == []
    assert not Attachment.objects.filter(record=record).exists()
    assert not Event.objects.filter(verb="record_attachments_added").exists()


# ---------------------------------------------------------------- the happy path


def test_the_submitter_adds_a_jpeg_stripped_of_exif_with_its_facts_kept(
    world, client_for, service, record, attachment_root
):
    original = on_site_jpeg(service)
    assert CAMERA.encode() in original and b"Exif" in original

    response = post_files(client_for(world.alice.user), record, upload("现场.jpg", original))

    assert response.status_code == 201, response.content
    [body] = response.json()
    assert body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (640, 480)
    assert body["has_location"] is True and body["purged"] is False and body["withheld"] is False
    assert body["uploaded_by"] == {"id": world.alice.user.pk, "name": "王丽"}
    assert body["url"] and body["thumbnail_url"] and body["urls_expire_at"]
    attachment = Attachment.objects.get()
    assert attachment.record_id == record.pk and attachment.uploaded_by_id == world.alice.user.pk
    # The facts were read before the metadata went.
    assert attachment.taken_at == (service.request.starts_at + timedelta(minutes=30)).replace(
        microsecond=0
    )
    assert attachment.taken_lat == pytest.approx(service.request.lat, abs=1e-5)
    assert attachment.taken_lng == pytest.approx(service.request.lng, abs=1e-5)
    # What is stored carries no EXIF: no camera, no GPS, no capture time.
    stored = files.read(attachment.file_name)
    assert stored[:3] == b"\xff\xd8\xff"
    assert CAMERA.encode() not in stored and b"Exif" not in stored
    reopened = Image.open(io.BytesIO(stored))
    assert dict(reopened.getexif()) == {} and "exif" not in reopened.info
    assert attachment.size_bytes == len(stored)
    # The thumbnail exists, at most ATTACHMENTS_THUMBNAIL_PX on its longest side, no EXIF.
    thumb = files.read(attachment.thumbnail_name)
    thumb_image = Image.open(io.BytesIO(thumb))
    assert max(thumb_image.size) == django_settings.ATTACHMENTS_THUMBNAIL_PX
    assert b"Exif" not in thumb
    assert len(stored_files(attachment_root)) == 2
    event = Event.objects.get(verb="record_attachments_added")
    assert event.payload["attachments"] == [attachment.pk]
    assert event.payload["sha256"] == [attachment.sha256]
    record.refresh_from_db()
    assert record.flag_count == 0


def test_png_and_webp_in_one_upload_keep_their_types_and_lose_their_metadata(
    world, client_for, record, attachment_root
):
    png = image_bytes("PNG", exif=None, mode="RGBA", color=(10, 20, 30, 128))
    webp = image_bytes("WEBP", exif=Image.Exif())
    with_text = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-author-name")
    Image.open(io.BytesIO(png)).save(with_text, "PNG", pnginfo=info)
    assert b"secret-author-name" in with_text.getvalue()

    response = post_files(
        client_for(world.bob.user),
        record,
        # Names say nothing: the bytes decide.
        upload("a.jpg", with_text.getvalue(), "image/jpeg"),
        upload("b.bin", webp, "application/octet-stream"),
    )

    assert response.status_code == 201, response.content
    assert [a["content_type"] for a in response.json()] == ["image/png", "image/webp"]
    png_row, webp_row = Attachment.objects.order_by("id")
    stored_png = files.read(png_row.file_name)
    assert b"secret-author-name" not in stored_png and b"tEXt" not in stored_png
    assert Image.open(io.BytesIO(stored_png)).mode == "RGBA"
    assert png_row.file_name.endswith(".png") and webp_row.file_name.endswith(".webp")
    assert files.read(webp_row.file_name)[8:12] == b"WEBP"
    assert png_row.taken_at is None and png_row.taken_lat is None
    assert len(stored_files(attachment_root)) == 4


def test_the_orientation_is_applied_to_the_pixels_before_the_tag_goes(
    world, client_for, record, service
):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = image_bytes("JPEG", size=(64, 48), exif=exif)

    response = post_files(client_for(world.alice.user), record, upload("r.jpg", data))

    assert response.status_code == 201, response.content
    assert (response.json()[0]["width"], response.json()[0]["height"]) == (48, 64)


# ---------------------------------------------------------------- bad files: nothing written


def test_a_pdf_named_jpg_is_refused_and_nothing_is_stored(
    world, client_for, record, attachment_root
):
    response = post_files(
        client_for(world.alice.user), record, upload("照片.jpg", pdf_bytes(), "image/jpeg")
    )

    assert_error(response, 415, errors.ATTACHMENT_TYPE_UNSUPPORTED)
    assert_nothing_stored(attachment_root, record)


def test_one_bad_file_refuses_the_whole_upload(world, client_for, service, record, attachment_root):
    response = post_files(
        client_for(world.alice.user),
        record,
        upload("good.jpg", on_site_jpeg(service)),
        upload("bad.jpg", b"GIF89a" + b"\x00" * 100),
    )

    assert_error(response, 415, errors.ATTACHMENT_TYPE_UNSUPPORTED)
    assert_nothing_stored(attachment_root, record)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    world, client_for, record, attachment_root
):
    # 10^10 pixels declared (30 GB decoded) in a few hundred bytes: Pillow's own
    # DecompressionBombError, raised while the header is read, becomes a clean 413.
    bomb = png_bomb(100_000, 100_000)
    assert len(bomb) < 1024

    started = time.monotonic()
    response = post_files(client_for(world.alice.user), record, upload("bomb.png", bomb))

    body = assert_error(response, 413, errors.ATTACHMENT_TOO_MANY_PIXELS)
    assert body["max_pixels"] == django_settings.ATTACHMENTS_MAX_PIXELS
    assert time.monotonic() - started < 5
    assert_nothing_stored(attachment_root, record)


def test_an_image_above_our_pixel_bound_but_below_pillows_is_refused_too(
    world, client_for, record, attachment_root, settings
):
    # 64 M pixels: under Pillow's MAX_IMAGE_PIXELS (89 M), over ATTACHMENTS_MAX_PIXELS.
    assert Image.MAX_IMAGE_PIXELS > 8000 * 8000 > django_settings.ATTACHMENTS_MAX_PIXELS

    response = post_files(
        client_for(world.alice.user), record, upload("big.png", png_bomb(8000, 8000))
    )

    body = assert_error(response, 413, errors.ATTACHMENT_TOO_MANY_PIXELS)
    assert (body["width"], body["height"]) == (8000, 8000)
    assert_nothing_stored(attachment_root, record)


def test_pillows_warning_zone_is_a_refusal_not_a_warning(
    world, client_for, record, attachment_root, settings
):
    # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; here it is refused.
    settings.ATTACHMENTS_MAX_PIXELS = 10**12
    side = int((Image.MAX_IMAGE_PIXELS * 1.5) ** 0.5)

    response = post_files(
        client_for(world.alice.user), record, upload("b.png", png_bomb(side, side))
    )

    assert_error(response, 413, errors.ATTACHMENT_TOO_MANY_PIXELS)
    assert_nothing_stored(attachment_root, record)


def test_a_truncated_image_is_unreadable(world, client_for, service, record, attachment_root):
    data = on_site_jpeg(service)

    response = post_files(client_for(world.alice.user), record, upload("cut.jpg", data[:400]))

    assert_error(response, 400, errors.ATTACHMENT_UNREADABLE)
    assert_nothing_stored(attachment_root, record)


def test_a_file_above_the_size_cap_is_413(
    world, client_for, service, record, attachment_root, settings
):
    data = on_site_jpeg(service)
    settings.ATTACHMENTS_MAX_BYTES = len(data) - 1

    response = post_files(client_for(world.alice.user), record, upload("big.jpg", data))

    body = assert_error(response, 413, errors.ATTACHMENT_TOO_LARGE)
    assert body["max_bytes"] == len(data) - 1
    assert_nothing_stored(attachment_root, record)


def test_the_body_limit_is_lifted_for_this_endpoint_alone(
    world, client_for, service, record, attachment_root, settings
):
    data = on_site_jpeg(service, size=(1600, 1200))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    assert len(data) > 4096
    client = client_for(world.alice.user)

    response = post_files(client, record, upload("a.jpg", data))
    assert response.status_code == 201, response.content

    # The same body anywhere else is refused, and a GET or DELETE keeps the default.
    other = client.post(
        record_url(record, "verify/"), {"files": [upload("a.jpg", data)]}, format="multipart"
    )
    assert_error(other, 413, common.REQUEST_TOO_LARGE)
    row = Attachment.objects.get()
    big_delete = client.generic(
        "DELETE", attachments_url(record, f"{row.pk}/"), b"x" * len(data), "text/plain"
    )
    assert_error(big_delete, 413, common.REQUEST_TOO_LARGE)
    settings.ATTACHMENTS_MAX_UPLOAD_BYTES = len(data) // 2
    too_big = post_files(client, record, upload("a.jpg", data))
    assert_error(too_big, 413, common.REQUEST_TOO_LARGE)
    assert Attachment.objects.count() == 1


def test_more_than_the_per_record_cap_is_409(
    world, client_for, service, record, attachment_root, settings
):
    settings.ATTACHMENTS_MAX_PER_RECORD = 2
    client = client_for(world.alice.user)
    jpeg = on_site_jpeg(service)
    assert (
        post_files(client, record, upload("1.jpg", jpeg), upload("2.jpg", jpeg)).status_code == 201
    )

    response = post_files(client, record, upload("3.jpg", jpeg))

    body = assert_error(response, 409, errors.TOO_MANY_ATTACHMENTS)
    assert (body["limit"], body["existing"]) == (2, 2)
    assert Attachment.objects.count() == 2 and len(stored_files(attachment_root)) == 4


def test_more_files_in_one_request_than_the_cap_is_400(
    world, client_for, service, record, attachment_root, settings
):
    settings.ATTACHMENTS_MAX_PER_RECORD = 2
    jpeg = on_site_jpeg(service)

    response = post_files(
        client_for(world.alice.user), record, *[upload(f"{i}.jpg", jpeg) for i in range(3)]
    )

    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "files" in body["fields"]
    assert_nothing_stored(attachment_root, record)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, common.VALIDATION_ERROR),
        ({"files": "not-a-file"}, common.VALIDATION_ERROR),
        ({"note": "x"}, common.UNKNOWN_FIELD),
    ],
)
def test_bad_forms_are_400(world, client_for, service, record, attachment_root, payload, code):
    body = dict(payload)
    if code == common.UNKNOWN_FIELD:
        body["files"] = [upload("a.jpg", on_site_jpeg(service))]

    response = client_for(world.alice.user).post(attachments_url(record), body, format="multipart")

    assert_error(response, 400, code)
    assert_nothing_stored(attachment_root, record)


def test_an_empty_file_is_400(world, client_for, record, attachment_root):
    response = post_files(client_for(world.alice.user), record, upload("empty.jpg", b""))

    assert_error(response, 400, common.VALIDATION_ERROR)
    assert_nothing_stored(attachment_root, record)


def test_a_json_body_is_415(world, client_for, record, attachment_root):
    response = client_for(world.alice.user).post(
        attachments_url(record), {"files": []}, format="json"
    )

    assert_error(response, 415, common.UNSUPPORTED_MEDIA_TYPE)


def test_an_unknown_record_is_404(world, client_for, service, attachment_root):
    client = client_for(world.alice.user)
    jpeg = on_site_jpeg(service)
    assert_error(post_files(client, 999999, upload("a.jpg", jpeg)), 404, common.NOT_FOUND)
    assert_error(post_files(client, 2**64, upload("a.jpg", jpeg)), 404, common.NOT_FOUND)
    assert stored_files(attachment_root) == []


# ---------------------------------------------------------------- the record's state


@pytest.mark.parametrize("approved", [True, False])
def test_a_reviewed_record_takes_no_photos(
    world, client_for, service, record, attachment_root, approved
):
    verify_record(actor=world.mary, record_id=record.pk, approved=approved, note="已核查")

    response = post_files(
        client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service))
    )

    assert_error(response, 409, errors.ATTACHMENTS_CLOSED)
    assert_nothing_stored(attachment_root, record)


def test_a_revoked_record_takes_no_photos(world, client_for, service, record, attachment_root):
    verify_record(actor=world.mary, record_id=record.pk, approved=True)
    revoke_record(actor=world.sam, record_id=record.pk, reason="核查有误")

    response = post_files(
        client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service))
    )

    assert_error(response, 409, errors.ATTACHMENTS_CLOSED)
    assert_nothing_stored(attachment_root, record)


# ---------------------------------------------------------------- personas


def _persona(world, service, name):
    if name == "claimed_not_participant":
        # Charlie holds a place on the request but is no participant of the record.
        ClaimFactory(request=service.request, member=world.charlie, status="claimed")
        return world.charlie.user
    return {
        "submitter": world.alice.user,
        "participant": world.bob.user,
        "station_manager": world.mary,
        "other_manager": world.oscar,
        "other_member": world.charlie.user,
        "staff": world.sam,
        "liaison": world.lily,
    }[name]


@pytest.mark.parametrize(
    ("persona", "status", "code"),
    [
        ("submitter", 201, None),
        ("participant", 201, None),
        ("station_manager", 201, None),
        ("other_manager", 404, common.NOT_FOUND),
        ("other_member", 404, common.NOT_FOUND),
        ("claimed_not_participant", 403, errors.NOT_ATTACHMENT_UPLOADER),
        ("staff", 403, errors.NOT_ATTACHMENT_UPLOADER),
        ("liaison", 404, common.NOT_FOUND),
    ],
)
def test_who_may_add_photos(
    world, client_for, service, record, attachment_root, persona, status, code
):
    user = _persona(world, service, persona)

    response = post_files(client_for(user), record, upload("a.jpg", on_site_jpeg(service)))

    if code is None:
        assert response.status_code == status, response.content
        assert Attachment.objects.get().uploaded_by_id == user.pk
    else:
        assert_error(response, status, code)
        assert_nothing_stored(attachment_root, record)


def test_anonymous_may_neither_add_nor_list(anon, service, record, attachment_root):
    response = post_files(anon, record, upload("a.jpg", on_site_jpeg(service)))
    assert_error(response, 401, common.NOT_AUTHENTICATED)
    assert_error(anon.get(attachments_url(record)), 401, common.NOT_AUTHENTICATED)
    assert_nothing_stored(attachment_root, record)


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("submitter", 200),
        ("participant", 200),
        ("station_manager", 200),
        ("staff", 200),
        ("claimed_not_participant", 200),
        ("other_manager", 404),
        ("other_member", 404),
    ],
)
def test_who_sees_the_photos(world, client_for, service, record, attachment_root, persona, status):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    client = client_for(_persona(world, service, persona))

    listed = client.get(attachments_url(record))
    detail = client.get(record_url(record))

    assert listed.status_code == status, listed.content
    assert detail.status_code == status
    if status == 200:
        [row] = listed.json()
        assert row["url"] and row["thumbnail_url"]
        assert [a["id"] for a in detail.json()["attachments"]] == [row["id"]]
        # The GPS position itself is never shown.
        assert "taken_lat" not in row and "taken_lng" not in row


# ---------------------------------------------------------------- signed links


def _link_path(url: str) -> str:
    return urlsplit(url).path


def test_the_signed_links_serve_the_stripped_bytes_without_sign_in(
    world, client_for, anon, service, record, attachment_root
):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    [row] = client_for(world.alice.user).get(attachments_url(record)).json()
    attachment = Attachment.objects.get()

    original = anon.get(_link_path(row["url"]))
    thumb = anon.get(_link_path(row["thumbnail_url"]))

    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert b"".join(original.streaming_content) == files.read(attachment.file_name)
    assert original["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in original["Cache-Control"]
    assert b"".join(thumb.streaming_content) == files.read(attachment.thumbnail_name)
    expires = timezone.datetime.fromisoformat(row["urls_expire_at"])
    left = (expires - timezone.now()).total_seconds()
    assert 0 < left <= django_settings.ATTACHMENTS_URL_SECONDS


def test_a_tampered_link_is_refused(world, client_for, anon, service, record, attachment_root):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    [row] = client_for(world.alice.user).get(attachments_url(record)).json()
    path = _link_path(row["url"])
    token = path.rstrip("/").rsplit("/", 1)[-1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert_error(anon.get(path.replace(token, flipped)), 403, errors.ATTACHMENT_LINK_INVALID)
    # A link to another attachment cannot be made by editing the payload either.
    forged = signing.dumps({"a": 1, "v": "o", "s": 1}, salt="another-salt")
    assert_error(anon.get(f"/api/v1/attachments/{forged}/"), 403, errors.ATTACHMENT_LINK_INVALID)
    assert_error(anon.get("/api/v1/attachments/garbage/"), 403, errors.ATTACHMENT_LINK_INVALID)


class _PastSigner(signing.TimestampSigner):
    """Signs as if it were an hour ago: the token a client would hold an hour later."""

    def timestamp(self):
        return signing.b62_encode(int(time.time()) - 3600)


def test_an_expired_link_is_refused(world, client_for, anon, service, record, attachment_root):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    attachment = Attachment.objects.get()
    fresh = signing.dumps({"a": attachment.pk, "v": "o", "s": 0}, salt=files._SALT)
    old = _PastSigner(salt=files._SALT).sign_object({"a": attachment.pk, "v": "o", "s": 0})

    assert anon.get(f"/api/v1/attachments/{fresh}/").status_code == 200
    assert_error(anon.get(f"/api/v1/attachments/{old}/"), 403, errors.ATTACHMENT_LINK_EXPIRED)


# ---------------------------------------------------------------- anomaly flags


def test_a_photo_taken_far_away_or_at_another_time_flags_the_record(
    world, client_for, service, record, attachment_root
):
    client = client_for(world.alice.user)
    far = jpeg_with_exif(
        taken_at=service.request.starts_at + timedelta(minutes=10), lat=31.2304, lng=121.4737
    )
    late = jpeg_with_exif(
        taken_at=service.request.ends_at + timedelta(days=2),
        lat=service.request.lat,
        lng=service.request.lng,
    )
    assert post_files(client, record, upload("far.jpg", far)).status_code == 201
    record.refresh_from_db()
    assert [f["code"] for f in record.flags] == [anomalies.PHOTO_FAR_FROM_REQUEST]
    far_row = Attachment.objects.get()
    assert record.flags[0]["data"]["attachments"] == [far_row.pk]
    assert record.flags[0]["data"]["distances_km"][0] > 100

    assert post_files(client, record, upload("late.jpg", late)).status_code == 201
    record.refresh_from_db()
    assert [f["code"] for f in record.flags] == [
        anomalies.PHOTO_FAR_FROM_REQUEST,
        anomalies.PHOTO_OUTSIDE_WINDOW,
    ]
    assert record.flag_count == 2
    # The verifier reads them in the detail and must acknowledge them.
    detail = client_for(world.mary).get(record_url(record)).json()
    assert {f["code"] for f in detail["flags"]} == set(anomalies.PHOTO_CODES)
    response = client_for(world.mary).post(
        record_url(record, "verify/"), {"approved": True}, format="json"
    )
    assert_error(response, 400, service_errors.FLAGS_NOT_ACKNOWLEDGED)

    # Taking the far photo back clears its flag.
    assert client.delete(attachments_url(record, f"{far_row.pk}/")).status_code == 204
    record.refresh_from_db()
    assert [f["code"] for f in record.flags] == [anomalies.PHOTO_OUTSIDE_WINDOW]


def test_a_photo_inside_the_grace_raises_no_flag(
    world, client_for, service, record, attachment_root, settings
):
    settings.ATTACHMENTS_FLAG_GRACE_MINUTES = 60
    early = jpeg_with_exif(
        taken_at=service.request.starts_at - timedelta(minutes=59),
        lat=service.request.lat + 0.01,  # about 1.1 km: inside 2 km
        lng=service.request.lng,
    )

    assert (
        post_files(client_for(world.alice.user), record, upload("e.jpg", early)).status_code == 201
    )

    record.refresh_from_db()
    assert record.flags == [] and record.flag_count == 0


def test_photo_flags_keep_the_records_other_flags(
    world, client_for, service, record, attachment_root
):
    ServiceRecord.objects.filter(pk=record.pk).update(
        flags=[{"code": anomalies.LATE_SUBMISSION, "detail": "迟交", "data": {}}], flag_count=1
    )
    far = jpeg_with_exif(taken_at=service.request.starts_at, lat=31.2304, lng=121.4737)

    post_files(client_for(world.alice.user), record, upload("far.jpg", far))

    record.refresh_from_db()
    assert [f["code"] for f in record.flags] == [
        anomalies.LATE_SUBMISSION,
        anomalies.PHOTO_FAR_FROM_REQUEST,
    ]


# ---------------------------------------------------------------- removal


def test_the_uploader_removes_a_photo_and_its_files_go(
    world, client_for, service, record, attachment_root, django_capture_on_commit_callbacks
):
    post_files(client_for(world.bob.user), record, upload("a.jpg", on_site_jpeg(service)))
    attachment = Attachment.objects.get()
    url = attachments_url(record, f"{attachment.pk}/")

    assert_error(client_for(world.alice.user).delete(url), 403, errors.NOT_ATTACHMENT_UPLOADER)
    assert_error(client_for(world.oscar).delete(url), 404, common.NOT_FOUND)
    assert_error(
        client_for(world.bob.user).delete(attachments_url(record, "999999/")), 404, common.NOT_FOUND
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(world.bob.user).delete(url).status_code == 204

    assert not Attachment.objects.exists()
    assert stored_files(attachment_root) == []
    event = Event.objects.get(verb="record_attachment_removed")
    assert event.payload["attachment"] == attachment.pk


def test_a_verified_records_photo_cannot_be_removed(
    world, client_for, service, record, attachment_root
):
    post_files(client_for(world.bob.user), record, upload("a.jpg", on_site_jpeg(service)))
    attachment = Attachment.objects.get()
    verify_record(actor=world.mary, record_id=record.pk, approved=True)

    response = client_for(world.bob.user).delete(attachments_url(record, f"{attachment.pk}/"))

    assert_error(response, 409, errors.ATTACHMENTS_CLOSED)
    assert len(stored_files(attachment_root)) == 2


# ---------------------------------------------------------------- revocation


def test_after_revocation_only_staff_see_the_photos(
    world, client_for, anon, service, record, attachment_root
):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    [alice_row] = client_for(world.alice.user).get(attachments_url(record)).json()
    verify_record(actor=world.mary, record_id=record.pk, approved=True)

    revoke_record(actor=world.sam, record_id=record.pk, reason="核查有误")

    assert client_for(world.alice.user).get(attachments_url(record)).json() == []
    assert client_for(world.mary).get(record_url(record)).json()["attachments"] == []
    [staff_row] = client_for(world.sam).get(attachments_url(record)).json()
    assert staff_row["withheld"] is True
    # The link alice held stops at once; staff's works; the files stay for the audit.
    assert_error(anon.get(_link_path(alice_row["url"])), 404, errors.ATTACHMENT_GONE)
    assert anon.get(_link_path(staff_row["url"])).status_code == 200
    assert len(stored_files(attachment_root)) == 2
    assert Event.objects.filter(verb="record_attachments_withheld").count() == 1


def test_more_parts_than_django_accepts_is_a_clean_400(world, client_for, record, attachment_root):
    many = [
        upload(f"{i}.jpg", b"x") for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    ]

    response = post_files(client_for(world.alice.user), record, *many)

    assert_error(response, 400, common.VALIDATION_ERROR)
    assert_nothing_stored(attachment_root, record)


def test_the_admin_shows_the_facts_read_only_and_never_the_position(
    world, client_for, client, service, record, attachment_root
):
    post_files(client_for(world.alice.user), record, upload("a.jpg", on_site_jpeg(service)))
    attachment = Attachment.objects.get()
    client.force_login(world.sam)
    world.sam.is_superuser = True
    world.sam.save(update_fields=["is_superuser"])

    listing = client.get("/admin/services/attachment/")
    page = client.get(f"/admin/services/attachment/{attachment.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    assert f"{attachment.taken_lat}" not in page.content.decode()
    assert attachment.file_name not in page.content.decode()
    assert client.get("/admin/services/attachment/add/").status_code == 403
    assert client.post(f"/admin/services/attachment/{attachment.pk}/delete/").status_code == 403
    assert Attachment.objects.filter(pk=attachment.pk).exists()


def test_uploads_are_throttled_with_record_submissions_and_reading_is_not(
    world, client_for, service, record, attachment_root, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "records": "2/min",
        },
    }
    client = client_for(world.alice.user)
    jpeg = on_site_jpeg(service)
    for _ in range(5):
        assert client.get(attachments_url(record)).status_code == 200
    assert post_files(client, record, upload("1.jpg", jpeg)).status_code == 201
    assert post_files(client, record, upload("2.jpg", jpeg)).status_code == 201

    response = post_files(client, record, upload("3.jpg", jpeg))

    assert_error(response, 429, common.THROTTLED)
    assert Attachment.objects.count() == 2
