"""Deeply nested JSON is a 400 in the error shape on every write, never a RecursionError."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.parsers import JSON_TOO_DEEP, json_depth
from services.models import Campaign, ServiceRequest
from tests import services_fixtures
from tests.test_errors import assert_error

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

DEEP = 100_000


def nested(depth: int, *, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/requests/", None),
        ("/api/v1/campaigns/", None),
        ("/api/v1/requests/{request}/claims/", "claim-key-1"),
        ("/api/v1/auth/token/", None),
    ],
)
def test_deep_nesting_is_a_400_and_writes_nothing(world, client_for, open_request, path, key):
    """Arrays, and objects inside a field, 100,000 levels deep."""
    service_request = open_request
    url = path.format(request=service_request.pk)
    poster = {"/api/v1/campaigns/": world.sam, "/api/v1/requests/": world.mary}
    client = client_for(poster.get(path, world.alice.user))
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    requests_before, campaigns_before = ServiceRequest.objects.count(), Campaign.objects.count()
    for body in (nested(DEEP), '{"title": ' + nested(DEEP, opener='{"a":', closer="}")[:-1] + "}"):
        response = client.post(url, data=body, content_type="application/json", **headers)
        payload = assert_error(response, 400, JSON_TOO_DEEP)
        assert "嵌套" in payload["detail"]
    assert ServiceRequest.objects.count() == requests_before
    assert Campaign.objects.count() == campaigns_before


def test_the_limit_is_the_setting_and_strings_do_not_count(world, client_for):
    client = client_for(world.sam)
    with override_settings(JSON_MAX_DEPTH=4):
        ok = client.post(
            "/api/v1/campaigns/",
            data='{"name": "[[[[[[[[[[{{{{{", "kind": "warm_heart", '
            '"starts_on": "2026-01-01", "ends_on": "2026-12-31"}',
            content_type="application/json",
        )
        assert ok.status_code == 201, ok.content
        deep = client.post("/api/v1/campaigns/", data=nested(5), content_type="application/json")
        assert_error(deep, 400, JSON_TOO_DEEP)


def test_json_depth_counts_levels_not_text():
    assert json_depth(b'{"a": [1, {"b": "]]]"}], "c": "\\"[["}', limit=10) == 3
    assert json_depth(b"[]", limit=10) == 1
    assert json_depth(b"12", limit=10) == 0
    assert json_depth(nested(50).encode(), limit=10) == 11  # stops counting past the limit
