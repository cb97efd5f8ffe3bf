"""Open requests in a bounding box as GeoJSON (``GET requests/map/``), in WGS-84 or GCJ-02.

A sparse box (at most ``MATCHING_MAP_MAX_FEATURES`` requests) answers every request as a point,
nearest the box's centre first. A denser one answers clusters instead: one feature per cell of
a fixed grid (``services.rollups.MAP_LEVELS``: 2^-k degrees on a side, at the level where the
box's longer side spans about ``MATCHING_MAP_CLUSTER_GRID`` cells) that the box touches and
that holds requests: how many, their centroid, and the cell to zoom into. The grid is the
world's, not the box's, so panning keeps the clusters where they were, and zooming into a
cluster splits it into the next level's cells.

Both the count and the points read the (status, grid, lat, lng) index through the matching
grid cells the box touches, at most cap + 1 rows. The clusters of an unfiltered map (open
and / or full, nothing else) read the ``MapCellStat`` rollup, a few dozen rows however dense
the box; a map narrowed by the list filters groups its rows in the database instead (the
filters make it sparse), with the same cells and sums, so both answer the same clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.utils import timezone

from services import rollups
from services.matching.queries.member_side import grid_cells
from services.models import MapCellStat, ServiceRequest
from stations.errors import InvalidBBox, UnknownCoordType
from stations.geo import (
    COORD_TYPES,
    GCJ02,
    WGS84,
    BBox,
    Point,
    fast_distance_km,
    gcj02_to_wgs84,
    parse_bbox,
    wgs84_to_gcj02,
)


class MapFeature(NamedTuple):
    """One request on the map (coordinates in the client's coordinate system)."""

    id: int
    lat: float
    lng: float
    title: str
    status: str
    campaign_kind: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    claimed: int
    station_id: int
    station_name: str


# The ORM's names of MapFeature's fields, in their order: a row of these is a MapFeature.
FEATURE_COLUMNS = tuple(
    {"campaign_kind": "campaign__kind", "station_name": "station__name"}.get(name, name)
    for name in MapFeature._fields
)


class MapCluster(NamedTuple):
    """The requests of one grid cell of a dense box: how many, their centroid, and the cell's
    box to zoom into (coordinates in the client's coordinate system)."""

    level: int
    row: int
    column: int
    count: int
    lat: float
    lng: float
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float


@dataclass(frozen=True)
class MapResult:
    """Every request of the box as a point (``clusters`` empty), or, above
    MATCHING_MAP_MAX_FEATURES, one cluster per grid cell (``features`` empty)."""

    features: list[MapFeature]
    truncated: bool
    limit: int
    coord_type: str
    clusters: tuple[MapCluster, ...] = ()
    total: int = 0

    @property
    def clustered(self) -> bool:
        return bool(self.clusters)


def check_coord_type(value: str | None) -> str:
    """``wgs84`` (the default) or ``gcj02``; 400 ``unknown_coord_type`` otherwise."""
    if value is None or not value.strip():
        return WGS84
    name = value.strip().lower()
    if name not in COORD_TYPES:
        raise UnknownCoordType(fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]})
    return name


def map_box(text: str | None, *, coord_type: str) -> BBox:
    """The WGS-84 box of ``bbox`` (given in ``coord_type``); 400 ``invalid_bbox`` if bad."""
    if text is None or not text.strip():
        message = "请提供 bbox：最小经度,最小纬度,最大经度,最大纬度。"
        raise InvalidBBox(message, fields={"bbox": [message]})
    box = parse_bbox(text, max_area_deg2=settings.MATCHING_MAP_MAX_BBOX_DEG2)
    if coord_type != GCJ02:
        return box
    # The GCJ-02 offset changes by metres across a town, so converting the corners is enough.
    min_lat, min_lng = gcj02_to_wgs84(box.min_lat, box.min_lng)
    max_lat, max_lng = gcj02_to_wgs84(box.max_lat, box.max_lng)
    return BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)


