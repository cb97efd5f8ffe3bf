"""Every state change of a resident's intake: submit, accept, merge, refer, decline.

Each is keyword-only, runs in one transaction (the intake's row locked, its status checked in
the UPDATE itself) and leaves an Event without the resident's text or phone (those stay on the
intake, where the retention purge finds them). docs/intake.md.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import InvalidInput
from accounts.models import User
from accounts.wechat import code2session
from members.models import Specialty
from services import notifications
from services.attachments import writes as attachment_writes
from services.intake import abuse, errors
from services.models import Campaign, Intake, IntakeCode, ServiceRequest
from services.requests.transitions import Status
from services.requests.writes import create_request
from stations.models import Station, Village

OPEN_REQUEST = (Status.OPEN, Status.FULL, Status.IN_PROGRESS, Status.COMPLETED, Status.VERIFIED)


def new_ticket() -> str:
    return secrets.token_urlsafe(16)


def resident_for(wechat_code: str) -> User:
    """The account WeChat's ``code`` names: the user bound to its openid, or a new role-less
    resident account keyed by it (no password, no member profile), so subscribe messages
    reach the resident."""
    session = code2session(wechat_code)
    found = User.objects.filter(wechat_openid=session.openid).first()
    if found is not None:
        return found
    digest = hashlib.sha256(session.openid.encode()).hexdigest()[:24]
    try:
        with transaction.atomic():
            user = User(username=f"resident_{digest}", wechat_openid=session.openid)
            user.wechat_bound_at = timezone.now()
            user.set_unusable_password()
            user.save()
            record_event(actor=None, verb="resident_account_created", obj=user)
            return user
    except IntegrityError:  # a parallel first submission created it
        return User.objects.get(wechat_openid=session.openid)


def _village_for(code: IntakeCode, village: Village | None) -> Village | None:
    if code.village_id is not None:
        if village is not None and village.pk != code.village_id:
            message = "该二维码属于其他村/社区。"
            raise InvalidInput(message, fields={"village": [message]})
        return code.village
    if village is not None and (not village.active or village.station_id != code.station_id):
        message = "该村/社区不由本驿站服务。"
        raise InvalidInput(message, fields={"village": [message]})
    return village


def submit_intake(
    *,
    code: IntakeCode,
    description: str,
    phone: str = "",
    specialty: Specialty | None = None,
    village: Village | None = None,
    source: str = Intake.Source.WEB,
    resident: User | None = None,
    photos: Sequence = (),
    now: datetime | None = None,
) -> Intake:
    """A resident's need, from the poster's page or the mini-program, with at most
    ``INTAKE_MAX_PHOTOS`` photos (checked, stripped and stored by ``services.attachments``
    before the transaction; removed again if it fails).

    The caller counted the submission against its address (``abuse.check_address``, before
    reading the input, so a flood of bad posts is limited too); the phone's limit is counted
    here, then, with the code's row locked so two copies posted at once see each other, the
    same phone repeating a new need is refused and similar needs are noted for the manager."""
    now = now or timezone.now()
    abuse.check_phone(phone)
    village = _village_for(code, village)
    if specialty is not None and not specialty.active:
        message = "该需求类型已停用。"
        raise InvalidInput(message, fields={"specialty": [message]})
    if len(photos) > settings.INTAKE_MAX_PHOTOS:
        message = f"最多上传 {settings.INTAKE_MAX_PHOTOS} 张照片。"
        raise InvalidInput(message, fields={"photos": [message]})
    processed = attachment_writes.prepare(photos)
    stored = attachment_writes.save_files(processed)
    try:
        return _submit(
            code=code,
            description=description,
            phone=phone,
            specialty=specialty,
            village=village,
            source=source,
            resident=resident,
            processed=processed,
            stored=stored,
            now=now,
        )
    except BaseException:
        attachment_writes.discard(stored)
        raise


def _submit(
    *, code, description, phone, specialty, village, source, resident, processed, stored, now
) -> Intake:
    with transaction.atomic():
        IntakeCode.objects.select_for_update().get(pk=code.pk)
        abuse.refuse_repeat(
            station_id=code.station_id, phone=phone, description=description, now=now
        )
        duplicates = abuse.possible_duplicates(
            station_id=code.station_id,
            village_id=village.pk if village else None,
            description=description,
            now=now,
        )
        intake = Intake.objects.create(
            ticket=new_ticket(),
            code=code,
            station_id=code.station_id,
            village=village,
            specialty=specialty,
            description=description,
            phone=phone,
            source=source,
            resident=resident,
            possible_duplicates=duplicates,
            queued_at=now,
        )
        photos = attachment_writes.insert(
            processed=processed, stored=stored, uploaded_by=resident, intake=intake
        )
        record_event(
            actor=resident,
            verb="intake_submitted",
            obj=intake,
            to_status=Intake.Status.NEW,
            payload={
                "station": code.station_id,
                "village": village.pk if village else None,
                "source": source,
                "possible_duplicates": duplicates,
                "photos": [photo.pk for photo in photos],
                "sha256": [photo.sha256 for photo in photos],
            },
        )
        notifications.intake_received(intake)
    return intake


def add_photos(
    *, intake_id: int, photos: Sequence, actor: User | None, now: datetime | None = None
) -> list:
    """Photos the resident adds after submitting (the mini-program uploads one file per call,
    ``wx.uploadFile``): only while the intake is new and at most
    ``INTAKE_PHOTO_WINDOW_MINUTES`` after it was posted, ``INTAKE_MAX_PHOTOS`` in all. The
    files are checked and stored before the transaction and removed again if it fails; the
    intake's row is locked, so parallel uploads cannot pass the limit together."""
    now = now or timezone.now()
    if not photos:
        message = "请选择要上传的照片。"
        raise InvalidInput(message, fields={"files": [message]})
    if len(photos) > settings.INTAKE_MAX_PHOTOS:
        message = f"最多上传 {settings.INTAKE_MAX_PHOTOS} 张照片。"
        raise InvalidInput(message, fields={"files": [message]})
    processed = attachment_writes.prepare(photos)
    stored = attachment_writes.save_files(processed)
    try:
        with transaction.atomic():
            intake = Intake.objects.select_for_update().get(pk=intake_id)
            window = timedelta(minutes=settings.INTAKE_PHOTO_WINDOW_MINUTES)
            if intake.status != Intake.Status.NEW or now > intake.created_at + window:
                raise errors.IntakePhotosClosed()
            if intake.photos.count() + len(processed) > settings.INTAKE_MAX_PHOTOS:
                message = f"每条诉求最多 {settings.INTAKE_MAX_PHOTOS} 张照片。"
                raise InvalidInput(message, fields={"files": [message]})
            rows = attachment_writes.insert(
                processed=processed, stored=stored, uploaded_by=actor, intake=intake
            )
            record_event(
                actor=actor,
                verb="intake_photos_added",
                obj=intake,
                payload={
                    "photos": [photo.pk for photo in rows],
                    "sha256": [photo.sha256 for photo in rows],
                },
            )
        return rows
    except BaseException:
        attachment_writes.discard(stored)
        raise


