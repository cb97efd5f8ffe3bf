"""Pure geography helpers: validate and convert coordinates, measure distances, build boxes.

No database and no Django here, so everything is cheap to call and easy to test. Stored
coordinates are always WGS-84 (what GPS and PostGIS use); GCJ-02 (the offset system that
WeChat ``wx.getLocation({type: "gcj02"})``, AMap and Tencent Maps use in China) is converted
at the edge by :func:`validate_point`.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from decimal import Decimal

from geographiclib.geodesic import Geodesic
from geopy.distance import geodesic

from stations.errors import (
    InvalidBBox,
    InvalidCoordinates,
    InvalidRadius,
    OutsideChina,
    UnknownCoordType,
)

WGS84 = "wgs84"
GCJ02 = "gcj02"
COORD_TYPES = frozenset({WGS84, GCJ02})

# Decimal places kept for validated points: 1e-6 degrees is about 0.11 m, finer than any
# phone fix, and it makes stored values and comparisons in tests stable.
COORD_DECIMALS = 6

# The rough box every GCJ-02 implementation uses for "inside China". It also covers parts of
# neighbouring countries; that is accepted because it is what the map providers themselves use.
CHINA_MIN_LNG = 72.004
CHINA_MAX_LNG = 137.8347
CHINA_MIN_LAT = 0.8293
CHINA_MAX_LAT = 55.8271

# GCJ-02 is defined on the Krasovsky 1940 ellipsoid; these two constants are part of the
# published algorithm, so they must not be "corrected" to WGS-84 values.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# Stop refining the GCJ-02 inverse once the forward transform of our answer lands within
# this of the input: 1e-9 degrees is about 0.1 mm, far below the 1e-6 rounding we apply.
_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ITERATIONS = 10

# WGS-84 ellipsoid in kilometres, for the local radii of curvature in fast_distance_km.
_WGS84_A_KM = 6378.137
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)

# Sphere used by bounding_box. It is smaller than the smallest radius of curvature of the
# WGS-84 ellipsoid (the meridional radius at the equator, 6335.439 km), so distances on it
# are never longer than on the ellipsoid and a circle of radius r on the ellipsoid always
# fits inside the circle of radius r on this sphere, whose box has an exact formula.
_BOX_SPHERE_RADIUS_KM = 6335.0

# Plain decimal or scientific notation only. float() alone would also accept "nan", "inf",
# "1_000" and full-width digits, none of which a client should be sending.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS-84 position in degrees; build one from untrusted input with validate_point."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class BBox:
    """A latitude/longitude box in WGS-84 degrees; edges are inclusive."""

    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float

    def contains(self, lat: float, lng: float) -> bool:
        """Return whether the point lies inside the box or on its edge."""
        return self.min_lat <= lat <= self.max_lat and self.min_lng <= lng <= self.max_lng

    @property
    def area_deg2(self) -> float:
        """Return the box's area in square degrees (what size limits are expressed in)."""
        return (self.max_lat - self.min_lat) * (self.max_lng - self.min_lng)


def to_float(value: object) -> float | None:
    """Return value as a float, or None when it is not a number or numeric string."""
    # bool is an int subclass; True as a latitude is always a client bug, never 1.0.
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_RE.fullmatch(text):
            return None
        return float(text)
    if isinstance(value, (numbers.Real, Decimal)):
        try:
            return float(value)
        except (OverflowError, ValueError):
            # Huge ints overflow; Decimal("sNaN") refuses to convert at all.
            return None
    return None


