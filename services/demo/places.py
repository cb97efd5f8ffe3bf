"""Where a demo request takes place and how it reads.

The villages each station serves, and a request's point, address, description and contact,
shared by the demo requests and the history so a need reads the same whichever wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stations.geo import Point
from stations.models import Station, Village


def villages_by_station(stations: Iterable[Station]) -> dict[int, list[Village]]:
    """Station id → the active villages it serves, in id order."""
    return {
        s.pk: list(Village.objects.filter(station=s, active=True).order_by("id")) for s in stations
    }


@dataclass(frozen=True)
class Posting:
    """What a request at ``village`` (or at the station itself) says about its place."""

    point: Point
    address: str
    description: str
    contact_name: str


def posting(station: Station, village: Village | None, title: str) -> Posting:
    """A need at a village meets at its service centre; the station's own, at the station."""
    place = village or station
    return Posting(
        point=Point(lat=place.lat, lng=place.lng),
        address=station.address if village is None else f"{village.name}村民服务中心",
        description=f"{title}。请携带相关资料，提前十分钟到场。",
        contact_name=f"{(village or station.town).name}联系人",
    )
