"""The demo's steps through the product's own writes, each at its moment in the demo's story.

A demo request is posted, claimed, checked in and out by ``create_request``, ``claim_request``,
``check_in`` and ``check_out`` with ``now=`` set to when the step happened, so its counters,
status moves, events, notices and rollups are exactly what the product makes. The one thing
the writes cannot be told is ``created_at`` (``auto_now_add`` stamps the wall clock): each step
here sets it to the step's moment right after, before anything reads it (the time to first
claim is computed from it when the first claim lands).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from accounts.models import User
from members.models import Member, Specialty
from services.demo.places import Need, point_of, request_fields
from services.models import Claim, ServiceRequest
from services.requests.claims import check_in, claim_request
from services.requests.writes import create_request
from stations.geo import Point, distance_km
from stations.models import Station

CANCEL_REASON = "天气原因，活动改期"
# Check-ins land this far apart (about 22 m) from the site, one step further per member.
CHECK_IN_STEP_DEGREES = 0.0002


def posters(stations: Iterable[Station]) -> dict[int, User | None]:
    """Station id → who posts and reviews its needs: its first manager (by id) holding the
    manager role, else the first staff user; None when there is neither."""
    staff = User.objects.filter(is_staff=True, is_active=True).order_by("id").first()
    found: dict[int, User | None] = {}
    for station in sorted(stations, key=lambda s: s.pk):
        manager = (
            station.managers.filter(is_station_manager=True, is_active=True).order_by("id").first()
        )
        found[station.pk] = manager or staff
    return found


def post(
    need: Need,
    *,
    actor: User,
    contact_phone: str,
    at: datetime,
    specialties: Sequence[Specialty] = (),
) -> ServiceRequest:
    """``create_request`` of ``need`` as posted at ``at``."""
    service_request = create_request(
        **request_fields(need, contact_phone=contact_phone),
        actor=actor,
        specialties=specialties,
        point=point_of(need),
        now=at,
        source={"demo": True},
    ).request
    ServiceRequest.objects.filter(pk=service_request.pk).update(created_at=at)
    service_request.created_at = at
    return service_request


def claim(
    service_request: ServiceRequest, member: Member, *, at: datetime, waitlist: bool = False
) -> Claim:
    """``claim_request`` by ``member`` at ``at`` (a waitlist place when full and ``waitlist``)."""
    made = claim_request(user=member.user, request_id=service_request.pk, waitlist=waitlist, now=at)
    Claim.objects.filter(pk=made.pk).update(created_at=at)
    made.created_at = at
    return made


def check_in_point(service_request: ServiceRequest, offset: int) -> Point:
    """Where the ``offset``-th member checks in: a few steps north of the site."""
    return Point(
        lat=service_request.lat + CHECK_IN_STEP_DEGREES * (offset + 1), lng=service_request.lng
    )


def check_in_distance_m(service_request: ServiceRequest, offset: int) -> float:
    """The distance ``check_in`` records for ``check_in_point`` (computed as it computes it)."""
    site = Point(lat=service_request.lat, lng=service_request.lng)
    return round(distance_km(site, check_in_point(service_request, offset)) * 1000.0, 1)


def arrive(service_request: ServiceRequest, made: Claim, *, offset: int, at: datetime) -> Claim:
    """``check_in`` of ``made`` at ``at``, from ``check_in_point(offset)``."""
    return check_in(
        user=made.member.user,
        claim_id=made.pk,
        point=check_in_point(service_request, offset),
        now=at,
    )