def _is_missing(value: object) -> bool:
    """Return whether a coordinate was not supplied at all (None or a blank string)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _check_coordinate(value: object, *, name: str, limit: float) -> tuple[float | None, str]:
    """Return (number, "") for a valid coordinate, else (None, Chinese reason)."""
    if _is_missing(value):
        return None, f"请提供{name}。"
    number = to_float(value)
    if number is None:
        return None, f"{name}必须是数字。"
    if not math.isfinite(number):
        return None, f"{name}必须是有限的数字。"
    if not -limit <= number <= limit:
        return None, f"{name}必须在 -{limit:g} 到 {limit:g} 之间。"
    return number, ""


def _normalise_coord_type(coord_type: object) -> str:
    """Return the canonical coordinate type name or raise UnknownCoordType."""
    name = coord_type.strip().lower() if isinstance(coord_type, str) else None
    if name not in COORD_TYPES:
        raise UnknownCoordType(
            fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]},
        )
    return name


def _round(value: float) -> float:
    """Round to COORD_DECIMALS places; adding 0.0 turns -0.0 into 0.0 for clean output."""
    return round(value, COORD_DECIMALS) + 0.0


def in_china_box(lat: float, lng: float) -> bool:
    """Return whether the point is inside the rough box where GCJ-02 applies."""
    return CHINA_MIN_LNG <= lng <= CHINA_MAX_LNG and CHINA_MIN_LAT <= lat <= CHINA_MAX_LAT


def validate_point(lat: object, lng: object, *, coord_type: str = WGS84) -> Point:
    """Return a validated WGS-84 Point (6 decimals) from numbers or numeric strings."""
    kind = _normalise_coord_type(coord_type)
    lat_value, lat_error = _check_coordinate(lat, name="纬度", limit=90.0)
    lng_value, lng_error = _check_coordinate(lng, name="经度", limit=180.0)
    fields = {key: [msg] for key, msg in (("lat", lat_error), ("lng", lng_error)) if msg}
    if fields or lat_value is None or lng_value is None:
        raise InvalidCoordinates(fields=fields)
    if kind == GCJ02:
        # Outside the box GCJ-02 is undefined, so such a "GCJ-02" point is really a client
        # sending the wrong coord_type or a bogus fix; refuse rather than guess.
        if not in_china_box(lat_value, lng_value):
            fields = {}
            if not CHINA_MIN_LAT <= lat_value <= CHINA_MAX_LAT:
                fields["lat"] = ["GCJ-02 纬度超出中国范围。"]
            if not CHINA_MIN_LNG <= lng_value <= CHINA_MAX_LNG:
                fields["lng"] = ["GCJ-02 经度超出中国范围。"]
            raise OutsideChina(fields=fields)
        lat_value, lng_value = gcj02_to_wgs84(lat_value, lng_value)
    return Point(lat=_round(lat_value), lng=_round(lng_value))


def _transform_lat(x: float, y: float) -> float:
    """Return the published GCJ-02 latitude polynomial (offsets from 105E, 35N)."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    """Return the published GCJ-02 longitude polynomial (offsets from 105E, 35N)."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lat: float, lng: float) -> tuple[float, float]:
    """Return the (dlat, dlng) GCJ-02 adds to a WGS-84 point, ignoring the China box."""
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Return (lat, lng) in GCJ-02; points outside the China box come back unchanged."""
    # Unchanged outside the box: GCJ-02 is only applied inside China, and the widely used
    # implementations (eviltransform, coordtransform) behave the same way, so we agree
    # with the clients' map SDKs.
    if not in_china_box(lat, lng):
        return lat, lng
    dlat, dlng = _gcj_offset(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Return (lat, lng) in WGS-84 by inverting GCJ-02; outside the China box, unchanged."""
    if not in_china_box(lat, lng):
        return lat, lng
    # The offset changes slowly with position, so "subtract the offset at the GCJ-02 point"
    # is only right to a few metres. Fixed-point refinement (apply the forward transform to
    # our guess, subtract the miss) gains about three orders of magnitude per step.
    # _gcj_offset is used rather than wgs84_to_gcj02 so a guess that lands just outside the
    # box near its edge is still refined with the same formula.
    dlat, dlng = _gcj_offset(lat, lng)
    wgs_lat, wgs_lng = lat - dlat, lng - dlng
    for _ in range(_INVERSE_MAX_ITERATIONS):
        dlat, dlng = _gcj_offset(wgs_lat, wgs_lng)
        miss_lat = wgs_lat + dlat - lat
        miss_lng = wgs_lng + dlng - lng
        wgs_lat -= miss_lat
        wgs_lng -= miss_lng
        if abs(miss_lat) < _INVERSE_TOLERANCE_DEG and abs(miss_lng) < _INVERSE_TOLERANCE_DEG:
            break
    return wgs_lat, wgs_lng


