"""Reads of Open311: the service catalogue and public views of service requests.

A *service* is a specialty (``service_code`` = specialty code), plus one catch-all service
``general`` (综合服务) for requests that name no specialty. A request's service is its primary
specialty: the one with the lowest id. Nothing here reads or returns personal data: no contact
name or phone, no poster, no claimant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from members.models import Specialty
from services.models import Campaign, ServiceRequest
from services.open311.errors import DateRange, UnknownRequest, UnknownService

Status = ServiceRequest.Status
Kind = Campaign.Kind

# The catch-all service of requests without a specialty. A specialty that happens to use this
# code is folded into it (the catalogue never lists one code twice).
GENERAL_CODE = "general"
GENERAL_NAME = "综合服务"
GROUP_OTHER = "服务需求"

# Which 三暖 campaign a specialty's needs usually belong to (docs/architecture.md#campaigns:
# 暖企 serves enterprises;
# 暖岙's 三下乡 brings science, law and medicine to remote villages; 暖心 is the themed care
# months). It is the service's ``group`` and the default campaign kind of a posted request.
SERVICE_KINDS: dict[str, str] = {
    "enterprise": Kind.WARM_ENTERPRISE,
    "finance": Kind.WARM_ENTERPRISE,
    "law": Kind.WARM_VILLAGE,
    "medical": Kind.WARM_VILLAGE,
    "agritech": Kind.WARM_VILLAGE,
    "fishery": Kind.WARM_VILLAGE,
    "environment": Kind.WARM_VILLAGE,
    "psychology": Kind.WARM_HEART,
    "elderly_care": Kind.WARM_HEART,
    "culture": Kind.WARM_HEART,
    "education": Kind.WARM_HEART,
    "social_security": Kind.WARM_HEART,
}

OPEN = "open"
CLOSED = "closed"
STATUS_CHOICES = (OPEN, CLOSED)
# Our states on Open311's two: claimable or under way is open; finished either way is closed.
OPEN_STATES = (Status.OPEN, Status.FULL, Status.IN_PROGRESS)
CLOSED_STATES = (Status.COMPLETED, Status.VERIFIED, Status.CANCELLED, Status.EXPIRED)


@dataclass(frozen=True)
class Service:
    """One entry of services.json."""

    service_code: str
    service_name: str
    description: str
    keywords: str
    group: str
    kind: str | None
    specialty_id: int | None
    metadata: bool = False
    type: str = "realtime"


def _group(kind: str | None) -> str:
    return Kind(kind).label if kind else GROUP_OTHER


def _service_of(specialty: Specialty) -> Service:
    kind = SERVICE_KINDS.get(specialty.code)
    group = _group(kind)
    return Service(
        service_code=specialty.code,
        service_name=specialty.name,
        description=(
            f"{specialty.name}类志愿服务需求（{group}）：驿站发布后，具备该专长的政协委员"
            f"在“我为群众办一事”小程序中认领并到场服务。"
        ),
        keywords=",".join([specialty.name, specialty.code, group]),
        group=group,
        kind=kind,
        specialty_id=specialty.pk,
    )


GENERAL_SERVICE = Service(
    service_code=GENERAL_CODE,
    service_name=GENERAL_NAME,
    description="不限专长的志愿服务需求：由驿站安排合适的政协委员认领并到场服务。",
    keywords=f"{GENERAL_NAME},{GENERAL_CODE},{GROUP_OTHER}",
    group=GROUP_OTHER,
    kind=None,
    specialty_id=None,
)


def service_list() -> list[Service]:
    """The catalogue: every active specialty, then the catch-all service."""
    specialties = Specialty.objects.filter(active=True).exclude(code=GENERAL_CODE).order_by("id")
    return [*(_service_of(s) for s in specialties), GENERAL_SERVICE]


def service_for_code(code: str, *, active_only: bool = True) -> Service:
    """The service of ``code`` (404 ``open311_unknown_service`` when there is none)."""
    if code == GENERAL_CODE:
        return GENERAL_SERVICE
    specialties = Specialty.objects.filter(code=code)
    if active_only:
        specialties = specialties.filter(active=True)
    specialty = specialties.first()
    if specialty is None:
        raise UnknownService(f"未知的 service_code：{code}。")
    return _service_of(specialty)


def _primary_specialty() -> Subquery:
    through = ServiceRequest.specialties.through
    return Subquery(
        through.objects.filter(servicerequest_id=OuterRef("pk"))
        .order_by("specialty_id")
        .values("specialty_id")[:1]
    )


def _lapsed(now: datetime) -> Q:
    # An open request that ended with nobody on it is expired, even before the expiry job
    # writes so: public reads never write, so they decide it here instead.
    return Q(status=Status.OPEN, claimed=0, ends_at__lte=now)


def open311_status(service_request: ServiceRequest, *, now: datetime) -> tuple[str, str]:
    """(``open``/``closed``, our state) of a request as Open311 shows it."""
    state = service_request.status
    if state == Status.OPEN and service_request.claimed == 0 and service_request.ends_at <= now:
        state = Status.EXPIRED
    return (OPEN if state in OPEN_STATES else CLOSED), state


def _base_queryset() -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.select_related("station").annotate(
        primary_specialty_id=_primary_specialty()
    )


@dataclass(frozen=True)
class RequestQuery:
    """Parsed arguments of GET requests.json."""

    ids: Sequence[int] = ()
    service_codes: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[str] = ()


def _window(start: datetime | None, end: datetime | None, *, now: datetime):
    """The requested_datetime window: the spec's default of the last 90 days, and never longer."""
    span = timedelta(days=settings.OPEN311_MAX_DAYS)
    if start is None and end is None:
        return now - span, None
    if start is not None and end is not None:
        if start > end:
            raise DateRange("start_date 不能晚于 end_date。")
        if end - start > span:
            raise DateRange(f"start_date 与 end_date 相隔不能超过 {settings.OPEN311_MAX_DAYS} 天。")
        return start, end
    if start is not None:
        return start, start + span
    return end - span, end


