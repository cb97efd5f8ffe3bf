"""Tests for stations.geo: pure functions, no database."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from geopy.distance import geodesic

from accounts.errors import ApplicationError
from stations import errors
from stations.geo import (
    BBox,
    Point,
    bounding_box,
    distance_km,
    fast_distance_km,
    gcj02_to_wgs84,
    in_china_box,
    parse_bbox,
    parse_near,
    validate_point,
    wgs84_to_gcj02,
)

# Dinghai district centre, roughly; the service area these helpers exist for.
ZHOUSHAN = Point(lat=30.02, lng=122.10)

# (wgs_lat, wgs_lng, gcj_lat, gcj_lng). The first three are the published test vectors of
# the widely used eviltransform library (googollee/eviltransform), which implements the
# same public forward transform; matching them to 1e-9 degrees pins our constants.
# Tiananmen and Zhoushan were computed with this module and checked against the forward
# transform; the commonly quoted Tiananmen pair (39.910094, 116.403719) is within 0.2 m.
REFERENCE_POINTS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
    (39.908692, 116.397477, 39.910095494, 116.403720567),  # Tiananmen
    (30.02, 122.10, 30.017748536, 122.104364624),  # Zhoushan, Dinghai
]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geodesic(a, b).m


# --- GCJ-02 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), REFERENCE_POINTS)
def test_wgs84_to_gcj02_matches_reference_points(wgs_lat, wgs_lng, gcj_lat, gcj_lng):
    lat, lng = wgs84_to_gcj02(wgs_lat, wgs_lng)
    assert lat == pytest.approx(gcj_lat, abs=1e-8)
    assert lng == pytest.approx(gcj_lng, abs=1e-8)


def test_tiananmen_matches_commonly_quoted_gcj02_value():
    assert _metres(wgs84_to_gcj02(39.908692, 116.397477), (39.910094, 116.403719)) < 0.5


def test_gcj02_offset_in_zhoushan_is_hundreds_of_metres():
    # Sanity check of scale: the offset that makes raw GCJ-02 unusable for geofences.
    gcj = wgs84_to_gcj02(ZHOUSHAN.lat, ZHOUSHAN.lng)
    assert 300 < _metres(gcj, (ZHOUSHAN.lat, ZHOUSHAN.lng)) < 700


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), REFERENCE_POINTS)
def test_gcj02_to_wgs84_inverts_reference_points(wgs_lat, wgs_lng, gcj_lat, gcj_lng):
    assert _metres(gcj02_to_wgs84(gcj_lat, gcj_lng), (wgs_lat, wgs_lng)) < 0.05


ROUND_TRIP_POINTS = [
    (30.02, 122.10),
    (29.93, 121.98),
    (30.25, 122.40),
    (39.9, 116.4),
    (22.3, 114.2),
    (45.75, 126.65),
    (43.8, 87.6),
    (29.65, 91.1),
    (18.25, 109.5),
    (53.0, 122.5),
]


@pytest.mark.parametrize(("lat", "lng"), ROUND_TRIP_POINTS)
def test_round_trip_wgs_gcj_wgs_within_5_cm(lat, lng):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lng))
    assert _metres(back, (lat, lng)) < 0.05


@pytest.mark.parametrize(("lat", "lng"), [(29.93, 121.98), (22.3, 114.2), (53.0, 122.5)])
def test_iterative_inverse_beats_one_step_inverse(lat, lng):
    # The one-step inverse (subtract the forward offset taken at the GCJ-02 point) is off by
    # up to ~5 m across China, 1.7 m at this Zhoushan point; the refinement must fix that.
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    g_lat, g_lng = wgs84_to_gcj02(gcj_lat, gcj_lng)
    crude = (gcj_lat - (g_lat - gcj_lat), gcj_lng - (g_lng - gcj_lng))
    assert _metres(crude, (lat, lng)) > 1.0
    assert _metres(gcj02_to_wgs84(gcj_lat, gcj_lng), (lat, lng)) < 0.001


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (35.6812, 139.7671),  # Tokyo: east of the box
        (51.5007, -0.1246),  # London
        (-33.8568, 151.2153),  # Sydney
        (0.5, 100.0),  # south of the box
        (56.0, 120.0),  # north of the box
    ],
)
def test_points_outside_china_box_pass_through_unchanged(lat, lng):
    # Decision: outside the box both directions are the identity, as the map providers and
    # published implementations do. validate_point refuses such points as GCJ-02 input.
    assert not in_china_box(lat, lng)
    assert wgs84_to_gcj02(lat, lng) == (lat, lng)
    assert gcj02_to_wgs84(lat, lng) == (lat, lng)


# --- validate_point -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lng", "expected"),
    [
        (30.02, 122.1, Point(30.02, 122.1)),
        (30, 122, Point(30.0, 122.0)),
        ("30.02", "122.10", Point(30.02, 122.1)),
        (" 30.02 ", "\t122.10\n", Point(30.02, 122.1)),
        ("+30.02", "1.221e2", Point(30.02, 122.1)),
        (".5", "5.", Point(0.5, 5.0)),
        (Decimal("30.0200001"), Decimal("122.1"), Point(30.02, 122.1)),
        ("30.0123456789", "122.1000004", Point(30.012346, 122.1)),
        (90, 180, Point(90.0, 180.0)),
        (-90, -180, Point(-90.0, -180.0)),
        ("-0", "-0.0000001", Point(0.0, 0.0)),
    ],
)
def test_validate_point_accepts_numbers_and_numeric_strings(lat, lng, expected):
    point = validate_point(lat, lng)
    assert point == expected
    assert isinstance(point.lat, float) and isinstance(point.lng, float)


def test_validate_point_normalises_negative_zero():
    point = validate_point("-0.0000001", "-0")
    assert math.copysign(1.0, point.lat) == 1.0
    assert math.copysign(1.0, point.lng) == 1.0


BAD_VALUES = [
    None,
    "",
    "   ",
    True,
    False,
    float("nan"),
    float("inf"),
    float("-inf"),
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "1e999",
    "abc",
    "12a",
    "1,5",
    "1_0",
    "0x10",
    "１２",  # full-width digits: float() would accept them
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    10**400,
    [30],
    {"lat": 30},
    object(),
]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_validate_point_rejects_bad_latitude(bad):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        validate_point(bad, 122.1)
    assert caught.value.code == errors.INVALID_COORDINATES
    assert caught.value.status_code == 400
    assert set(caught.value.fields) == {"lat"}
    assert caught.value.fields["lat"][0].startswith(("请提供纬度", "纬度"))


@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_validate_point_rejects_bad_longitude(bad):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        validate_point(30.02, bad)
    assert caught.value.code == errors.INVALID_COORDINATES
    assert set(caught.value.fields) == {"lng"}


@pytest.mark.parametrize("lat", [90.000001, -90.000001, 91, -180, "95"])
def test_validate_point_rejects_latitude_out_of_range(lat):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        validate_point(lat, 122.1)
    assert caught.value.fields == {"lat": ["纬度必须在 -90 到 90 之间。"]}


@pytest.mark.parametrize("lng", [180.000001, -180.000001, 360, "-181"])
def test_validate_point_rejects_longitude_out_of_range(lng):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        validate_point(30.02, lng)
    assert caught.value.fields == {"lng": ["经度必须在 -180 到 180 之间。"]}


def test_validate_point_reports_both_fields_at_once():
    with pytest.raises(errors.InvalidCoordinates) as caught:
        validate_point(None, "abc")
    assert caught.value.fields == {"lat": ["请提供纬度。"], "lng": ["经度必须是数字。"]}
    assert isinstance(caught.value, ApplicationError)


@pytest.mark.parametrize("coord_type", ["bd09", "", "wgs-84", None, 84])
def test_validate_point_rejects_unknown_coord_type(coord_type):
    with pytest.raises(errors.UnknownCoordType) as caught:
        validate_point(30.02, 122.1, coord_type=coord_type)
    assert caught.value.code == errors.UNKNOWN_COORD_TYPE
    assert caught.value.status_code == 400
    assert set(caught.value.fields) == {"coord_type"}


def test_validate_point_coord_type_is_case_insensitive():
    assert validate_point(30.02, 122.1, coord_type="WGS84") == Point(30.02, 122.1)
    assert validate_point(30.02, 122.1, coord_type=" GCJ02 ") == validate_point(
        30.02, 122.1, coord_type="gcj02"
    )


def test_validate_point_converts_gcj02_to_wgs84():
    gcj_lat, gcj_lng = wgs84_to_gcj02(ZHOUSHAN.lat, ZHOUSHAN.lng)
    point = validate_point(str(gcj_lat), str(gcj_lng), coord_type="gcj02")
    assert point == ZHOUSHAN  # exact after rounding to 6 decimals


@pytest.mark.parametrize(
    ("lat", "lng", "fields"),
    [
        (35.68, 139.77, {"lng"}),  # Tokyo
        (-33.86, 122.1, {"lat"}),
        (60.0, 30.0, {"lat", "lng"}),
    ],
)
def test_validate_point_rejects_gcj02_outside_china(lat, lng, fields):
    with pytest.raises(errors.OutsideChina) as caught:
        validate_point(lat, lng, coord_type="gcj02")
    assert caught.value.code == errors.OUTSIDE_CHINA
    assert caught.value.status_code == 400
    assert set(caught.value.fields) == fields
    # The same point is fine as WGS-84.
    assert validate_point(lat, lng) == Point(lat, lng)


def test_validate_point_checks_values_before_china_box():
    with pytest.raises(errors.InvalidCoordinates):
        validate_point("nan", 122.1, coord_type="gcj02")


# --- distances ----------------------------------------------------------------------------


def test_distance_km_is_geodesic():
    other = Point(29.95, 122.30)
    assert distance_km(ZHOUSHAN, other) == pytest.approx(
        geodesic((30.02, 122.10), (29.95, 122.30)).km, rel=1e-12
    )
    assert distance_km(ZHOUSHAN, other) == pytest.approx(distance_km(other, ZHOUSHAN))
    assert distance_km(ZHOUSHAN, ZHOUSHAN) == 0.0
    # One degree of latitude at the equator on WGS-84.
    assert distance_km(Point(0.0, 0.0), Point(1.0, 0.0)) == pytest.approx(110.574, abs=1e-3)


@pytest.mark.parametrize("km", [1, 2, 5, 10, 20, 50, 100, 150, 200])
def test_fast_distance_within_half_percent_of_geodesic_around_zhoushan(km):
    for bearing in range(0, 360, 15):
        target = geodesic(kilometers=km).destination((ZHOUSHAN.lat, ZHOUSHAN.lng), bearing)
        fast = fast_distance_km(ZHOUSHAN.lat, ZHOUSHAN.lng, target.latitude, target.longitude)
        exact = distance_km(ZHOUSHAN, Point(target.latitude, target.longitude))
        assert abs(fast - exact) / exact < 0.005
        # What the docstring claims for Zhoushan's latitude.
        assert abs(fast - exact) / exact < 0.0001


def test_fast_distance_basics():
    assert fast_distance_km(30.02, 122.1, 30.02, 122.1) == 0.0
    assert fast_distance_km(30.0, 122.0, 30.1, 122.2) == pytest.approx(
        fast_distance_km(30.1, 122.2, 30.0, 122.0)
    )
    # Takes the short way across the antimeridian.
    across = fast_distance_km(0.0, 179.99, 0.0, -179.99)
    assert across == pytest.approx(geodesic((0.0, 179.99), (0.0, -179.99)).km, rel=1e-3)


# --- bounding_box -------------------------------------------------------------------------

BOX_CENTERS = [
    ZHOUSHAN,
    Point(0.0, 0.0),
    Point(60.0, 10.0),
    Point(-60.0, -70.0),
    Point(75.0, 122.1),
    Point(10.0, 179.95),
    Point(-10.0, -179.95),
    Point(89.9, 0.0),
    Point(-89.95, 45.0),
]


@pytest.mark.parametrize("center", BOX_CENTERS, ids=str)
@pytest.mark.parametrize("radius_km", [0.5, 5, 30, 200])
def test_bounding_box_contains_circle(center, radius_km):
    box = bounding_box(center, radius_km=radius_km)
    assert box.contains(center.lat, center.lng)
    for bearing in range(360):
        edge = geodesic(kilometers=radius_km).destination((center.lat, center.lng), bearing)
        assert box.contains(edge.latitude, edge.longitude), (bearing, edge)
    assert -90.0 <= box.min_lat <= box.max_lat <= 90.0
    assert -180.0 <= box.min_lng <= box.max_lng <= 180.0


def test_bounding_box_is_reasonably_tight_in_zhoushan():
    box = bounding_box(ZHOUSHAN, radius_km=10)
    north = geodesic(kilometers=10).destination((ZHOUSHAN.lat, ZHOUSHAN.lng), 0)
    east_extent = max(
        geodesic(kilometers=10).destination((ZHOUSHAN.lat, ZHOUSHAN.lng), b).longitude
        for b in range(360)
    )
    assert box.max_lat - ZHOUSHAN.lat < (north.latitude - ZHOUSHAN.lat) * 1.01
    assert box.max_lng - ZHOUSHAN.lng < (east_extent - ZHOUSHAN.lng) * 1.01


def test_bounding_box_widens_longitude_at_higher_latitude():
    low = bounding_box(Point(0.0, 10.0), radius_km=50)
    high = bounding_box(Point(60.0, 10.0), radius_km=50)
    assert (high.max_lng - high.min_lng) == pytest.approx((low.max_lng - low.min_lng) * 2, rel=0.01)


@pytest.mark.parametrize("center", [Point(10.0, 179.95), Point(-10.0, -179.95)], ids=str)
def test_bounding_box_across_antimeridian_spans_all_longitudes(center):
    box = bounding_box(center, radius_km=30)
    assert (box.min_lng, box.max_lng) == (-180.0, 180.0)
    assert box.max_lat - box.min_lat < 1.0


@pytest.mark.parametrize("center", [Point(89.9, 0.0), Point(-89.95, 45.0)], ids=str)
def test_bounding_box_touching_pole_is_clamped(center):
    box = bounding_box(center, radius_km=30)
    assert (box.min_lng, box.max_lng) == (-180.0, 180.0)
    assert box.max_lat == 90.0 or box.min_lat == -90.0


def test_bounding_box_zero_radius_is_the_point():
    box = bounding_box(ZHOUSHAN, radius_km=0)
    assert box == BBox(min_lat=30.02, min_lng=122.1, max_lat=30.02, max_lng=122.1)


@pytest.mark.parametrize("radius", [-1, float("nan"), float("inf"), True, "5", None])
def test_bounding_box_rejects_bad_radius(radius):
    with pytest.raises(errors.InvalidRadius) as caught:
        bounding_box(ZHOUSHAN, radius_km=radius)
    assert caught.value.code == errors.INVALID_RADIUS
    assert set(caught.value.fields) == {"radius_km"}


def test_bbox_contains_is_inclusive():
    box = BBox(min_lat=29.9, min_lng=122.0, max_lat=30.2, max_lng=122.3)
    assert box.contains(29.9, 122.0)
    assert box.contains(30.2, 122.3)
    assert box.contains(30.0, 122.1)
    assert not box.contains(29.8999, 122.1)
    assert not box.contains(30.0, 122.3001)


# --- parse_bbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("122.0,29.9,122.3,30.2", BBox(29.9, 122.0, 30.2, 122.3)),
        (" 122.0 , 29.9 ,122.3,\t30.2 ", BBox(29.9, 122.0, 30.2, 122.3)),
        ("-180,-90,180,90", BBox(-90.0, -180.0, 90.0, 180.0)),
        ("122.1,30,122.1,30", BBox(30.0, 122.1, 30.0, 122.1)),
        ("-1.5e1,-5,1.5e1,5", BBox(-5.0, -15.0, 5.0, 15.0)),
    ],
)
def test_parse_bbox_accepts_valid_boxes(text, expected):
    assert parse_bbox(text) == expected


def test_parse_bbox_allows_area_up_to_limit():
    assert parse_bbox("122,30,123,31", max_area_deg2=1.0).area_deg2 == 1.0


@pytest.mark.parametrize(
    ("text", "kwargs", "in_message"),
    [
        ("", {}, "4 个"),
        ("122.0,29.9,122.3", {}, "4 个"),
        ("122.0,29.9,122.3,30.2,1", {}, "4 个"),
        ("122.0;29.9;122.3;30.2", {}, "4 个"),
        ("abc,29.9,122.3,30.2", {}, "第 1 个"),
        ("122.0,,122.3,30.2", {}, "第 2 个"),
        ("122.0,29.9,nan,30.2", {}, "第 3 个"),
        ("122.0,29.9,122.3,inf", {}, "第 4 个"),
        ("122.0,29.9,122.3,1e999", {}, "第 4 个"),
        ("-181,29.9,122.3,30.2", {}, "经度必须在"),
        ("122.0,29.9,180.5,30.2", {}, "经度必须在"),
        ("122.0,-91,122.3,30.2", {}, "纬度必须在"),
        ("122.0,29.9,122.3,90.01", {}, "纬度必须在"),
        ("122.3,29.9,122.0,30.2", {}, "最小经度不能大于最大经度"),
        ("122.0,30.2,122.3,29.9", {}, "最小纬度不能大于最大纬度"),
        ("29.9,122.0,30.2,122.3", {}, "纬度必须在"),  # lat/lng swapped
        ("120,28,125,32", {"max_area_deg2": 4.0}, "面积不能超过 4 平方度"),
    ],
)
def test_parse_bbox_rejects_bad_input(text, kwargs, in_message):
    with pytest.raises(errors.InvalidBBox) as caught:
        parse_bbox(text, **kwargs)
    assert caught.value.code == errors.INVALID_BBOX
    assert caught.value.status_code == 400
    assert in_message in str(caught.value.detail)
    assert caught.value.fields == {"bbox": [str(caught.value.detail)]}


def test_parse_bbox_rejects_non_string():
    with pytest.raises(errors.InvalidBBox):
        parse_bbox(None)  # type: ignore[arg-type]


# --- parse_near ---------------------------------------------------------------------------


def test_parse_near_accepts_lat_lng():
    assert parse_near("30.02,122.10") == ZHOUSHAN
    assert parse_near(" 30.02 , 122.10 ") == ZHOUSHAN


def test_parse_near_converts_gcj02():
    gcj_lat, gcj_lng = wgs84_to_gcj02(ZHOUSHAN.lat, ZHOUSHAN.lng)
    assert parse_near(f"{gcj_lat},{gcj_lng}", coord_type="gcj02") == ZHOUSHAN


@pytest.mark.parametrize("text", ["", "30.02", "30.02,122.1,5", "30.02 122.1", None])
def test_parse_near_rejects_wrong_shape(text):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        parse_near(text)
    assert caught.value.code == errors.INVALID_COORDINATES
    assert set(caught.value.fields) == {"near"}


@pytest.mark.parametrize("text", ["abc,122.1", "30.02,", "nan,122.1", "30.02,200"])
def test_parse_near_rejects_bad_values_against_near_field(text):
    with pytest.raises(errors.InvalidCoordinates) as caught:
        parse_near(text)
    assert set(caught.value.fields) == {"near"}
    assert caught.value.fields["near"]


def test_parse_near_hints_at_swapped_order():
    with pytest.raises(errors.InvalidCoordinates) as caught:
        parse_near("122.10,30.02")
    assert any("写反" in message for message in caught.value.fields["near"])


def test_parse_near_rejects_gcj02_outside_china():
    with pytest.raises(errors.OutsideChina) as caught:
        parse_near("35.68,139.77", coord_type="gcj02")
    assert caught.value.code == errors.OUTSIDE_CHINA
    assert set(caught.value.fields) == {"near"}


def test_parse_near_rejects_unknown_coord_type():
    with pytest.raises(errors.UnknownCoordType) as caught:
        parse_near("30.02,122.1", coord_type="bd09")
    assert set(caught.value.fields) == {"coord_type"}