def distance_km(a: Point, b: Point) -> float:
    """Return the WGS-84 geodesic distance in km (for displayed and geofence distances)."""
    return geodesic((a.lat, a.lng), (b.lat, b.lng)).km


def fast_distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Return an approximate distance in km, for ranking many candidates in a loop."""
    # Equirectangular projection using the ellipsoid's radii of curvature at the mean
    # latitude: no inverse trig, and because the radii are WGS-84's rather than a mean
    # sphere's it is more accurate locally than haversine (off by up to 0.3% here).
    # Measured against geodesic for 1-200 km: under 0.01% at Zhoushan (30N), under 0.1%
    # below 75 degrees, well under the 0.5% budget for ranking. It degrades near the poles
    # and over long distances; use distance_km for anything displayed.
    mean_lat = math.radians((lat1 + lat2) / 2.0)
    sin_lat = math.sin(mean_lat)
    w2 = 1.0 - _WGS84_E2 * sin_lat * sin_lat
    prime_vertical = _WGS84_A_KM / math.sqrt(w2)
    meridional = _WGS84_A_KM * (1.0 - _WGS84_E2) / (w2 * math.sqrt(w2))
    dlng = lng2 - lng1
    # Take the short way round the antimeridian.
    if dlng > 180.0:
        dlng -= 360.0
    elif dlng < -180.0:
        dlng += 360.0
    x = prime_vertical * math.cos(mean_lat) * math.radians(dlng)
    y = meridional * math.radians(lat2 - lat1)
    return math.hypot(x, y)


def bounding_box(center: Point, *, radius_km: float) -> BBox:
    """Return a box that contains every point within radius_km (geodesic) of center."""
    if (
        isinstance(radius_km, bool)
        or not isinstance(radius_km, (int, float))
        or not math.isfinite(radius_km)
        or radius_km < 0
    ):
        raise InvalidRadius(fields={"radius_km": ["搜索半径必须是不小于 0 的有限数字。"]})
    delta = radius_km / _BOX_SPHERE_RADIUS_KM  # angular radius on the conservative sphere
    # Work in degrees from center.lat so a zero radius gives back exactly the centre.
    min_lat = center.lat - math.degrees(delta)
    max_lat = center.lat + math.degrees(delta)
    if max_lat >= 90.0 or min_lat <= -90.0:
        # The circle reaches a pole, so it spans every longitude.
        return BBox(
            min_lat=max(min_lat, -90.0),
            min_lng=-180.0,
            max_lat=min(max_lat, 90.0),
            max_lng=180.0,
        )
    # Widest longitude of a spherical cap (the tangent point, not the due-east point, which
    # would be too narrow away from the equator). The pole check above keeps the ratio < 1;
    # min() guards against rounding pushing it a hair over when the cap nearly reaches one.
    ratio = math.sin(delta) / math.cos(math.radians(center.lat))
    dlng = math.degrees(math.asin(min(ratio, 1.0)))
    min_lng = center.lng - dlng
    max_lng = center.lng + dlng
    if min_lng < -180.0 or max_lng > 180.0:
        # Splitting into two boxes is not worth it for a service in Zhoushan; a full band of
        # longitude is still correct, just less selective.
        min_lng, max_lng = -180.0, 180.0
    return BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)


def _bbox_error(message: str) -> InvalidBBox:
    """Return an InvalidBBox whose detail and bbox field both carry message."""
    return InvalidBBox(message, fields={"bbox": [message]})


def parse_bbox(text: str, *, max_area_deg2: float | None = None) -> BBox:
    """Parse "min_lng,min_lat,max_lng,max_lat" (GeoJSON/Open311 order) into a BBox."""
    if not isinstance(text, str):
        raise _bbox_error("bbox 必须是“最小经度,最小纬度,最大经度,最大纬度”格式的文本。")
    parts = text.split(",")
    if len(parts) != 4:
        raise _bbox_error("bbox 必须是 4 个用逗号分隔的数字：最小经度,最小纬度,最大经度,最大纬度。")
    values: list[float] = []
    for position, part in enumerate(parts, start=1):
        number = to_float(part)
        if number is None or not math.isfinite(number):
            raise _bbox_error(f"bbox 的第 {position} 个值不是有效的数字。")
        values.append(number)
    min_lng, min_lat, max_lng, max_lat = values
    if not (-180.0 <= min_lng <= 180.0 and -180.0 <= max_lng <= 180.0):
        raise _bbox_error("bbox 的经度必须在 -180 到 180 之间。")
    if not (-90.0 <= min_lat <= 90.0 and -90.0 <= max_lat <= 90.0):
        raise _bbox_error("bbox 的纬度必须在 -90 到 90 之间。")
    # A box crossing the antimeridian (min_lng > max_lng in GeoJSON) is not supported: it
    # never occurs in Zhoushan and is far more often a client mixing up the order.
    if min_lng > max_lng:
        raise _bbox_error(
            "bbox 的最小经度不能大于最大经度（顺序为 最小经度,最小纬度,最大经度,最大纬度）。"
        )
    if min_lat > max_lat:
        raise _bbox_error(
            "bbox 的最小纬度不能大于最大纬度（顺序为 最小经度,最小纬度,最大经度,最大纬度）。"
        )
    box = BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)
    if max_area_deg2 is not None and box.area_deg2 > max_area_deg2:
        raise _bbox_error(f"bbox 范围过大，面积不能超过 {max_area_deg2:g} 平方度，请缩小地图范围。")
    return box


def parse_near(text: str, *, coord_type: str = WGS84) -> Point:
    """Parse "lat,lng" into a validated WGS-84 Point; errors name the ``near`` field."""
    if not isinstance(text, str) or len(parts := text.split(",")) != 2:
        message = "near 必须是“纬度,经度”格式，例如 30.0,122.1。"
        raise InvalidCoordinates(message, fields={"near": [message]})
    try:
        return validate_point(parts[0], parts[1], coord_type=coord_type)
    except (InvalidCoordinates, OutsideChina) as exc:
        # The client sent one parameter, so report against it rather than lat/lng.
        messages = [msg for msgs in (exc.fields or {}).values() for msg in msgs]
        lat_value = to_float(parts[0])
        lng_value = to_float(parts[1])
        if (
            isinstance(exc, InvalidCoordinates)
            and lat_value is not None
            and lng_value is not None
            and abs(lat_value) > 90.0
            and abs(lng_value) <= 90.0
        ):
            # The commonest mistake: "lng,lat" order, as in GeoJSON and bbox.
            messages.append("near 的顺序是“纬度,经度”，是否写反了？")
        raise type(exc)(fields={"near": messages or [str(exc.detail)]}) from exc


# WGS-84, for geodesic_km.
_A = 6378137.0


_F = 1 / 298.257223563


_B = (1 - _F) * _A


_VINCENTY_TOLERANCE = 1e-12


_VINCENTY_MAX_ITERATIONS = 50


def geodesic_km(a: Point, b: Point) -> float:
    """WGS-84 geodesic distance in km, for displayed distances.

    Vincenty's inverse formula (accurate to 0.5 mm on the ellipsoid, a few microseconds in
    Python) with geographiclib's Karney algorithm — what geopy's geodesic and
    stations.geo.distance_km run, at ~40 µs a call — for the nearly antipodal pairs where
    Vincenty does not converge. Tests hold the two within a millimetre of each other."""
    if a.lat == b.lat and a.lng == b.lng:
        return 0.0
    big_l = math.radians(b.lng - a.lng)
    u1 = math.atan((1 - _F) * math.tan(math.radians(a.lat)))
    u2 = math.atan((1 - _F) * math.tan(math.radians(b.lat)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    sin_u2, cos_u2 = math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(_VINCENTY_MAX_ITERATIONS):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0.0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm * cos_2sm))
        )
        if abs(lam - previous) < _VINCENTY_TOLERANCE:
            break
    else:
        return Geodesic.WGS84.Inverse(a.lat, a.lng, b.lat, b.lng, Geodesic.DISTANCE)["s12"] / 1000.0
    u_sq = cos2_alpha * (_A * _A - _B * _B) / (_B * _B)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)
                - big_b
                / 6
                * cos_2sm
                * (-3 + 4 * sin_sigma * sin_sigma)
                * (-3 + 4 * cos_2sm * cos_2sm)
            )
        )
    )
    return _B * big_a * (sigma - delta_sigma) / 1000.0
