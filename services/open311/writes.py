"""POST requests.json: an outside system posts a need for the station its API key belongs to.

The request is made by ``services.requests.writes.create_request`` like any other, acting as
the key's issuer (a staff account) for the key's station, so every rule of the workflow applies; the
``request_created`` Event carries the key (``source``). Defaults for what Open311 has no field
for (our ``attribute[...]`` extensions):

- campaign: ``attribute[campaign]`` (an id, or a kind such as ``warm_village``); else the
  campaign of the service's 三暖 kind running on the start day; else the only campaign running
  that day; else 400 ``open311_campaign_required``.
- starts_at: tomorrow at OPEN311_DEFAULT_START_HOUR local time; ends_at: starts_at +
  OPEN311_DEFAULT_DURATION_HOURS.
- slots: 1 (one resident's need, one member). title: the first line of the description
  (40 characters at most), else "<service name>服务需求".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.errors import InvalidInput
from members.models import Specialty
from services.models import Campaign, ServiceRequest
from services.open311.errors import CampaignRequired
from services.open311.selectors import Service, service_for_code
from services.requests.writes import create_request
from stations.geo import Point
from stations.models import StationApiKey

CAMPAIGN_FIELD = "attribute[campaign]"
DEFAULT_SLOTS = 1
TITLE_FROM_DESCRIPTION = 40


def default_start(now: datetime) -> datetime:
    """Tomorrow at OPEN311_DEFAULT_START_HOUR, local time."""
    tomorrow = timezone.localdate(now) + timedelta(days=1)
    naive = datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, settings.OPEN311_DEFAULT_START_HOUR
    )
    return timezone.make_aware(naive)


def _running(day: date):
    return Campaign.objects.filter(starts_on__lte=day, ends_on__gte=day).order_by(
        "-starts_on", "-id"
    )


def choose_campaign(value: str | None, *, service: Service, day: date) -> Campaign:
    """The campaign of a posted request (see the module docstring)."""
    if value:
        if value.isdigit():
            campaign = Campaign.objects.filter(pk=int(value)).first() if len(value) < 19 else None
            if campaign is None:
                message = f"活动 {value} 不存在。"
                raise InvalidInput(message, fields={CAMPAIGN_FIELD: [message]})
            return campaign
        kinds = {k.value: k for k in Campaign.Kind} | {k.label: k for k in Campaign.Kind}
        if value not in kinds:
            message = (
                "attribute[campaign] 须为活动 ID 或 warm_enterprise、warm_village、warm_heart。"
            )
            raise InvalidInput(message, fields={CAMPAIGN_FIELD: [message]})
        campaign = _running(day).filter(kind=kinds[value]).first()
        if campaign is None:
            message = f"{day:%Y-%m-%d} 没有进行中的“{kinds[value].label}”活动。"
            raise InvalidInput(message, fields={CAMPAIGN_FIELD: [message]})
        return campaign
    if service.kind:
        campaign = _running(day).filter(kind=service.kind).first()
        if campaign is not None:
            return campaign
    running = list(_running(day)[:2])
    if len(running) == 1:
        return running[0]
    raise CampaignRequired()


def default_title(description: str, service: Service) -> str:
    """The first line of the description, shortened; else the service's name."""
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if not first:
        return f"{service.service_name}服务需求"
    if len(first) > TITLE_FROM_DESCRIPTION:
        return first[: TITLE_FROM_DESCRIPTION - 1] + "…"
    return first


def request_post(
    *,
    key: StationApiKey,
    service_code: str,
    point: Point | None = None,
    address: str = "",
    description: str = "",
    contact_name: str = "",
    contact_phone: str = "",
    campaign: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    slots: int | None = None,
    title: str | None = None,
    now: datetime | None = None,
) -> ServiceRequest:
    """Create the request a key's holder posted (one transaction, in the workflow)."""
    now = now or timezone.now()
    service = service_for_code(service_code)
    starts_at = starts_at or default_start(now)
    ends_at = ends_at or starts_at + timedelta(hours=settings.OPEN311_DEFAULT_DURATION_HOURS)
    chosen = choose_campaign(campaign, service=service, day=timezone.localdate(starts_at))
    specialties = (
        list(Specialty.objects.filter(pk=service.specialty_id)) if service.specialty_id else []
    )
    created = create_request(
        actor=key.created_by,
        station=key.station,
        campaign=chosen,
        title=title or default_title(description, service),
        starts_at=starts_at,
        ends_at=ends_at,
        slots=slots or DEFAULT_SLOTS,
        description=description,
        specialties=specialties,
        point=point,
        address=address,
        contact_name=contact_name,
        contact_phone=contact_phone,
        now=now,
        source={"channel": "open311", "api_key": key.pk, "api_key_prefix": key.prefix},
    )
    return created.request