def _box_distance2(point: Point) -> ExpressionWrapper:
    """Squared equirectangular km from ``point``, as an ORM expression."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    dy = F("lat") - Value(point.lat)
    dx = F("lng") - Value(point.lng)
    return ExpressionWrapper(dy * dy * (ky * ky) + dx * dx * (kx * kx), output_field=FloatField())


def map_features(
    *,
    queryset: QuerySet,
    box: BBox,
    coord_type: str,
    statuses: list[str] | None = None,
    now: datetime | None = None,
) -> MapResult:
    """Requests of ``queryset`` (already filtered by the list filters) inside ``box`` that
    have not ended: all of them as points, nearest the box's centre first, while there are at
    most MATCHING_MAP_MAX_FEATURES; above that, clusters per grid cell. ``statuses``: the
    map is not narrowed by anything but these statuses, so the clusters can be read from the
    rollup (``_counted_cells``) instead of the rows (``_grouped_cells``)."""
    now = now or timezone.now()
    cap = settings.MATCHING_MAP_MAX_FEATURES
    live = queryset.filter(ends_at__gt=now).order_by()
    inside = live.filter(
        Q(lat__gte=box.min_lat, lat__lte=box.max_lat)
        & Q(lng__gte=box.min_lng, lng__lte=box.max_lng),
        grid__in=grid_cells(box),
    )
    # At most cap + 1 ids, unordered: enough to tell a sparse box from a dense one.
    found = inside[: cap + 1].count()
    if found > cap:
        cells = Cells.covering(box)
        if statuses is not None:
            sums = _counted_cells(cells, statuses, now=now)
        else:
            sums = _grouped_cells(live, cells)
        clusters = cells.clusters(sums)
        if coord_type == GCJ02:
            clusters = [_cluster_in_gcj02(c) for c in clusters]
        return MapResult(
            features=[],
            truncated=False,
            limit=cap,
            coord_type=coord_type,
            clusters=tuple(clusters),
            total=sum(c.count for c in clusters),
        )
    centre = Point(lat=(box.min_lat + box.max_lat) / 2, lng=(box.min_lng + box.max_lng) / 2)
    rows = list(
        inside.annotate(_d2=_box_distance2(centre))
        .order_by("_d2", "id")
        .values_list(*FEATURE_COLUMNS)[:cap]
    )
    features = list(map(MapFeature._make, rows))
    if coord_type == GCJ02:
        features = [_in_gcj02(feature) for feature in features]
    return MapResult(
        features=features,
        truncated=False,
        limit=cap,
        coord_type=coord_type,
        total=len(features),
    )


# (row, column) → [requests, sum of latitudes, sum of longitudes] (microdegrees from 90°S and
# 180°W, as MapCellStat stores them).
CellSums = dict[tuple[int, int], list[int]]


@dataclass(frozen=True)
class Cells:
    """The cells of one level a box touches: rows and columns, inclusive."""

    level: int
    rows: range
    columns: range

    @classmethod
    def covering(cls, box: BBox) -> Cells:
        """The level whose cells are the smallest at least 1/MATCHING_MAP_CLUSTER_GRID of the
        box's longer side (so that side spans more than half that many cells and at most that
        many, touching one more at most), and the cells the box touches there."""
        side = max(box.max_lat - box.min_lat, box.max_lng - box.min_lng)
        wanted = side / settings.MATCHING_MAP_CLUSTER_GRID
        level = rollups.MAP_LEVELS[0]
        while level < rollups.MAP_LEVELS[-1] and 2.0 ** -(level + 1) >= wanted:
            level += 1
        low = rollups.map_cell(box.min_lat, box.min_lng, level)
        high = rollups.map_cell(box.max_lat, box.max_lng, level)
        return cls(level, range(low[0], high[0] + 1), range(low[1], high[1] + 1))

    @property
    def size(self) -> float:
        return 2.0**-self.level

    def outline(self) -> BBox:
        """The box around the cells, a hair wider (every row inside it, which the cell
        expressions then sort exactly)."""
        hair = self.size / 1024
        return BBox(
            min_lat=self.rows.start * self.size - rollups.LAT_OFFSET - hair,
            min_lng=self.columns.start * self.size - rollups.LNG_OFFSET - hair,
            max_lat=self.rows.stop * self.size - rollups.LAT_OFFSET + hair,
            max_lng=self.columns.stop * self.size - rollups.LNG_OFFSET + hair,
        )

    def limits(self) -> list[int]:
        """The first and last row, then column: the cell queries' BETWEEN parameters."""
        return [self.rows.start, self.rows.stop - 1, self.columns.start, self.columns.stop - 1]

    def around(self) -> dict[str, float]:
        """ORM lookups for the rows inside ``outline``."""
        outline = self.outline()
        return {
            "lat__gte": outline.min_lat,
            "lat__lte": outline.max_lat,
            "lng__gte": outline.min_lng,
            "lng__lte": outline.max_lng,
        }

    def clusters(self, sums: CellSums) -> list[MapCluster]:
        """One cluster per cell holding requests, largest first."""
        size = self.size
        clusters = []
        for (row, column), (count, lat_sum, lng_sum) in sums.items():
            if count <= 0:
                continue
            min_lat = row * size - rollups.LAT_OFFSET
            min_lng = column * size - rollups.LNG_OFFSET
            clusters.append(
                MapCluster(
                    level=self.level,
                    row=row,
                    column=column,
                    count=count,
                    lat=round(lat_sum / count / rollups.MICRO - rollups.LAT_OFFSET, 6),
                    lng=round(lng_sum / count / rollups.MICRO - rollups.LNG_OFFSET, 6),
                    min_lat=round(min_lat, 6),
                    min_lng=round(min_lng, 6),
                    max_lat=round(min_lat + size, 6),
                    max_lng=round(min_lng + size, 6),
                )
            )
        return sorted(clusters, key=lambda c: (-c.count, c.row, c.column))


