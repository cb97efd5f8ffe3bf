"""Where attachment files live and how a viewer gets one: the storage and the signed URLs.

Files go through Django's storage API, ``STORAGES["attachments"]`` (backend/settings.py): a
local folder (``ATTACHMENTS_ROOT``) by default, S3-compatible storage through django-storages
when ``ATTACHMENTS_S3_BUCKET`` is set. Nothing is public:

- **local**: the URL is our own signed view, ``/api/v1/attachments/<token>/``. The token is
  ``django.core.signing`` (HMAC with SECRET_KEY, salted) over the attachment id, the variant
  (original or thumbnail) and whether it was issued to staff; it is refused after
  ``ATTACHMENTS_URL_SECONDS`` (403 ``attachment_link_expired``) and when altered (403
  ``attachment_link_invalid``).
- **S3**: the storage's presigned GET URL, valid ``ATTACHMENTS_URL_SECONDS``; the bucket is
  private, so the object is reachable with a valid signature only.

Names are random (uuid4) under ``YYYY/MM/``, so a name tells nothing and two uploads never
collide.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse
from django.utils import timezone

from services.attachments import errors
from services.attachments.images import ProcessedImage

STORAGE_ALIAS = "attachments"
_SALT = "services.attachments.link"
ORIGINAL = "o"
THUMBNAIL = "t"


def attachment_storage() -> Storage:
    """The configured storage (read per call, so a settings override applies)."""
    return storages[STORAGE_ALIAS]


def is_local(storage: Storage | None = None) -> bool:
    return isinstance(storage or attachment_storage(), FileSystemStorage)


@dataclass(frozen=True)
class StoredFiles:
    """The names an image was saved under."""

    name: str
    thumbnail_name: str


def save(image: ProcessedImage, *, now: datetime | None = None) -> StoredFiles:
    """Save the stripped image and its thumbnail; returns the names the storage chose."""
    storage = attachment_storage()
    now = timezone.localtime(now or timezone.now())
    stem = f"{now:%Y/%m}/{uuid.uuid4().hex}"
    name = storage.save(f"{stem}.{image.extension}", ContentFile(image.data))
    try:
        thumbnail_name = storage.save(
            f"{stem}_thumb.{image.extension}", ContentFile(image.thumbnail)
        )
    except Exception:
        storage.delete(name)
        raise
    return StoredFiles(name=name, thumbnail_name=thumbnail_name)


def delete(names: list[str]) -> None:
    """Delete these files (a name already gone is no error on either storage)."""
    storage = attachment_storage()
    for name in names:
        if name:
            storage.delete(name)


def read(name: str) -> bytes:
    with attachment_storage().open(name, "rb") as handle:
        return handle.read()


def signed_url(
    *, attachment_id: int, name: str, variant: str, staff: bool, request=None
) -> tuple[str, datetime]:
    """A URL that serves ``name`` for ATTACHMENTS_URL_SECONDS, and when it stops working."""
    seconds = settings.ATTACHMENTS_URL_SECONDS
    expires_at = timezone.now() + timedelta(seconds=seconds)
    storage = attachment_storage()
    if not is_local(storage):
        return storage.url(name, expire=seconds), expires_at
    token = signing.dumps({"a": attachment_id, "v": variant, "s": int(staff)}, salt=_SALT)
    path = reverse("attachment-file", kwargs={"token": token})
    return (request.build_absolute_uri(path) if request is not None else path), expires_at


@dataclass(frozen=True)
class Link:
    """What a valid signed token says."""

    attachment_id: int
    variant: str
    staff: bool


def open_link(token: str) -> Link:
    """The link a token names; 403 when expired or altered."""
    try:
        value = signing.loads(token, salt=_SALT, max_age=settings.ATTACHMENTS_URL_SECONDS)
    except signing.SignatureExpired:
        raise errors.AttachmentLinkExpired() from None
    except signing.BadSignature:
        raise errors.AttachmentLinkInvalid() from None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("a"), int)
        or value.get("v") not in (ORIGINAL, THUMBNAIL)
    ):
        raise errors.AttachmentLinkInvalid()
    return Link(attachment_id=value["a"], variant=value["v"], staff=bool(value.get("s")))
