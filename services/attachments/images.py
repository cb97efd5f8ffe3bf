"""Check an uploaded image and turn it into what is stored: pixels only, plus a thumbnail.

Pure: bytes in, bytes and facts out (no database, no storage, no clock). In order:

1. **Size** before anything is decoded: more than ``max_bytes`` is 413 ``attachment_too_large``.
2. **Type from the bytes** (the magic numbers of JPEG, PNG and WebP), never from the name or the
   client's Content-Type: a PDF named ``.jpg`` is 415 ``attachment_type_unsupported``. Pillow then
   opens the file with that one format only.
3. **Decompression bombs**: the declared width × height is read from the header (Pillow decodes
   nothing on ``open``) and refused above ``max_pixels`` with 413
   ``attachment_too_many_pixels``; Pillow's own ``DecompressionBombError`` and
   ``DecompressionBombWarning`` (turned into an error here) map to the same answer, so a bomb is
   never decoded and never a 500. A file that then fails to decode is 400
   ``attachment_unreadable``.
4. **Facts first**: the capture time (EXIF DateTimeOriginal, with OffsetTimeOriginal when
   present, else the server's time zone) and the GPS position (WGS-84, as cameras write it).
5. **Metadata gone**: the orientation is applied to the pixels, then the pixels are copied into a
   new image that carries no ``info`` at all and re-encoded in the same format. EXIF (GPS
   included), XMP, ICC profiles, PNG text chunks and comments do not survive; neither do the
   frames after the first of an animation.
6. **Thumbnail**: at most ``thumb_px`` on the longest side, same format.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import BinaryIO
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError

from services.attachments import errors

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"

# content type → (Pillow format name, file extension)
FORMATS = {JPEG: ("JPEG", "jpg"), PNG: ("PNG", "png"), WEBP: ("WEBP", "webp")}

# EXIF tags (CIPA DC-008): the Exif and GPS sub-IFDs, and what is read from them.
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LNG_REF, _GPS_LNG = 1, 2, 3, 4

# Re-encoding quality: evidence should stay legible; a phone photo keeps ~1/3 of its size.
_JPEG_QUALITY = 85
_WEBP_QUALITY = 85


@dataclass(frozen=True)
class ProcessedImage:
    """An image as it will be stored: metadata-free bytes, its thumbnail and what was read."""

    content_type: str
    extension: str
    data: bytes
    thumbnail: bytes
    width: int
    height: int
    # sha256 of the stripped bytes (what is stored and served).
    sha256: str
    taken_at: datetime | None
    taken_lat: float | None
    taken_lng: float | None


def sniff(head: bytes) -> str | None:
    """The content type the first bytes announce (JPEG, PNG or WebP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def read_limited(stream: BinaryIO, *, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of ``stream``; one byte more is 413 ``attachment_too_large``."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise errors.AttachmentTooLarge(
            f"图片文件过大（每张最多 {_mib(max_bytes)}）。", extra={"max_bytes": max_bytes}
        )
    return data


def process(
    data: bytes, *, max_bytes: int, max_pixels: int, thumb_px: int, tz: str
) -> ProcessedImage:
    """Check ``data`` and return it stripped, with its thumbnail and capture facts."""
    if len(data) > max_bytes:
        raise errors.AttachmentTooLarge(
            f"图片文件过大（每张最多 {_mib(max_bytes)}）。", extra={"max_bytes": max_bytes}
        )
    content_type = sniff(data[:16])
    if content_type is None:
        raise errors.AttachmentTypeUnsupported()
    pillow_format, extension = FORMATS[content_type]
    with warnings.catch_warnings():
        # Pillow warns between MAX_IMAGE_PIXELS and twice that; here that is a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[pillow_format])
            _check_pixels(image.width, image.height, max_pixels)
            exif = image.getexif()
            image.seek(0)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise errors.AttachmentTooManyPixels(
                f"图片像素过多（最多 {max_pixels} 像素）。", extra={"max_pixels": max_pixels}
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise errors.AttachmentUnreadable() from None
        taken_at = _taken_at(exif, tz)
        taken_lat, taken_lng = _position(exif)
        try:
            clean = _pixels_only(ImageOps.exif_transpose(image))
        except (OSError, ValueError, SyntaxError):
            raise errors.AttachmentUnreadable() from None
    stored = _encode(clean, pillow_format)
    thumb = clean.copy()
    thumb.thumbnail((thumb_px, thumb_px))
    return ProcessedImage(
        content_type=content_type,
        extension=extension,
        data=stored,
        thumbnail=_encode(thumb, pillow_format),
        width=clean.width,
        height=clean.height,
        sha256=hashlib.sha256(stored).hexdigest(),
        taken_at=taken_at,
        taken_lat=taken_lat,
        taken_lng=taken_lng,
    )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1 or width * height > max_pixels:
        raise errors.AttachmentTooManyPixels(
            f"图片像素过多（{width}×{height}，最多 {max_pixels} 像素）。",
            extra={"max_pixels": max_pixels, "width": width, "height": height},
        )


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding ``image``'s pixels and nothing else (no info, no palette tricks)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    pixels = image.convert(mode)
    return Image.frombytes(mode, pixels.size, pixels.tobytes())


def _encode(image: Image.Image, pillow_format: str) -> bytes:
    out = io.BytesIO()
    if pillow_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    elif pillow_format == "WEBP":
        image.save(out, "WEBP", quality=_WEBP_QUALITY)
    else:
        image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _taken_at(exif: Image.Exif, tz: str) -> datetime | None:
    """DateTimeOriginal as an aware datetime, or None when absent or nonsense."""
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        naive = datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    zone = _offset(offset) if isinstance(offset, str) else None
    return naive.replace(tzinfo=zone or ZoneInfo(tz))


def _offset(text: str) -> timezone | None:
    """'+08:00' → a fixed zone; anything else None."""
    text = text.strip("\x00 ").strip()
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(delta if text[0] == "+" else -delta)


def _position(exif: Image.Exif) -> tuple[float | None, float | None]:
    """GPS latitude and longitude in decimal degrees, or (None, None)."""
    gps = exif.get_ifd(_GPS_IFD)
    lat = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), negative="S", limit=90)
    lng = _degrees(gps.get(_GPS_LNG), gps.get(_GPS_LNG_REF), negative="W", limit=180)
    if lat is None or lng is None:
        return None, None
    return lat, lng


def _degrees(value, ref, *, negative: str, limit: float) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees) or degrees > limit:
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        degrees = -degrees
    return round(degrees, 6)
