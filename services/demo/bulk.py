"""The year of history (``services.demo.history``'s plan) written with bulk inserts.

Bulk, not the writes, because of the size. Measured on SQLite on the busy 2-core machine:
through the writes (``create_request``, ``claim_request``, ``check_in``, ``check_out``,
``submit_record``, ``verify_record``, ``cancel_request``, ``expire_overdue``) the year's ~160
needs take 14 s of CPU (28 s on the clock), in bulk 0.5 s (1 s); all of ``seed_demo`` takes
about 4 s of CPU, and ``make run`` would wait 3–4 times as long. So the writers below mirror
the rules those writes apply, and ``tests/test_stats_demo_history.py`` replays a sample of the
plan through the writes and finds the same rows:

- requests: posted by the station's manager (else staff), ``claimed`` = the crew (never above
  the slots), status by fate (verified, completed, cancelled, expired, open),
  ``first_claimed_at`` the first claim, cancellation time and reason;
- claims: one per crew member (no member twice a day, so no time conflict), the team
  snapshot, ``check_in_by`` = max(start, claim), checked in inside the window from a point
  inside the geofence with the distance ``check_in`` records, checked out at the end with the
  minutes ``check_out`` counts; done once the record is verified, else checked in;
- records: version 1, or a rejected version 1 beside a corrected verified version 2; the
  crew as participants; the request's place, campaign and day copied; submitted by a
  participant, reviewed by the station's manager (else staff), never the submitter; the
  anomaly flags ``submit_record`` computes (``anomalies.flags_for``);
- points: ``points.awards_for`` of each verified record, once per participant and rule,
  booked when the record was verified;
- timestamps the writes' ``auto_now_add`` would give the wall clock (posting, claiming,
  submitting, booking) are the plan's moments;
- rollups: not kept row by row but recomputed by ``rollups.rebuild`` at the end.

Left out on purpose: the audit Events and the notices of a year that is over (a flood of
stale messages in the demo's inboxes and outbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from services import rollups
from services.demo import story
from services.demo.places import point_of, request_fields
from services.models import (
    Claim,
    PointEntry,
    PointRule,
    ServiceHours,
    ServiceRecord,
    ServiceRequest,
)
from services.records import anomalies, hours, points
from services.requests.checkout import clamped_minutes

if TYPE_CHECKING:
    from services.demo.history import Service, Version

RecordStatus = ServiceRecord.Status
CONTACT_PHONE = "0580-8000000"  # the history's requests' contact


@dataclass
class _Rows:
    """The rows written for one service."""

    service: Service
    request: ServiceRequest
    claims: list[Claim] = field(default_factory=list)
    verified: ServiceRecord | None = None


def _insert(rows: list, *, stamp: str, moments: list[datetime]) -> None:
    """bulk_create ``rows``, then set their ``stamp`` column (which ``auto_now_add`` sets to
    the wall clock on insert) to the moment each happened in the plan."""
    if not rows:
        return
    model = type(rows[0])
    model.objects.bulk_create(rows, batch_size=500)
    for row, moment in zip(rows, moments, strict=True):
        setattr(row, stamp, moment)
    model.objects.bulk_update(rows, [stamp], batch_size=500)


def _write_requests(services: list[Service], posters: dict[int, User | None]) -> list[_Rows]:
    """The requests as they ended, posted when the plan says."""
    requests = [
        ServiceRequest(
            **request_fields(s, contact_phone=CONTACT_PHONE),
            lat=point_of(s).lat,
            lng=point_of(s).lng,
            claimed=len(s.crew),
            status=s.status,
            first_claimed_at=s.claimed_at(0) if s.crew else None,
            cancelled_at=s.cancelled_at,
            cancel_reason=story.CANCEL_REASON if s.cancelled_at else "",
            created_by=posters.get(s.station.pk),
        )
        for s in services
    ]
    _insert(requests, stamp="created_at", moments=[s.posted_at for s in services])
    return [_Rows(s, r) for s, r in zip(services, requests, strict=True)]


def _claim_of(s: Service, service_request: ServiceRequest, offset: int) -> Claim:
    """The ``offset``-th crew member's claim: checked in and out, done once verified."""
    member = s.crew[offset]
    claimed_at, checked_in = s.claimed_at(offset), s.checked_in_at(offset)
    point = story.check_in_point(service_request, offset)
    return Claim(
        request=service_request,
        member=member,
        team=member.team,
        status=Claim.Status.DONE if s.verified else Claim.Status.CHECKED_IN,
        claimed_at=claimed_at,
        check_in_by=max(s.starts_at, claimed_at),
        checked_in_at=checked_in,
        check_in_lat=point.lat,
        check_in_lng=point.lng,
        check_in_distance_m=story.check_in_distance_m(service_request, offset),
        checked_out_at=s.ends_at,
        duration_minutes=clamped_minutes(service_request, checked_in, s.ends_at),
    )


