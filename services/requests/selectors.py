"""Reads of requests and claims that need thought: who sees what, per-viewer extras."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet

from accounts.models import Event, User
from accounts.permissions import is_staff
from services.models import Claim, ServiceRequest
from stations.models import Station
from stations.selectors import managed_station_ids


def request_queryset() -> QuerySet[ServiceRequest]:
    """Requests with what their serializer reads, in as few queries as possible."""
    return ServiceRequest.objects.select_related(
        "station__town", "village", "campaign", "invited_team", "created_by"
    ).prefetch_related("specialties")


def claim_queryset() -> QuerySet[Claim]:
    """Claims with what their serializer reads."""
    return Claim.objects.select_related(
        "request__station", "member", "team", "rejected_by"
    ).order_by("-created_at", "-id")


def visible_claims(user: User) -> QuerySet[Claim]:
    """Claims ``user`` may see: their own; their stations' when a manager; all for staff."""
    claims = claim_queryset()
    if is_staff(user):
        return claims
    scope = Q(member__user=user)
    if user.is_station_manager:
        scope |= Q(request__station__in=Station.objects.filter(managers=user))
    return claims.filter(scope)


@dataclass
class Viewer:
    """Per-viewer facts the request serializer needs, fetched once per page."""

    user: User
    staff: bool = False
    stations: set[int] = field(default_factory=set)
    # request id → (claim id, status) of the viewer's live claim.
    claims: dict[int, tuple[int, str]] = field(default_factory=dict)
    waitlists: dict[int, int] = field(default_factory=dict)
    distances: dict[int, float] = field(default_factory=dict)

    def sees_contact(self, service_request: ServiceRequest) -> bool:
        """Contact PII: staff, the station's managers, the poster, members holding a slot."""
        if self.staff or service_request.station_id in self.stations:
            return True
        if service_request.created_by_id == self.user.pk:
            return True
        mine = self.claims.get(service_request.pk)
        return mine is not None and mine[1] in Claim.SLOT_HOLDING


def viewer_for(
    user: User,
    requests: Sequence[ServiceRequest],
    *,
    distances: dict[int, float] | None = None,
) -> Viewer:
    """Build the Viewer for one page of requests (three small queries)."""
    ids = [r.pk for r in requests]
    viewer = Viewer(
        user=user,
        staff=is_staff(user),
        stations=managed_station_ids(user),
        distances=distances or {},
    )
    if not ids:
        return viewer
    if user.is_authenticated and user.is_member:
        for request_id, claim_id, status in Claim.objects.filter(
            request_id__in=ids, member__user=user, status__in=Claim.LIVE
        ).values_list("request_id", "id", "status"):
            viewer.claims[request_id] = (claim_id, status)
    viewer.waitlists = dict(
        Claim.objects.filter(request_id__in=ids, status=Claim.Status.WAITLISTED)
        .values("request_id")
        .annotate(n=Count("id"))
        .values_list("request_id", "n")
    )
    return viewer


def waitlist_positions(claims: Sequence[Claim]) -> dict[int, int]:
    """1-based places in line of waitlisted claims (first come, first promoted)."""
    positions: dict[int, int] = {}
    for claim in claims:
        if claim.status != Claim.Status.WAITLISTED:
            continue
        ahead = (
            Claim.objects.filter(request_id=claim.request_id, status=Claim.Status.WAITLISTED)
            .filter(
                Q(created_at__lt=claim.created_at) | Q(created_at=claim.created_at, id__lt=claim.pk)
            )
            .count()
        )
        positions[claim.pk] = ahead + 1
    return positions


def request_events(service_request: ServiceRequest) -> QuerySet[Event]:
    """The audit trail of a request and of every claim on it, newest first."""
    claim_ids = [str(pk) for pk in service_request.claims.values_list("id", flat=True)]
    request_type = ContentType.objects.get_for_model(ServiceRequest)
    claim_type = ContentType.objects.get_for_model(Claim)
    return (
        Event.objects.filter(
            Q(content_type=request_type, object_id=str(service_request.pk))
            | Q(content_type=claim_type, object_id__in=claim_ids)
        )
        .select_related("actor", "content_type")
        .order_by("-at", "-id")
    )
