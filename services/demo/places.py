"""Where a demo request takes place and how it reads.

The villages each station serves, and one description of a need's request (its place,
address, description, contact and times) that both the writes (``create_request``'s
arguments, ``services.demo.story``) and the history's bulk rows (``ServiceRequest``'s fields)
take, so a need reads the same whichever wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from services.models import Campaign
from stations.geo import Point
from stations.models import Station, Village


class Need(Protocol):
    """A demo request to post: the demo requests' specs and the history's services."""

    @property
    def station(self) -> Station: ...
    @property
    def village(self) -> Village | None: ...
    @property
    def campaign(self) -> Campaign: ...
    @property
    def title(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def slots(self) -> int: ...


def villages_by_station(stations: Iterable[Station]) -> dict[int, list[Village]]:
    """Station id → the active villages it serves, in id order."""
    return {
        s.pk: list(Village.objects.filter(station=s, active=True).order_by("id")) for s in stations
    }


def point_of(need: Need) -> Point:
    """The village's point, or the station's for its own needs."""
    place = need.village or need.station
    return Point(lat=place.lat, lng=place.lng)


def request_fields(need: Need, *, contact_phone: str) -> dict[str, Any]:
    """The request's fields but its point: a need at a village meets at its service centre,
    the station's own at the station."""
    village, station = need.village, need.station
    return {
        "station": station,
        "village": village,
        "campaign": need.campaign,
        "title": need.title,
        "description": f"{need.title}。请携带相关资料，提前十分钟到场。",
        "address": station.address if village is None else f"{village.name}村民服务中心",
        "starts_at": need.starts_at,
        "ends_at": need.ends_at,
        "slots": need.slots,
        "contact_name": f"{(village or station.town).name}联系人",
        "contact_phone": contact_phone,
    }
