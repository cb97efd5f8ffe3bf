"""GET requests/map/: requests inside a box as GeoJSON, with the list's filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import errors as common
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


def test_one_more_than_the_cap_answers_clusters_per_grid_cell(
    world, client_for, campaign, settings
):
    settings.MATCHING_MAP_MAX_FEATURES = 4
    settings.MATCHING_MAP_CLUSTER_GRID = 2
    # BOX is 122.05..122.15 × 29.98..30.06: 2 × 2 cells split at lng 122.10 and lat 30.02.
    at(world, campaign, "西南1", lat=29.99, lng=122.06)
    at(world, campaign, "西南2", lat=30.01, lng=122.08)
    at(world, campaign, "西南3", lat=30.00, lng=122.07)
    at(world, campaign, "东北", lat=30.05, lng=122.14)
    # On the box's upper corner: the last cell, not a cell of its own.
    at(world, campaign, "角上", lat=30.06, lng=122.15)
    # Outside the box, ended, or full: not counted.
    at(world, campaign, "框外", lat=30.10, lng=122.10)
    at(world, campaign, "已满", lat=30.00, lng=122.07, status=ServiceRequest.Status.FULL)
    body = mapped(client_for(world.alice.user))
    assert (body["clustered"], body["truncated"], body["total"]) == (True, False, 5)
    assert_shape(body, RequestMapSerializer())
    clusters = {f["id"]: f for f in body["features"]}
    assert set(clusters) == {"cluster-0-0", "cluster-1-1"}
    south_west, north_east = clusters["cluster-0-0"], clusters["cluster-1-1"]
    props = south_west["properties"]
    assert (props["cluster"], props["count"], props["title"]) == (True, 3, None)
    assert props["bbox"] == [122.06, 29.99, 122.08, 30.01]
    assert south_west["geometry"]["coordinates"] == [
        pytest.approx(122.07, abs=1e-6),
        pytest.approx(30.0, abs=1e-6),
    ]
    assert north_east["properties"]["count"] == 2
    assert north_east["properties"]["bbox"] == [122.14, 30.05, 122.15, 30.06]
    # Largest first.
    assert [f["properties"]["count"] for f in body["features"]] == [3, 2]
    # The list filters narrow the box first: one kind of need is sparse again.
    other = CampaignFactory(kind=Campaign.Kind.WARM_ENTERPRISE)
    at(world, other, "企业", lat=30.03, lng=122.12)
    body = mapped(client_for(world.alice.user), campaign_kind="warm_enterprise")
    assert body["clustered"] is False and titles(body) == ["企业"]


def test_clusters_in_gcj02(world, client_for, campaign, settings):
    settings.MATCHING_MAP_MAX_FEATURES = 1
    settings.MATCHING_MAP_CLUSTER_GRID = 1
    at(world, campaign, "甲", lat=30.00, lng=122.07)
    at(world, campaign, "乙", lat=30.02, lng=122.09)
    body = mapped(client_for(world.alice.user), coord_type="gcj02")
    (feature,) = body["features"]
    lat, lng = wgs84_to_gcj02(30.01, 122.08)
    assert feature["geometry"]["coordinates"] == [
        pytest.approx(lng, abs=1e-5),
        pytest.approx(lat, abs=1e-5),
    ]
    lo_lat, lo_lng = wgs84_to_gcj02(30.00, 122.07)
    hi_lat, hi_lng = wgs84_to_gcj02(30.02, 122.09)
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