def _write_claims(written: list[_Rows]) -> int:
    """The crews' claims, made when the plan says."""
    claims = []
    for rows in written:
        rows.claims = [
            _claim_of(rows.service, rows.request, i) for i in range(len(rows.service.crew))
        ]
        claims += rows.claims
    _insert(claims, stamp="created_at", moments=[c.claimed_at for c in claims])
    return len(claims)


def _record_of(rows: _Rows, number: int, v: Version, reviewer: User | None) -> ServiceRecord:
    """Version ``number`` of the service's record, with the anomaly flags submission
    computes and the request's place, campaign and day copied."""
    s, service_request = rows.service, rows.request
    flags = anomalies.flags_for(
        service_request=service_request,
        claims=rows.claims,
        people_served=v.people_served,
        enterprises_served=s.figures[1],
        submitted_at=v.submitted_at,
    )
    return ServiceRecord(
        request=service_request,
        version=number,
        people_served=v.people_served,
        enterprises_served=s.figures[1],
        households_visited=s.figures[2],
        summary=s.summary(),
        participants_count=len(rows.claims),
        flags=flags,
        flag_count=len(flags),
        status=v.status,
        submitted_by_id=s.crew[0].user_id,
        verified_by=reviewer if v.reviewed_at else None,
        verified_at=v.reviewed_at,
        note=v.note,
        # What verification settles when nobody corrects the hours (services.records.hours).
        service_minutes=(
            sum(c.duration_minutes for c in rows.claims) if v.status == RecordStatus.VERIFIED else 0
        ),
        station=s.station,
        town_id=s.station.town_id,
        campaign=s.campaign,
        campaign_kind=s.campaign.kind,
        service_date=timezone.localdate(s.starts_at),
    )


def _write_records(written: list[_Rows], reviewers: dict[int, User | None]) -> list[ServiceRecord]:
    """Each version of each record (a rejected first stays beside its verified correction),
    the crew its participants."""
    records, moments, links = [], [], []
    for rows in written:
        for number, v in enumerate(rows.service.versions() if rows.claims else [], start=1):
            record = _record_of(rows, number, v, reviewers.get(rows.service.station.pk))
            records.append(record)
            moments.append(v.submitted_at)
            links += [(record, claim) for claim in rows.claims]
            if v.status == RecordStatus.VERIFIED:
                rows.verified = record
    _insert(records, stamp="submitted_at", moments=moments)
    through = ServiceRecord.participants.through
    through.objects.bulk_create(
        [through(servicerecord=record, claim=claim) for record, claim in links], batch_size=1000
    )
    return records


def _write_hours(written: list[_Rows], reviewers: dict[int, User | None]) -> int:
    """Each verified record's hours entries, the crew's minutes confirmed as recorded."""
    entries = [
        entry
        for rows in written
        if rows.verified is not None
        for entry in hours.bulk_entries(
            rows.verified,
            rows.claims,
            [c.duration_minutes for c in rows.claims],
            entered_by=reviewers.get(rows.service.station.pk),
        )
    ]
    ServiceHours.objects.bulk_create(entries, batch_size=1000)
    return len(entries)


def _write_points(written: list[_Rows], rules: list[PointRule]) -> int:
    """Duty points of the verified records, by the rules verification applies, booked when
    the record was verified (an award's fields are its ledger line's)."""
    entries = [
        PointEntry(
            **vars(award), record=rows.verified, award=True, service_date=rows.verified.service_date
        )
        for rows in written
        if rows.verified is not None
        for award in points.awards_for(
            claims=rows.claims, service_request=rows.request, rules=rules
        )
    ]
    _insert(entries, stamp="created_at", moments=[e.record.verified_at for e in entries])
    return len(entries)


@dataclass
class DemoHistory:
    """What seed_history made (zero everywhere on a second run the same day)."""

    requests: int = 0
    records: int = 0
    verified: int = 0
    claims: int = 0
    hours: int = 0
    points: int = 0


def write_history(services: list[Service]) -> DemoHistory:
    """Put planned services down with bulk inserts, as the writes would leave them, then
    recompute the rollups (bulk inserts bypass the writes that keep them)."""
    result = DemoHistory()
    if not services:
        return result
    with transaction.atomic():
        posters = story.posters({s.station for s in services})
        written = _write_requests(services, posters)
        result.requests = len(written)
        result.claims = _write_claims(written)
        records = _write_records(written, posters)
        result.records = len(records)
        result.verified = sum(1 for r in records if r.status == RecordStatus.VERIFIED)
        result.hours = _write_hours(written, posters)
        result.points = _write_points(written, points.active_rules())
        rollups.rebuild()
    return result
