"""Personal data retention (PIPL): forget residents' contacts and members' check-in positions.

A request whose service ended (``ends_at``) more than PERSONAL_DATA_RETENTION_DAYS ago loses
its contact name and phone, and its claims lose the check-in latitude and longitude, including
the copies the audit trail kept (``request_updated`` Events list changed contact values;
``claim_checked_in`` Events the position). The photos of those requests' service records lose
their files, thumbnails and GPS position (``services.records.attachments.purge_due``; the rows
stay with type, size, hash and capture time). Residents' intakes (群众点单, docs/intake.md) lose
their phone once their request ended that long ago (or, never a request, once they were posted
that long ago), and the files of their photos are deleted as records' photos are. A resident's
account known only by openid (``resident_<hash>``, made by the mini-program's intake) whose
every intake has ended that long ago is unbound from the openid and renamed: WeChat can reach
nobody through it any more, and the same user coming back gets a new account. Enterprises of
the 暖企 campaign (docs/enterprises.md) lose their contact name and phone once they were
deactivated ENTERPRISE_CONTACT_RETENTION_DAYS ago. Counts, distances, states and times stay,
so statistics and points are untouched.

Work goes in batches of conditional UPDATEs (``WHERE`` the data is still there), each batch in
its own short transaction, so a run holds no lock for long, can be stopped and rerun, and a
second run changes nothing. A run that changed anything leaves one ``personal_data_purged``
Event (actor None) with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Event, User
from services.attachments import writes as attachment_writes
from services.models import Attachment, Claim, Enterprise, Intake, ServiceRequest
from services.records import attachments as record_attachments

VERB = "personal_data_purged"
CONTACT_FIELDS = ("contact_name", "contact_phone")
POSITION_KEYS = ("lat", "lng")


@dataclass
class PurgeReport:
    """What a run changed (or, in a dry run, would change)."""

    cutoff: datetime
    requests: int = 0
    claims: int = 0
    request_events: int = 0
    claim_events: int = 0
    attachments: int = 0
    intakes: int = 0
    residents: int = 0
    enterprises: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return (
            self.requests
            + self.claims
            + self.request_events
            + self.claim_events
            + self.attachments
            + self.intakes
            + self.residents
            + self.enterprises
        )


def _requests_due(cutoff: datetime) -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.filter(ends_at__lt=cutoff).exclude(
        contact_name="", contact_phone=""
    )


def _intakes_ended(cutoff: datetime) -> QuerySet[Intake]:
    ended = Q(request__isnull=False, request__ends_at__lt=cutoff)
    never_a_request = Q(request__isnull=True, created_at__lt=cutoff)
    return Intake.objects.filter(ended | never_a_request)


def _intakes_due(cutoff: datetime) -> QuerySet[Intake]:
    return _intakes_ended(cutoff).exclude(phone="")


# The role-less accounts services.intake.writes.resident_for makes for residents known by openid.
RESIDENT_PREFIX = "resident_"


def _residents_due(cutoff: datetime) -> QuerySet[User]:
    """Residents' accounts still bound to an openid whose every intake has ended past the
    cutoff: nothing of theirs is in progress, so WeChat needs to reach them no more."""
    return (
        User.objects.filter(
            username__startswith=RESIDENT_PREFIX,
            wechat_openid__isnull=False,
            is_member=False,
            is_station_manager=False,
            is_village_liaison=False,
            is_staff=False,
            is_superuser=False,
            intakes__isnull=False,
        )
        .exclude(intakes__in=Intake.objects.exclude(pk__in=_intakes_ended(cutoff).values("pk")))
        .distinct()
    )


def _forget_residents(ids: list[int]) -> int:
    """Unbind the openid and take the name derived from it: the account stays (intakes,
    ratings and Events point at it) but leads to nobody; the same WeChat user coming back
    gets a new account."""
    done = 0
    for pk in ids:
        done += User.objects.filter(pk=pk, wechat_openid__isnull=False).update(
            wechat_openid=None,
            wechat_bound_at=None,
            username=f"resident-purged-{pk}",
            is_active=False,
        )
    return done


def _intake_photos_due(cutoff: datetime) -> QuerySet[Attachment]:
    """Residents' photos of those intakes, files not yet deleted."""
    return Attachment.objects.filter(
        intake__in=_intakes_ended(cutoff).values("pk"), purged_at__isnull=True
    )


def _enterprises_due(now: datetime) -> QuerySet[Enterprise]:
    cutoff = now - timedelta(days=settings.ENTERPRISE_CONTACT_RETENTION_DAYS)
    return Enterprise.objects.filter(active=False, deactivated_at__lt=cutoff).exclude(
        contact_name="", contact_phone=""
    )


def _claims_due(cutoff: datetime) -> QuerySet[Claim]:
    return Claim.objects.filter(request__ends_at__lt=cutoff).filter(
        Q(check_in_lat__isnull=False) | Q(check_in_lng__isnull=False)
    )


# The Event copies: which rows hold what (JSON key lookups work on SQLite and PostgreSQL alike).
_REQUEST_EVENT = Q(verb="request_updated") & (
    Q(payload__changed__has_key="contact_name") | Q(payload__changed__has_key="contact_phone")
)
_CLAIM_EVENT = Q(verb="claim_checked_in") & (Q(payload__has_key="lat") | Q(payload__has_key="lng"))


