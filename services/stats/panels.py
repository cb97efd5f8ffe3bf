"""What the staff dashboard shows beside the figures: quick periods, the previous period to
compare with, links into the manager console, and the map panel.

The figures themselves come from ``stats.selectors`` (as the API's); this module only decides
which periods, links and map points go with them.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from services.matching.map import map_features
from services.matching.serializers import map_data
from services.models import ServiceRequest
from services.stats import selectors as stats
from stations.geo import WGS84, BBox
from stations.models import Station

# The manager console's list of needs (docs/console.md; its query parameters: station, town,
# status, month, unclaimed) and one need's page.
CONSOLE_NEEDS = "/console/"
CONSOLE_NEED = "/console/needs/{pk}/"
# Degrees added (at least) around the stations so the outermost points are not on the edge.
MAP_MARGIN_DEG = 0.02


def console_needs(**params) -> str:
    """The console's list of needs filtered by ``params`` (``None`` values left out)."""
    query = urlencode({name: value for name, value in params.items() if value not in (None, "")})
    return f"{CONSOLE_NEEDS}?{query}" if query else CONSOLE_NEEDS


# ---------------------------------------------------------------- periods


def _month_start(day: date, back: int = 0) -> date:
    """The first day of the month ``back`` months before ``day``'s month."""
    months = day.year * 12 + day.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _month_start(day, back=-1) - timedelta(days=1)


def quick_periods(today: date | None = None) -> list[dict]:
    """本月, 上月, 本季度, 上季度, 今年, 去年: ``{key, label, from, to}`` (Asia/Shanghai days)."""
    today = today or timezone.localdate(timezone=stats.SHANGHAI)
    month = _month_start(today)
    last_month = _month_start(today, back=1)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    last_quarter = _month_start(quarter, back=3)
    periods = [
        ("this_month", "本月", month, _month_end(month)),
        ("last_month", "上月", last_month, month - timedelta(days=1)),
        ("this_quarter", "本季度", quarter, _month_end(_month_start(quarter, back=-2))),
        ("last_quarter", "上季度", last_quarter, quarter - timedelta(days=1)),
        ("this_year", "今年", date(today.year, 1, 1), date(today.year, 12, 31)),
        ("last_year", "去年", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    ]
    return [{"key": k, "label": label, "from": a, "to": b} for k, label, a, b in periods]


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period just before ``start..end``: as many whole months back when the period is
    whole calendar months (a month, a quarter, a year), else as many days back."""
    if start.day == 1 and (end + timedelta(days=1)).day == 1:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        return _month_start(start, back=months), start - timedelta(days=1)
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def previous_filters(filters: stats.StatsFilter) -> stats.StatsFilter:
    """``filters`` with the previous period (same town, kind and scope)."""
    start, end = previous_period(filters.date_from, filters.date_to)
    return dataclasses.replace(filters, date_from=start, date_to=end)


def change(current: float | int | None, before: float | int | None) -> dict | None:
    """``{delta, percent}`` of ``current`` against ``before`` (percent None when ``before`` is
    zero); None when either is unknown."""
    if current is None or before is None:
        return None
    delta = current - before
    percent = None if not before else round(delta / before * 100, 1)
    return {"delta": delta, "percent": percent}


# ---------------------------------------------------------------- map


def _box(stations: list[Station]) -> BBox:
    """The stations' box with a margin, shrunk about its centre to the map API's area cap."""
    lats = [s.lat for s in stations]
    lngs = [s.lng for s in stations]
    # A tenth of the stations' spread on each side, at least MAP_MARGIN_DEG.
    lat_pad = max(MAP_MARGIN_DEG, (max(lats) - min(lats)) * 0.1)
    lng_pad = max(MAP_MARGIN_DEG, (max(lngs) - min(lngs)) * 0.1)
    min_lat, max_lat = min(lats) - lat_pad, max(lats) + lat_pad
    min_lng, max_lng = min(lngs) - lng_pad, max(lngs) + lng_pad
    area = (max_lat - min_lat) * (max_lng - min_lng)
    cap = settings.MATCHING_MAP_MAX_BBOX_DEG2
    if area > cap:
        scale = math.sqrt(cap / area) * 0.999
        lat_c, lng_c = (min_lat + max_lat) / 2, (min_lng + max_lng) / 2
        half_lat, half_lng = (max_lat - min_lat) / 2 * scale, (max_lng - min_lng) / 2 * scale
        min_lat, max_lat = lat_c - half_lat, lat_c + half_lat
        min_lng, max_lng = lng_c - half_lng, lng_c + half_lng
    return BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)


def map_panel(filters: stats.StatsFilter) -> dict | None:
    """The open needs on the map, as ``GET requests/map/`` returns them (``map_features`` and
    ``map_data``, WGS-84) over the box of the active stations in the filters' towns, plus those
    stations; each point and station links to the console's list. None without stations."""
    towns = stats.towns_in(filters)
    stations = Station.objects.filter(active=True).select_related("town").order_by("id")
    if towns is not None:
        stations = stations.filter(town_id__in=towns)
    stations = list(stations)
    if not stations:
        return None
    box = _box(stations)
    needs = ServiceRequest.objects.filter(
        status=ServiceRequest.Status.OPEN, station__in=[s.pk for s in stations]
    )
    if filters.campaign_kind:
        needs = needs.filter(campaign__kind=filters.campaign_kind)
    data = map_data(map_features(queryset=needs, box=box, coord_type=WGS84))
    for feature in data["features"]:
        props = feature["properties"]
        props["link"] = console_needs(station=props["station_id"], status="open")
    data["box"] = [box.min_lng, box.min_lat, box.max_lng, box.max_lat]
    data["stations"] = [
        {
            "id": s.pk,
            "name": s.name,
            "town": s.town.name,
            "coordinates": [s.lng, s.lat],
            "link": console_needs(station=s.pk),
        }
        for s in stations
        if box.contains(s.lat, s.lng)
    ]
    return data
