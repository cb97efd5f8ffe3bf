"""Photo evidence of service records: who may add, see and remove a record's photos.

The images themselves (type, bombs, EXIF, thumbnails, storage, signed links) are
``services.attachments``; this module holds the record's rules (docs/attachments.md):

- **add** (``add_attachments``): the record's submitter, a participating member, or a manager
  of the record's station (403 ``not_attachment_uploader`` otherwise), while the record awaits
  review (409 ``attachments_closed`` once verified, rejected or revoked), up to
  ATTACHMENTS_MAX_PER_RECORD photos a record (409 ``too_many_attachments``). The record's
  request is locked (the lock every record write takes), so parallel uploads count one after
  another and never pass the cap. Images are checked and stored before the lock is taken; a
  refused upload removes its files again.
- **remove** (``remove_attachment``): the uploader, while the record awaits review.
- **flags**: after every add or remove, the photo flags of the record are recomputed
  (``anomalies.photo_flags``): a photo taken farther than ATTACHMENTS_FLAG_DISTANCE_KM from the
  request's point, or outside its window widened by ATTACHMENTS_FLAG_GRACE_MINUTES.
- **see** (``visible_attachments``): whoever may see the record; once the record is revoked
  its photos are withheld from everyone but staff (``record_revoked``), who keep them for audit.
- **retention**: ``services.retention.purge_personal_data`` deletes the files of records whose
  request ended more than PERSONAL_DATA_RETENTION_DAYS ago (``purge_due``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from accounts.audit import record_event
from accounts.models import User
from accounts.permissions import is_staff
from services.attachments import errors
from services.attachments import writes as attachment_writes
from services.models import Attachment, ServiceRecord, ServiceRequest
from services.records import anomalies
from services.requests.transitions import lock_request, resolve_now
from stations.geo import Point, geodesic_km
from stations.selectors import manages_station

RecordStatus = ServiceRecord.Status

_CLOSED_DETAIL = {
    RecordStatus.VERIFIED: "该服务记录已核实，不能再添加或删除照片。",
    RecordStatus.REJECTED: "该服务记录已被退回，请在新版本中添加照片。",
    RecordStatus.REVOKED: "该服务记录的核实已被撤销，请在新版本中添加照片。",
}


def _lock(record_id: int) -> tuple[ServiceRequest, ServiceRecord]:
    """The record's request locked (as every record write does), then the record read."""
    request_id = (
        ServiceRecord.objects.filter(pk=record_id).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        raise Http404
    service_request = lock_request(request_id)
    return service_request, ServiceRecord.objects.get(pk=record_id)


def may_upload(record: ServiceRecord, user: User) -> bool:
    """The submitter, a participating member, or a manager of the record's station."""
    return (
        (record.submitted_by_id is not None and record.submitted_by_id == user.pk)
        or manages_station(user, record.station_id)
        or record.participants.filter(member__user=user).exists()
    )


def _check_may_upload(record: ServiceRecord, user: User) -> None:
    if not may_upload(record, user):
        raise errors.NotAttachmentUploader("只有记录提交人、参与委员或该驿站管理员可以添加照片。")


def _check_open(record: ServiceRecord) -> None:
    if record.status != RecordStatus.SUBMITTED:
        raise errors.AttachmentsClosed(_CLOSED_DETAIL.get(record.status))


def check_upload(*, record: ServiceRecord, user: User) -> None:
    """Who may add and the record's state, read without a lock: the view asks before it parses
    a large body, and ``add_attachments`` asks again under the lock."""
    _check_may_upload(record, user)
    _check_open(record)


def _check_room(record: ServiceRecord, adding: int) -> None:
    limit = settings.ATTACHMENTS_MAX_PER_RECORD
    existing = Attachment.objects.filter(record=record).count()
    if existing + adding > limit:
        raise errors.TooManyAttachments(
            f"每条服务记录最多 {limit} 张照片，已有 {existing} 张，本次 {adding} 张。",
            extra={"limit": limit, "existing": existing},
        )


def add_attachments(
    *, user: User, record_id: int, uploads: Sequence, now: datetime | None = None
) -> list[Attachment]:
    """Add photos to a record awaiting review; all of them or none."""
    now = resolve_now(now)
    record = ServiceRecord.objects.filter(pk=record_id).first()
    if record is None:
        raise Http404
    # Cheap refusals before any image is decoded; repeated under the lock below.
    _check_may_upload(record, user)
    _check_open(record)
    _check_room(record, len(uploads))
    processed = attachment_writes.prepare(uploads)
    stored = attachment_writes.save_files(processed)
    try:
        with transaction.atomic():
            service_request, record = _lock(record_id)
            _check_may_upload(record, user)
            _check_open(record)
            _check_room(record, len(processed))
            rows = attachment_writes.insert(
                processed=processed, stored=stored, uploaded_by=user, record=record
            )
            flags = _refresh_flags(service_request, record)
            record_event(
                actor=user,
                verb="record_attachments_added",
                obj=record,
                payload={
                    "request": service_request.pk,
                    "attachments": [row.pk for row in rows],
                    "sha256": [row.sha256 for row in rows],
                    "flags": flags,
                },
            )
    except BaseException:
        attachment_writes.discard(stored)
        raise
    return rows


def remove_attachment(
    *, user: User, record_id: int, attachment_id: int, now: datetime | None = None
) -> None:
    """The uploader takes a photo back before the record is reviewed."""
    with transaction.atomic():
        service_request, record = _lock(record_id)
        attachment = Attachment.objects.filter(pk=attachment_id, record=record).first()
        if attachment is None:
            raise Http404
        if attachment.uploaded_by_id != user.pk:
            raise errors.NotAttachmentUploader("只有上传人可以删除这张照片。")
        _check_open(record)
        sha256 = attachment.sha256
        attachment_writes.delete(attachment)
        flags = _refresh_flags(service_request, record)
        record_event(
            actor=user,
            verb="record_attachment_removed",
            obj=record,
            payload={
                "request": service_request.pk,
                "attachment": attachment_id,
                "sha256": sha256,
                "flags": flags,
            },
        )


def _refresh_flags(service_request: ServiceRequest, record: ServiceRecord) -> list[str]:
    """Recompute the record's photo flags (the others stay); returns the photo flag codes."""
    photos = [
        anomalies.Photo(
            attachment_id=pk,
            taken_at=taken_at,
            distance_km=(
                geodesic_km(
                    Point(lat=lat, lng=lng),
                    Point(lat=service_request.lat, lng=service_request.lng),
                )
                if lat is not None and lng is not None
                else None
            ),
        )
        for pk, taken_at, lat, lng in Attachment.objects.filter(record=record)
        .order_by("id")
        .values_list("pk", "taken_at", "taken_lat", "taken_lng")
    ]
    photo_flags = anomalies.photo_flags(
        photos,
        starts_at=service_request.starts_at,
        ends_at=service_request.ends_at,
        max_distance_km=settings.ATTACHMENTS_FLAG_DISTANCE_KM,
        grace_minutes=settings.ATTACHMENTS_FLAG_GRACE_MINUTES,
    )
    flags = [f for f in record.flags if f.get("code") not in anomalies.PHOTO_CODES] + photo_flags
    if flags != record.flags:
        ServiceRecord.objects.filter(pk=record.pk, status=RecordStatus.SUBMITTED).update(
            flags=flags, flag_count=len(flags)
        )
    return [flag["code"] for flag in photo_flags]


def visible_attachments(record: ServiceRecord, user: User) -> QuerySet[Attachment]:
    """The record's photos ``user`` may see, given that ``user`` may see the record: all of
    them for staff; not the withheld ones (of a revoked record) for anyone else."""
    attachments = Attachment.objects.filter(record=record).order_by("id")
    if is_staff(user):
        return attachments
    return attachments.filter(withheld_at__isnull=True)


def record_revoked(*, actor: User, record: ServiceRecord, now: datetime) -> int:
    """Called by ``revoke_record`` in its transaction: the record's photos are withheld from
    everyone but staff from now on (links already issued to others die within
    ATTACHMENTS_URL_SECONDS; local ones at once). Returns how many were withheld."""
    withheld = attachment_writes.withhold(Attachment.objects.filter(record=record), now=now)
    if withheld:
        record_event(
            actor=actor,
            verb="record_attachments_withheld",
            obj=record,
            payload={"attachments": withheld},
        )
    return withheld


def purge_due(*, cutoff: datetime, batch_size: int, now: datetime) -> int:
    """Delete the files of the photos of records whose request ended before ``cutoff``."""
    return attachment_writes.purge(
        Attachment.objects.filter(record__request__ends_at__lt=cutoff),
        batch_size=batch_size,
        now=now,
    )


def count_due(*, cutoff: datetime) -> int:
    """How many photos ``purge_due`` would purge (a dry run)."""
    return Attachment.objects.filter(
        record__request__ends_at__lt=cutoff, purged_at__isnull=True
    ).count()
