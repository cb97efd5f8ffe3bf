"""GET requests/map/: requests inside a box as GeoJSON, with the list's filters."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import errors as common
from services import rollups
from services.matching.serializers import RequestMapSerializer
from services.models import Campaign, ServiceRequest
from stations import errors as geo_errors
from stations.geo import wgs84_to_gcj02
from tests import services_fixtures
from tests.factories import CampaignFactory, ClaimFactory, ServiceRequestFactory
from tests.test_errors import assert_error
from tests.test_matching import assert_shape

campaign = services_fixtures.campaign

URL = "/api/v1/requests/map/"
# Around 昌国街道 (30.020, 122.105): about 10 × 9 km.
BOX = "122.05,29.98,122.15,30.06"


def at(world, campaign, title, lat=30.02, lng=122.10, **extra):
    return ServiceRequestFactory(
        station=world.station, campaign=campaign, title=title, lat=lat, lng=lng, **extra
    )


def mapped(client, **query) -> dict:
    response = client.get(URL, {"bbox": BOX, **query})
    assert response.status_code == 200, response.content
    return response.json()


def titles(body) -> list[str]:
    return sorted(f["properties"]["title"] for f in body["features"])


def test_signed_in_users_get_a_feature_collection(world, client_for, campaign):
    request = at(world, campaign, "驿站法律咨询", lat=30.03, lng=122.115)
    body = mapped(client_for(world.alice.user))
    assert body["type"] == "FeatureCollection"
    assert body["truncated"] is False
    assert body["coord_type"] == "wgs84"
    feature = body["features"][0]
    assert feature["type"] == "Feature"
    assert feature["id"] == request.pk
    assert feature["geometry"] == {"type": "Point", "coordinates": [122.115, 30.03]}
    props = feature["properties"]
    assert props["id"] == request.pk
    assert props["title"] == "驿站法律咨询"
    assert props["status"] == "open"
    assert props["campaign_kind"] == "warm_village"
    assert props["slots"] == 5 and props["claimed"] == 0
    assert props["station_id"] == world.station.pk
    assert props["station_name"] == "昌国协商驿站"
    assert props["starts_at"].endswith("+08:00")
    assert_shape(body, RequestMapSerializer())
    for user in (world.mary, world.sam, world.lily, world.oscar, world.charlie.user):
        assert titles(mapped(client_for(user))) == ["驿站法律咨询"]


def test_only_open_requests_inside_the_box_that_have_not_ended(world, client_for, campaign):
    now = timezone.now()
    at(world, campaign, "开放中")
    at(world, campaign, "框外", lat=30.2)
    at(world, campaign, "已取消", status=ServiceRequest.Status.CANCELLED)
    at(world, campaign, "进行中", status=ServiceRequest.Status.IN_PROGRESS)
    at(
        world,
        campaign,
        "已过时",
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(1 / 24),
    )
    full = at(world, campaign, "已满员", slots=1)
    ClaimFactory(request=full)
    client = client_for(world.alice.user)
    assert titles(mapped(client)) == ["开放中"]
    assert titles(mapped(client, status=["open", "full"])) == ["已满员", "开放中"]
    assert titles(mapped(client, status="full")) == ["已满员"]


def test_the_list_filters_apply(world, client_for, campaign):
    heart = CampaignFactory(kind=Campaign.Kind.WARM_HEART, name="暖心服务月")
    at(world, campaign, "送法进村", specialties=[world.law])
    at(world, heart, "义诊", specialties=[world.medical])
    ServiceRequestFactory(
        station=world.other_station, campaign=campaign, title="他站需求", lat=30.03, lng=122.1
    )
    client = client_for(world.alice.user)
    assert titles(mapped(client, campaign_kind="warm_heart")) == ["义诊"]
    assert titles(mapped(client, specialty=world.law.pk)) == ["送法进村"]
    assert titles(mapped(client, station=world.other_station.pk)) == ["他站需求"]
    assert titles(mapped(client, town=world.town.pk)) == ["义诊", "送法进村"]
    assert titles(mapped(client, campaign=heart.pk)) == ["义诊"]
    assert titles(mapped(client, search="义诊")) == ["义诊"]
    later = (timezone.now() + timedelta(days=30)).isoformat()
    assert titles(mapped(client, starts_after=later)) == []


def test_a_box_of_exactly_the_cap_keeps_its_points_nearest_the_centre_first(
    world, client_for, campaign, settings
):
    settings.MATCHING_MAP_MAX_FEATURES = 4
    # The box's centre is (30.02, 122.10).
    at(world, campaign, "较远", lat=30.05, lng=122.14)
    at(world, campaign, "中心", lat=30.02, lng=122.10)
    at(world, campaign, "最远", lat=29.985, lng=122.055)
    at(world, campaign, "次近", lat=30.025, lng=122.10)
    body = mapped(client_for(world.alice.user))
    assert (body["clustered"], body["truncated"], body["total"], body["limit"]) == (
        False,
        False,
        4,
        4,
    )
    assert [f["properties"]["title"] for f in body["features"]] == ["中心", "次近", "较远", "最远"]
    assert all(f["properties"]["cluster"] is False for f in body["features"])
    assert all(f["properties"]["count"] is None for f in body["features"])
    assert_shape(body, RequestMapSerializer())


def counted() -> None:
    """Fill the map's grid cells from the requests the factories wrote (the writes keep them in
    step themselves: tests/test_stats_summary_rollup.py)."""
    with connection.cursor() as cursor:
        rollups.fill_map_cells(cursor)


def cluster_map(body) -> dict[str, dict]:
    return {f["id"]: f["properties"] for f in body["features"]}


def test_one_more_than_the_cap_answers_clusters_of_the_fixed_grid(
    world, client_for, campaign, settings
):
    settings.MATCHING_MAP_MAX_FEATURES = 4
    settings.MATCHING_MAP_CLUSTER_GRID = 2
    # BOX is 122.05..122.15 × 29.98..30.06, its longer side 0.1°: level 4, cells of 1/16° =
    # 0.0625°. It touches rows 1919..1920 (lat 29.9375..30.0625) and columns 4832..4834
    # (lng 122.0..122.1875).
    assert rollups.map_cell(29.98, 122.05, 4) == (1919, 4832)
    assert rollups.map_cell(30.06, 122.15, 4) == (1920, 4834)
    for title, lat, lng in [
        ("甲1", 29.99, 122.06),
        ("甲2", 29.985, 122.055),
        ("甲3", 29.995, 122.06),
        ("乙1", 30.05, 122.14),
        ("乙2", 30.06, 122.15),  # the box's upper corner
        ("乙3", 30.03, 122.17),  # outside the box, inside a cell it touches: counted there
        ("框外", 30.10, 122.10),  # in no cell the box touches
    ]:
        at(world, campaign, title, lat=lat, lng=lng)
    at(world, campaign, "已满", lat=29.99, lng=122.06, status=ServiceRequest.Status.FULL)
    ended = timezone.now() - timedelta(minutes=5)
    at(
        world,
        campaign,
        "已结束",
        lat=29.99,
        lng=122.06,
        starts_at=ended - timedelta(hours=1),
        ends_at=ended,
    )
    counted()
    client = client_for(world.alice.user)
    body = mapped(client)
    assert (body["clustered"], body["truncated"], body["total"]) == (True, False, 6)
    assert_shape(body, RequestMapSerializer())
    clusters = cluster_map(body)
    assert list(clusters) == ["cluster-4-1919-4832", "cluster-4-1920-4834"]
    south_west = clusters["cluster-4-1919-4832"]
    assert (south_west["cluster"], south_west["count"], south_west["title"]) == (True, 3, None)
    # The cell itself is the box to zoom into.
    assert south_west["bbox"] == [122.0, 29.9375, 122.0625, 30.0]
    feature = body["features"][0]
    assert feature["geometry"]["coordinates"] == [
        pytest.approx((122.06 + 122.055 + 122.06) / 3, abs=1e-6),
        pytest.approx(29.99, abs=1e-6),
    ]
    assert clusters["cluster-4-1920-4834"]["count"] == 3
    assert clusters["cluster-4-1920-4834"]["bbox"] == [122.125, 30.0, 122.1875, 30.0625]

    # The grid is the world's: a box panned a little answers the same clusters.
    panned = client.get(URL, {"bbox": "122.051,29.981,122.151,30.061"}).json()
    assert panned["features"] == body["features"]
    # Full ones too on request (the ended one never).
    both = cluster_map(mapped(client, status=["open", "full"]))
    assert both["cluster-4-1919-4832"]["count"] == 4

    # Zooming into a cluster splits it into the next level's cells (its box's side is 1/16°:
    # cells of 1/32°).
    zoomed = client.get(URL, {"bbox": "122.0,29.9375,122.0625,30.0"}).json()
    assert zoomed["clustered"] is False and titles(zoomed) == ["甲1", "甲2", "甲3"]
    settings.MATCHING_MAP_MAX_FEATURES = 2
    zoomed = client.get(URL, {"bbox": "122.0,29.9375,122.0625,30.0"}).json()
    assert zoomed["clustered"] is True
    assert {key.split("-")[1] for key in cluster_map(zoomed)} == {"5"}
    assert sum(p["count"] for p in cluster_map(zoomed).values()) == 3


def test_a_narrowed_map_groups_its_rows_into_the_same_clusters(
    world, client_for, campaign, settings
):
    settings.MATCHING_MAP_MAX_FEATURES = 4
    settings.MATCHING_MAP_CLUSTER_GRID = 2
    rng = random.Random(5)
    for i in range(40):
        at(
            world,
            campaign,
            f"需求{i}",
            lat=rng.uniform(29.95, 30.09),
            lng=rng.uniform(122.0, 122.2),
        )
    at(world, campaign, "已满", lat=30.0, lng=122.1, status=ServiceRequest.Status.FULL)
    counted()
    client = client_for(world.alice.user)
    for status in (["open"], ["open", "full"]):
        from_rollup = mapped(client, status=status)
        # A filter every request passes: the clusters come from the rows instead.
        from_rows = mapped(client, status=status, campaign=campaign.pk)
        assert from_rollup["clustered"] is True
        assert from_rows["features"] == from_rollup["features"]
        assert from_rows["total"] == from_rollup["total"]
    # The list filters narrow the box first: one kind of need is sparse again.
    other = CampaignFactory(kind=Campaign.Kind.WARM_ENTERPRISE)
    at(world, other, "企业", lat=30.03, lng=122.12)
    counted()
    body = mapped(client, campaign_kind="warm_enterprise")
    assert body["clustered"] is False and titles(body) == ["企业"]


def test_a_dense_map_reads_the_rollup_in_a_fixed_number_of_statements(
    world, client_for, campaign, settings
):
    settings.MATCHING_MAP_MAX_FEATURES = 4
    client = client_for(world.alice.user)
    sizes = []
    for n in (10, 60):
        for i in range(n):
            at(world, campaign, f"需求{n}-{i}", lat=29.985 + i * 0.0012, lng=122.06 + i * 0.0014)
        counted()
        with CaptureQueriesContext(connection) as queries:
            body = mapped(client)
        assert body["clustered"] is True
        sizes.append(len(queries))
    assert sizes[0] == sizes[1]


def test_clusters_in_gcj02(world, client_for, campaign, settings):
    settings.MATCHING_MAP_MAX_FEATURES = 1
    settings.MATCHING_MAP_CLUSTER_GRID = 1
    at(world, campaign, "甲", lat=30.00, lng=122.07)
    at(world, campaign, "乙", lat=30.02, lng=122.09)
    counted()
    body = mapped(client_for(world.alice.user), coord_type="gcj02")
    (feature,) = body["features"]
    lat, lng = wgs84_to_gcj02(30.01, 122.08)
    assert feature["geometry"]["coordinates"] == [
        pytest.approx(lng, abs=1e-5),
        pytest.approx(lat, abs=1e-5),
    ]
    # BOX read as GCJ-02 is a little south-west in WGS-84, still inside the one level-3 cell
    # (1/8°) around both; its corners come back in GCJ-02.
    assert feature["id"] == "cluster-3-{}-{}".format(*rollups.map_cell(30.01, 122.08, 3))
    row, column = rollups.map_cell(30.01, 122.08, 3)
    lo_lat, lo_lng = wgs84_to_gcj02(row / 8 - 90, column / 8 - 180)
    hi_lat, hi_lng = wgs84_to_gcj02((row + 1) / 8 - 90, (column + 1) / 8 - 180)
    assert feature["properties"]["bbox"] == [
        pytest.approx(v, abs=1e-6) for v in (lo_lng, lo_lat, hi_lng, hi_lat)
    ]


def test_gcj02_boxes_and_coordinates(world, client_for, campaign):
    at(world, campaign, "驿站", lat=30.03, lng=122.115)
    lat, lng = wgs84_to_gcj02(30.03, 122.115)
    body = mapped(client_for(world.alice.user), coord_type="gcj02")
    assert body["coord_type"] == "gcj02"
    assert body["features"][0]["geometry"]["coordinates"] == [
        pytest.approx(lng, abs=1e-6),
        pytest.approx(lat, abs=1e-6),
    ]
    # A GCJ-02 box drawn tightly around the GCJ-02 position still finds it.
    tight = f"{lng - 0.001},{lat - 0.001},{lng + 0.001},{lat + 0.001}"
    response = client_for(world.alice.user).get(URL, {"bbox": tight, "coord_type": "gcj02"})
    assert [f["properties"]["title"] for f in response.json()["features"]] == ["驿站"]
    # The same box read as WGS-84 misses it: the offset is several hundred metres.
    response = client_for(world.alice.user).get(URL, {"bbox": tight})
    assert response.json()["features"] == []


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": ""}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "122.15,29.98,122.05,30.06"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "122.05,30.06,122.15,29.98"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "120,28,123,31"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "122.05,29.98,122.15"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "122.05,nan,122.15,30.06"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "122.05,-91,122.15,30.06"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "a,b,c,d"}, geo_errors.INVALID_BBOX, "bbox"),
        ({"bbox": "1" * 300}, common.VALIDATION_ERROR, "bbox"),
        ({"bbox": BOX, "coord_type": "bd09"}, geo_errors.UNKNOWN_COORD_TYPE, "coord_type"),
        ({"bbox": BOX, "status": "cancelled"}, common.VALIDATION_ERROR, "status"),
        ({"bbox": BOX, "station": "abc"}, common.VALIDATION_ERROR, "station"),
        ({"bbox": BOX, "starts_after": "tomorrow"}, common.VALIDATION_ERROR, "starts_after"),
    ],
)
def test_bad_input_is_refused_clearly(world, client_for, query, code, field):
    body = assert_error(client_for(world.alice.user).get(URL, query), 400, code)
    assert field in body["fields"]


def test_the_box_size_limit_comes_from_settings(world, client_for, settings):
    settings.MATCHING_MAP_MAX_BBOX_DEG2 = 0.001
    response = client_for(world.alice.user).get(URL, {"bbox": BOX})
    assert_error(response, 400, geo_errors.INVALID_BBOX)


def test_anonymous_users_get_401(anon, db):
    assert_error(anon.get(URL, {"bbox": BOX}), 401, common.NOT_AUTHENTICATED)


def test_query_count_does_not_grow_with_features(world, client_for, campaign):
    client = client_for(world.alice.user)
    for i in range(2):
        at(world, campaign, f"少{i}", lat=30.0 + i * 0.005)
    with CaptureQueriesContext(connection) as few:
        assert len(mapped(client)["features"]) == 2
    for i in range(30):
        at(world, campaign, f"多{i}", lat=29.99 + i * 0.002, specialties=[world.law])
    with CaptureQueriesContext(connection) as many:
        assert len(mapped(client)["features"]) == 32
    assert len(many) == len(few)


def test_times_render_exactly_as_drf_renders_them(settings):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from rest_framework import serializers

    from services.matching.serializers import _datetimes

    drf = serializers.DateTimeField()
    values = [
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("America/New_York")),
    ]
    for zone in ("Asia/Shanghai", "UTC"):
        settings.TIME_ZONE = zone
        render = _datetimes()
        assert [render(v) for v in values] == [drf.to_representation(v) for v in values]
    assert _datetimes()(None) is None
