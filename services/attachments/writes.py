"""Writes of attachments that every owner shares: process uploads, store, insert, purge.

The owner's capability (``services.records.attachments`` for service records) checks who may do
what, locks its own row and calls these inside its transaction. The order that keeps a crowd
safe and the lock short:

1. ``prepare(uploads)``: read, check and strip every file (CPU, no lock, nothing written); any
   bad file refuses the whole upload.
2. ``save_files(images)``: put the files in the storage (network for S3, no lock held).
3. In the owner's transaction, under the owner's lock: count, then ``insert(...)`` the rows.
   When the transaction fails, ``discard(stored)`` removes the files again (the owner calls it
   from its ``except``), so a refused upload leaves no file behind.

Files are deleted only after the rows that name them are gone or cleared and committed
(``transaction.on_commit``), so a rolled-back delete never loses a file a row still names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from services.attachments import images
from services.attachments import storage as files
from services.models import Attachment


def prepare(uploads: Sequence) -> list[images.ProcessedImage]:
    """Each uploaded file checked and stripped, in order (the first bad one raises)."""
    processed = []
    for upload in uploads:
        data = images.read_limited(upload, max_bytes=settings.ATTACHMENTS_MAX_BYTES)
        processed.append(
            images.process(
                data,
                max_bytes=settings.ATTACHMENTS_MAX_BYTES,
                max_pixels=settings.ATTACHMENTS_MAX_PIXELS,
                thumb_px=settings.ATTACHMENTS_THUMBNAIL_PX,
                tz=settings.TIME_ZONE,
            )
        )
    return processed


def save_files(processed: Sequence[images.ProcessedImage]) -> list[files.StoredFiles]:
    """Store every image and thumbnail; on a failure the ones already stored are removed."""
    stored: list[files.StoredFiles] = []
    try:
        for image in processed:
            stored.append(files.save(image))
    except Exception:
        discard(stored)
        raise
    return stored


def discard(stored: Sequence[files.StoredFiles]) -> None:
    """Remove files whose rows were never committed."""
    files.delete([name for item in stored for name in (item.name, item.thumbnail_name)])


def insert(
    *,
    processed: Sequence[images.ProcessedImage],
    stored: Sequence[files.StoredFiles],
    uploaded_by: User,
    **owner,
) -> list[Attachment]:
    """The rows of stored images, for the owner given by keyword (``record=...``)."""
    rows = [
        Attachment(
            uploaded_by=uploaded_by,
            content_type=image.content_type,
            file_name=item.name,
            thumbnail_name=item.thumbnail_name,
            size_bytes=len(image.data),
            width=image.width,
            height=image.height,
            sha256=image.sha256,
            taken_at=image.taken_at,
            taken_lat=image.taken_lat,
            taken_lng=image.taken_lng,
            **owner,
        )
        for image, item in zip(processed, stored, strict=True)
    ]
    for row in rows:
        # One by one, so every row has its id on both databases (bulk_create on SQLite would too,
        # but a handful of rows costs nothing).
        row.save(force_insert=True)
    return rows


def delete(attachment: Attachment) -> None:
    """Delete the row now and its files once the transaction commits."""
    names = [attachment.file_name, attachment.thumbnail_name]
    attachment.delete()
    transaction.on_commit(partial(files.delete, names))


def withhold(queryset: QuerySet[Attachment], *, now: datetime) -> int:
    """Stop serving these to anyone but staff (a conditional UPDATE); how many changed."""
    return queryset.filter(withheld_at__isnull=True).update(withheld_at=now)


def purge(queryset: QuerySet[Attachment], *, batch_size: int, now: datetime | None = None) -> int:
    """Delete the files and thumbnails of these attachments and clear their GPS position.

    Batch by batch: the rows are cleared by a conditional UPDATE (``purged_at IS NULL``) in a
    short transaction, and the files of the rows that UPDATE cleared are deleted after it
    commits. A crash between the two leaves files no row names (never a row naming no file);
    the rows keep their size, type, dimensions, hash and capture time, so the record still says
    how many photos it had. Returns the number purged."""
    now = now or timezone.now()
    due = queryset.filter(purged_at__isnull=True)
    done = 0
    while batch := list(
        due.order_by("pk").values_list("pk", "file_name", "thumbnail_name")[:batch_size]
    ):
        ids = [pk for pk, _, _ in batch]
        with transaction.atomic():
            cleared = list(
                Attachment.objects.select_for_update()
                .filter(pk__in=ids, purged_at__isnull=True)
                .values_list("pk", flat=True)
            )
            Attachment.objects.filter(pk__in=cleared).update(
                file_name="", thumbnail_name="", taken_lat=None, taken_lng=None, purged_at=now
            )
        cleared_ids = set(cleared)
        files.delete([n for pk, name, thumb in batch if pk in cleared_ids for n in (name, thumb)])
        done += len(cleared)
    return done
