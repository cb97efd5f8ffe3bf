"""评单: the resident rates the service their intake became, 1–5 with an optional comment.

Only once the request's record is verified; one rating per intake (the one-to-one key), which
may be changed for INTAKE_RATING_CHANGE_DAYS after it was given. Each write locks the intake's
row first, so parallel ratings of one ticket queue and leave one rating (tests with threads on
PostgreSQL). The rating copies the record's station, team, 三暖 kind and service day so the
satisfaction figures read one table (services/intake/satisfaction.py), and adds it to its team's
rollup (``services.rollups.rating_changed``) in the same transaction, the record's row locked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from services import rollups
from services.intake import errors
from services.intake.tracking import verified_record
from services.models import Intake, IntakeRating, ServiceRecord


def rating_of(intake: Intake) -> IntakeRating | None:
    return IntakeRating.objects.filter(intake_id=intake.pk).first()


def changeable_until(rating: IntakeRating) -> datetime:
    return rating.created_at + timedelta(days=settings.INTAKE_RATING_CHANGE_DAYS)


def can_rate(intake: Intake, *, now: datetime | None = None) -> bool:
    """Whether a rating may be given or changed now."""
    now = now or timezone.now()
    if verified_record(intake) is None:
        return False
    rating = rating_of(intake)
    return rating is None or now <= changeable_until(rating)


def _team_of(record: ServiceRecord):
    """The team of the record's first participant (by claim), the team that served."""
    first = record.participants.order_by("id").values_list("team_id", flat=True).first()
    return first


def rate(
    *,
    intake_id: int,
    score: int,
    comment: str = "",
    change: bool = False,
    actor=None,
    now: datetime | None = None,
) -> IntakeRating:
    """Give (``change=False``) or change (``change=True``) the intake's rating."""
    now = now or timezone.now()
    with transaction.atomic():
        intake = Intake.objects.select_for_update().get(pk=intake_id)
        record = verified_record(intake)
        # The record's row locked and still verified: a revocation either comes after this
        # rating (and takes it out of the team rollup with the record) or before (no rating).
        if (
            record is None
            or not ServiceRecord.objects.select_for_update()
            .filter(pk=record.pk, status=ServiceRecord.Status.VERIFIED)
            .values_list("pk", flat=True)
            .first()
        ):
            raise errors.RatingNotYet()
        existing = IntakeRating.objects.filter(intake_id=intake.pk).first()
        if existing is not None and not change:
            raise errors.RatingExists()
        if existing is None and change:
            change = False
        if existing is not None:
            if now > changeable_until(existing):
                raise errors.RatingLocked()
            before = existing.score
            IntakeRating.objects.filter(pk=existing.pk).update(
                score=score, comment=comment, updated_at=now
            )
            existing.refresh_from_db()
            rollups.rating_changed(existing, before=before, after=score)
            record_event(
                actor=actor,
                verb="intake_rating_changed",
                obj=intake,
                payload={"record": record.pk, "score": [before, score]},
            )
            return existing
        rating = IntakeRating.objects.create(
            intake=intake,
            record=record,
            score=score,
            comment=comment,
            station_id=record.station_id,
            town_id=record.town_id,
            team_id=_team_of(record),
            campaign_kind=record.campaign_kind,
            service_date=record.service_date,
        )
        rollups.rating_changed(rating, before=None, after=score)
        record_event(
            actor=actor,
            verb="intake_rated",
            obj=intake,
            payload={"record": record.pk, "score": score},
        )
    return rating