# ---------------------------------------------------------------- triage (派单)


def _lock_new(intake_id: int) -> Intake:
    intake = Intake.objects.select_for_update().select_related("station").get(pk=intake_id)
    if intake.status != Intake.Status.NEW:
        raise errors.IntakeNotNew()
    return intake


def _close(
    intake: Intake,
    *,
    actor: User,
    to: str,
    verb: str,
    now: datetime,
    payload: dict[str, Any],
    **values,
) -> Intake:
    updated = Intake.objects.filter(pk=intake.pk, status=Intake.Status.NEW).update(
        status=to, triaged_by=actor, triaged_at=now, updated_at=now, **values
    )
    if not updated:
        raise errors.IntakeNotNew()
    record_event(
        actor=actor,
        verb=verb,
        obj=intake,
        from_status=Intake.Status.NEW,
        to_status=to,
        payload={"station": intake.station_id, **payload},
    )
    intake.refresh_from_db()
    return intake


def accept_intake(
    *,
    actor: User,
    intake_id: int,
    campaign: Campaign,
    starts_at: datetime,
    ends_at: datetime,
    slots: int,
    title: str = "",
    specialties: list[Specialty] | None = None,
    address: str = "",
    share_phone: bool = False,
    now: datetime | None = None,
) -> Intake:
    """受理: a service request pre-filled from the intake (its text, village, kind), posted by
    the manager through ``create_request``. The resident's phone is copied to the request's
    contact (which its claimants see) only when the manager says so (``share_phone``)."""
    now = now or timezone.now()
    with transaction.atomic():
        intake = _lock_new(intake_id)
        created = create_request(
            actor=actor,
            campaign=campaign,
            title=title or _title_from(intake.description),
            description=intake.description,
            station=intake.station,
            village=intake.village,
            specialties=specialties
            if specialties is not None
            else ([intake.specialty] if intake.specialty else []),
            starts_at=starts_at,
            ends_at=ends_at,
            slots=slots,
            address=address,
            contact_name="群众点单" if share_phone and intake.phone else "",
            contact_phone=intake.phone if share_phone else "",
            now=now,
            source={"intake": intake.pk},
        )
        intake = _close(
            intake,
            actor=actor,
            to=Intake.Status.ACCEPTED,
            verb="intake_accepted",
            now=now,
            payload={"request": created.request.pk},
            request=created.request,
        )
        notifications.intake_step(
            intake, step="已受理", body="驿站已受理您的诉求，正在安排委员服务。", key="accepted"
        )
    return intake