def request_list(*, query: RequestQuery, now: datetime | None = None) -> list[ServiceRequest]:
    """Requests matching ``query``, newest first, at most OPEN311_MAX_REQUESTS.

    With ids, the other arguments are ignored (as the spec says)."""
    now = now or timezone.now()
    rows = _base_queryset()
    if query.ids:
        rows = rows.filter(pk__in=query.ids)
    else:
        start, end = _window(query.start, query.end, now=now)
        rows = rows.filter(created_at__gte=start)
        if end is not None:
            rows = rows.filter(created_at__lte=end)
        if query.service_codes:
            rows = rows.filter(_service_filter(query.service_codes))
        if set(query.statuses) == {OPEN}:
            rows = rows.filter(status__in=OPEN_STATES).exclude(_lapsed(now))
        elif set(query.statuses) == {CLOSED}:
            rows = rows.filter(Q(status__in=CLOSED_STATES) | _lapsed(now))
    return list(rows.order_by("-created_at", "-id")[: settings.OPEN311_MAX_REQUESTS])


def _service_filter(codes: Sequence[str]) -> Q:
    """Requests whose primary specialty is one of ``codes`` (404 for a code nobody has)."""
    wanted = set(codes)
    found = dict(
        Specialty.objects.filter(code__in=wanted - {GENERAL_CODE}).values_list("code", "id")
    )
    unknown = sorted(wanted - set(found) - {GENERAL_CODE})
    if unknown:
        raise UnknownService(f"未知的 service_code：{'，'.join(unknown)}。")
    condition = Q(primary_specialty_id__in=list(found.values()))
    if GENERAL_CODE in wanted:
        condition |= Q(primary_specialty_id__isnull=True)
    return condition


def request_detail(*, request_id: int) -> ServiceRequest:
    """One request (404 ``open311_unknown_request`` when there is none)."""
    service_request = _base_queryset().filter(pk=request_id).first()
    if service_request is None:
        raise UnknownRequest()
    return service_request


def services_by_specialty(requests: Sequence[ServiceRequest]) -> dict[int | None, Service]:
    """specialty id → Service for the primary specialties of ``requests`` (one query)."""
    ids = {r.primary_specialty_id for r in requests} - {None}
    services: dict[int | None, Service] = {None: GENERAL_SERVICE}
    for specialty in Specialty.objects.filter(pk__in=ids):
        services[specialty.pk] = (
            GENERAL_SERVICE if specialty.code == GENERAL_CODE else _service_of(specialty)
        )
    return services