def _scrub_request_event(payload: dict) -> dict:
    changed = dict(payload.get("changed") or {})
    gone = [name for name in CONTACT_FIELDS if name in changed]
    for name in gone:
        del changed[name]
    # Which fields changed is kept; only their values go.
    return {
        **payload,
        "changed": changed,
        "purged": sorted(set(payload.get("purged", [])) | set(gone)),
    }


def _scrub_claim_event(payload: dict) -> dict:
    gone = [key for key in POSITION_KEYS if key in payload]
    scrubbed = {key: value for key, value in payload.items() if key not in POSITION_KEYS}
    scrubbed["purged"] = sorted(set(payload.get("purged", [])) | set(gone))
    return scrubbed


def purge_personal_data(
    *,
    days: int | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    now: datetime | None = None,
) -> PurgeReport:
    """Remove contact data and check-in positions of requests that ended ``days`` ago or more."""
    days = settings.PERSONAL_DATA_RETENTION_DAYS if days is None else days
    if days < 1:
        raise ValueError("days must be at least 1")
    batch_size = batch_size or settings.PERSONAL_DATA_PURGE_BATCH
    now = now or timezone.now()
    report = PurgeReport(cutoff=now - timedelta(days=days), dry_run=dry_run)
    requests_due, claims_due = _requests_due(report.cutoff), _claims_due(report.cutoff)
    requests_ended = ServiceRequest.objects.filter(ends_at__lt=report.cutoff)
    claims_ended = Claim.objects.filter(request__ends_at__lt=report.cutoff)

    if dry_run:
        report.requests = requests_due.count()
        report.claims = claims_due.count()
        report.attachments = record_attachments.count_due(cutoff=report.cutoff)
        report.attachments += _intake_photos_due(report.cutoff).count()
        report.intakes = _intakes_due(report.cutoff).count()
        report.residents = _residents_due(report.cutoff).count()
        report.enterprises = _enterprises_due(now).count()
    else:
        while ids := list(requests_due.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                report.requests += requests_due.filter(pk__in=ids).update(
                    contact_name="", contact_phone=""
                )
        while ids := list(claims_due.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                report.claims += claims_due.filter(pk__in=ids).update(
                    check_in_lat=None, check_in_lng=None
                )
        report.attachments = record_attachments.purge_due(
            cutoff=report.cutoff, batch_size=batch_size, now=now
        )
        report.attachments += attachment_writes.purge(
            _intake_photos_due(report.cutoff), batch_size=batch_size, now=now
        )
        intakes_due = _intakes_due(report.cutoff)
        while ids := list(intakes_due.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                report.intakes += (
                    Intake.objects.filter(pk__in=ids).exclude(phone="").update(phone="")
                )
        residents_due = _residents_due(report.cutoff)
        while ids := list(residents_due.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                report.residents += _forget_residents(ids)
        enterprises_due = _enterprises_due(now)
        while ids := list(enterprises_due.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic():
                report.enterprises += enterprises_due.filter(pk__in=ids).update(
                    contact_name="", contact_phone=""
                )
    report.request_events = _scrub_events(
        requests_ended, _REQUEST_EVENT, _scrub_request_event, batch_size, dry_run=dry_run
    )
    report.claim_events = _scrub_events(
        claims_ended, _CLAIM_EVENT, _scrub_claim_event, batch_size, dry_run=dry_run
    )

    if report.total and not dry_run:
        Event.objects.create(
            actor=None,
            verb=VERB,
            # A run concerns many rows: it is filed under the request model, object "*".
            content_type=ContentType.objects.get_for_model(ServiceRequest),
            object_id="*",
            payload={
                "requests": report.requests,
                "claims": report.claims,
                "request_events": report.request_events,
                "claim_events": report.claim_events,
                "attachments": report.attachments,
                "intakes": report.intakes,
                "residents": report.residents,
                "enterprises": report.enterprises,
                "cutoff": report.cutoff.isoformat(),
                "retention_days": days,
            },
        )
    return report


def _scrub_events(ended: QuerySet, condition: Q, scrub, batch_size: int, *, dry_run: bool) -> int:
    """Scrub the Events matching ``condition`` whose object is in ``ended``.

    Walks the still-unscrubbed Events (the scrub makes ``condition`` false), ``batch_size`` at a
    time, keeping those whose object is due; the number scrubbed (or due, in a dry run)."""
    candidates = Event.objects.filter(
        condition, content_type=ContentType.objects.get_for_model(ended.model)
    )
    done = 0
    last = 0
    while batch := list(
        candidates.filter(pk__gt=last).order_by("pk").values_list("pk", "object_id")[:batch_size]
    ):
        last = batch[-1][0]
        object_ids = {int(oid) for _, oid in batch if oid.isdigit()}
        due = set(ended.filter(pk__in=object_ids).values_list("pk", flat=True))
        event_ids = [pk for pk, oid in batch if oid.isdigit() and int(oid) in due]
        if not event_ids:
            continue
        if dry_run:
            done += len(event_ids)
            continue
        with transaction.atomic():
            rows = list(candidates.filter(pk__in=event_ids).only("pk", "payload"))
            for event in rows:
                event.payload = scrub(event.payload)
            Event.objects.bulk_update(rows, ["payload"])
            done += len(rows)
    return done