def _title_from(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else "群众点单"
    return first[:30]


def merge_intake(*, actor: User, intake_id: int, request_id: int, now=None) -> Intake:
    """合并: the need is already a request of the station; the intake follows that one."""
    now = now or timezone.now()
    with transaction.atomic():
        intake = _lock_new(intake_id)
        target = ServiceRequest.objects.filter(
            pk=request_id, station_id=intake.station_id, status__in=OPEN_REQUEST
        ).first()
        if target is None:
            raise errors.MergeTargetInvalid(
                fields={"request": [errors.MergeTargetInvalid.default_detail]}
            )
        intake = _close(
            intake,
            actor=actor,
            to=Intake.Status.MERGED,
            verb="intake_merged",
            now=now,
            payload={"request": target.pk},
            request=target,
        )
        notifications.intake_step(
            intake, step="已受理", body="驿站已受理您的诉求，并入已有的服务安排。", key="accepted"
        )
    return intake


def refer_intake(
    *,
    actor: User,
    intake_id: int,
    reason: str,
    station: Station | None = None,
    office: bool = False,
    now=None,
) -> Intake:
    """转交: to another station (it joins that station's queue, still new) or to the office as
    社情民意 information (closed here; the resident reads the reason)."""
    now = now or timezone.now()
    if (station is None) == (not office):
        raise errors.ReferralInvalid()
    with transaction.atomic():
        intake = _lock_new(intake_id)
        if office:
            intake = _close(
                intake,
                actor=actor,
                to=Intake.Status.REFERRED,
                verb="intake_referred",
                now=now,
                payload={"office": True, "reason": reason},
                reason=reason,
            )
            notifications.intake_step(
                intake,
                step="已转交",
                body=f"您的诉求已作为社情民意信息转交政协机关：{reason}",
                key="referred",
            )
            return intake
        if not station.active or station.pk == intake.station_id:
            raise errors.ReferralInvalid("请选择其他启用中的驿站。")
        updated = Intake.objects.filter(pk=intake.pk, status=Intake.Status.NEW).update(
            referred_from_id=intake.station_id,
            station=station,
            village=None,
            reason=reason,
            queued_at=now,
            overdue_notified_at=None,
            updated_at=now,
        )
        if not updated:
            raise errors.IntakeNotNew()
        record_event(
            actor=actor,
            verb="intake_referred",
            obj=intake,
            from_status=Intake.Status.NEW,
            to_status=Intake.Status.NEW,
            payload={"station": intake.station_id, "to_station": station.pk, "reason": reason},
        )
        intake.refresh_from_db()
        notifications.intake_received(intake)
    return intake


def decline_intake(*, actor: User, intake_id: int, reason: str, now=None) -> Intake:
    """不予受理, with the reason the resident reads on the ticket page."""
    now = now or timezone.now()
    with transaction.atomic():
        intake = _lock_new(intake_id)
        intake = _close(
            intake,
            actor=actor,
            to=Intake.Status.DECLINED,
            verb="intake_declined",
            now=now,
            payload={"reason": reason},
            reason=reason,
        )
        notifications.intake_step(
            intake, step="未受理", body=f"驿站未受理您的诉求：{reason}", key="declined"
        )
    return intake
