"""Request limits (docs/api.md): body size, page size, radius, bbox area, export rows.

Already tested elsewhere, not repeated here:
- export row cap (STATS_EXPORT_MAX_ROWS → 422 export_too_large):
  tests/test_exports.py::test_more_rows_than_the_cap_is_422
- map bbox area from settings (MATCHING_MAP_MAX_BBOX_DEG2):
  tests/test_map.py::test_the_box_size_limit_comes_from_settings
- feed radius above MATCHING_FEED_MAX_RADIUS_KM: tests/test_recommended.py (radius_km=50.1)
- the 413 shape on auth/logout/: tests/test_errors.py::test_it_shapes_413_for_oversized_body
"""

from __future__ import annotations

import json

from django.conf import settings as django_settings

from accounts import errors
from stations import errors as geo_errors
from tests.factories import ServiceRequestFactory, TownFactory
from tests.test_errors import assert_error


def test_an_oversized_body_is_413_before_any_view_reads_it(world, client_for, settings):
    """MAX_BODY_BYTES applies to every endpoint, claims and records included."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    service_request = ServiceRequestFactory(station=world.station)
    body = json.dumps({"summary": "长" * 5000, "people_served": 1})
    response = client_for(world.alice.user).post(
        f"/api/v1/requests/{service_request.pk}/record/", data=body, content_type="application/json"
    )
    assert_error(response, 413, errors.REQUEST_TOO_LARGE)


def test_the_default_body_limit_is_two_megabytes():
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2 * 1024 * 1024


def test_page_size_is_capped_at_100(world, client_for):
    TownFactory.create_batch(105)
    body = client_for(world.sam).get("/api/v1/towns/?page_size=1000").json()
    assert body["count"] == 107 and len(body["results"]) == 100
    assert len(client_for(world.sam).get("/api/v1/towns/").json()["results"]) == 20


def test_near_radius_above_the_maximum_is_refused(world, client_for, settings):
    client = client_for(world.alice.user)
    limit = settings.SERVICES_MAX_RADIUS_KM
    ok = client.get(f"/api/v1/requests/?near=30.02,122.105&radius_km={limit}")
    assert ok.status_code == 200
    response = client.get(f"/api/v1/requests/?near=30.02,122.105&radius_km={limit + 0.1}")
    body = assert_error(response, 400, geo_errors.INVALID_RADIUS)
    assert "radius_km" in body["fields"]


def test_feed_radius_above_the_maximum_is_refused(world, client_for, settings):
    client = client_for(world.alice.user)
    limit = settings.MATCHING_FEED_MAX_RADIUS_KM
    url = "/api/v1/requests/recommended/?lat=30.02&lng=122.1&radius_km="
    assert client.get(f"{url}{limit}").status_code == 200
    assert_error(client.get(f"{url}{limit + 1}"), 400, geo_errors.INVALID_RADIUS)


def test_map_bbox_larger_than_the_cap_is_refused(world, client_for, settings):
    client = client_for(world.alice.user)
    assert settings.MATCHING_MAP_MAX_BBOX_DEG2 == 1.0
    ok = client.get("/api/v1/requests/map/?bbox=121.5,29.5,122.5,30.5")  # 1 deg²
    assert ok.status_code == 200
    too_big = client.get("/api/v1/requests/map/?bbox=121.0,29.5,122.5,30.5")  # 1.5 deg²
    assert_error(too_big, 400, geo_errors.INVALID_BBOX)


def test_export_row_cap_default(settings):
    # The cap itself is tested in tests/test_exports.py; its default is documented here.
    assert settings.STATS_EXPORT_MAX_ROWS == 5000
