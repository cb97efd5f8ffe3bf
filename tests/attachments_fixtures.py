"""Images made with Pillow for the attachment tests, and upload helpers (import what you use)."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from services.models import ServiceRecord
from services.records.writes import submit_record

# EXIF tags the tests write (CIPA DC-008).
MAKE = 0x010F
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011
CAMERA = "WWQZ-TestCam"


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60 * 1000)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds, 1000)


def exif_block(
    *, taken_at: datetime | None = None, lat: float | None = None, lng: float | None = None
) -> Image.Exif:
    """EXIF with a camera make, and the capture time and GPS position when given."""
    exif = Image.Exif()
    exif[MAKE] = CAMERA
    if taken_at is not None:
        local = timezone.localtime(taken_at)
        sub = exif.get_ifd(EXIF_IFD)
        sub[DATETIME_ORIGINAL] = local.strftime("%Y:%m:%d %H:%M:%S")
        sub[OFFSET_TIME_ORIGINAL] = local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    if lat is not None and lng is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _dms(abs(lat))
        gps[3] = "E" if lng >= 0 else "W"
        gps[4] = _dms(abs(lng))
    return exif


def image_bytes(
    fmt: str = "JPEG",
    *,
    size: tuple[int, int] = (640, 480),
    color=(200, 40, 40),
    exif: Image.Exif | None = None,
    mode: str = "RGB",
) -> bytes:
    """A real image file of ``fmt``, a gradient so it does not compress to nothing."""
    image = Image.new(mode, size, color)
    for x in range(0, size[0], 8):
        image.paste(
            (x % 256, 80, 160) if mode == "RGB" else (x % 256, 80, 160, 200), (x, 0, x + 4, size[1])
        )
    out = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def jpeg_with_exif(*, taken_at: datetime, lat: float, lng: float, **kwargs) -> bytes:
    return image_bytes("JPEG", exif=exif_block(taken_at=taken_at, lat=lat, lng=lng), **kwargs)


def pdf_bytes() -> bytes:
    """A small but real PDF document (one empty page)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes whose header declares ``width`` × ``height`` pixels (10^10 by
    default: 30 GB decoded), its one IDAT a short run of compressed zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def attachments_url(record, suffix: str = "") -> str:
    pk = record if isinstance(record, int) else record.pk
    return f"/api/v1/records/{pk}/attachments/{suffix}"


def post_files(client, record, *files: SimpleUploadedFile, **extra):
    return client.post(attachments_url(record), {"files": list(files), **extra}, format="multipart")


@pytest.fixture
def attachment_root(tmp_path, settings):
    """A local attachments folder of this test's own."""
    root = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


def stored_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def submitted(service, world) -> ServiceRecord:
    """The ``service`` fixture's record, submitted by alice (alice and bob take part)."""
    return submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        people_served=20,
        summary="开展法律咨询。",
        participants=[service.alice.pk, service.bob.pk],
    )