CELL_COUNTS = (
    "SELECT cell_row, cell_column, SUM(requests), SUM(lat_sum), SUM(lng_sum) "  # noqa: S608 - _meta names and placeholders only
    f"FROM {MapCellStat._meta.db_table} "
    "WHERE level = %s AND cell_row BETWEEN %s AND %s AND cell_column BETWEEN %s AND %s "
    "AND status IN ({statuses}) GROUP BY cell_row, cell_column"
)


def _counted_cells(cells: Cells, statuses: list[str], *, now: datetime) -> CellSums:
    """The cells' sums from the rollup, less the requests it still counts that have ended
    (open or full past their end until the expiry sweep moves them: a few, read through the
    (status, ends_at) index)."""
    placeholders = ", ".join(["%s"] * len(statuses))
    sums = _sums(
        CELL_COUNTS.format(statuses=placeholders), [cells.level, *cells.limits(), *statuses]
    )
    ended = ServiceRequest.objects.filter(
        status__in=statuses, ends_at__lte=now, **cells.around()
    ).values_list("lat", "lng")
    for lat, lng in ended:
        key = rollups.map_cell(lat, lng, cells.level)
        if key in sums and key[0] in cells.rows and key[1] in cells.columns:
            lat_micro, lng_micro = rollups.scaled(lat, lng, rollups.MICRO)
            sums[key][0] -= 1
            sums[key][1] -= lat_micro
            sums[key][2] -= lng_micro
    return sums


def _grouped_cells(live: QuerySet, cells: Cells) -> CellSums:
    """The cells' sums from the rows of ``live`` (the filtered requests not ended), grouped by
    the database with the rollup's own expressions."""
    inside = live.filter(grid__in=grid_cells(cells.outline()), **cells.around())
    sql, params = inside.values_list("lat", "lng").query.sql_with_params()
    row, column, cell_params = rollups.scaled_sql(float(2**cells.level))
    lat_micro, lng_micro, micro_params = rollups.scaled_sql(rollups.MICRO)
    grouped = (
        f"SELECT cell_row, cell_column, COUNT(*), SUM(lat_micro), SUM(lng_micro) FROM ("  # noqa: S608 - the ORM's own SQL and placeholders
        f"SELECT {row} AS cell_row, {column} AS cell_column, {lat_micro} AS lat_micro, "
        f"{lng_micro} AS lng_micro FROM ({sql}) AS inside) AS cells "
        "WHERE cell_row BETWEEN %s AND %s AND cell_column BETWEEN %s AND %s "
        "GROUP BY cell_row, cell_column"
    )
    return _sums(grouped, [*cell_params, *micro_params, *params, *cells.limits()])


def _sums(sql: str, params: list) -> CellSums:
    """Rows of (row, column, requests, sum of latitudes, sum of longitudes) as CellSums."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (row, column): [int(count), int(lat_sum), int(lng_sum)]
            for row, column, count, lat_sum, lng_sum in cursor.fetchall()
        }


def _cluster_in_gcj02(cluster: MapCluster) -> MapCluster:
    lat, lng = wgs84_to_gcj02(cluster.lat, cluster.lng)
    min_lat, min_lng = wgs84_to_gcj02(cluster.min_lat, cluster.min_lng)
    max_lat, max_lng = wgs84_to_gcj02(cluster.max_lat, cluster.max_lng)
    return cluster._replace(
        lat=round(lat, 6),
        lng=round(lng, 6),
        min_lat=round(min_lat, 6),
        min_lng=round(min_lng, 6),
        max_lat=round(max_lat, 6),
        max_lng=round(max_lng, 6),
    )


def _in_gcj02(feature: MapFeature) -> MapFeature:
    lat, lng = wgs84_to_gcj02(feature.lat, feature.lng)
    return feature._replace(lat=round(lat, 6), lng=round(lng, 6))
