"""The write contract as documented (docs/api.md): JSON types, known fields, visible text, one
time format; every refusal is 400 in the one shape and writes nothing."""

from __future__ import annotations

import pytest

from accounts import errors as common
from services.models import Campaign, ServiceRequest
from stations import errors as geo_errors
from tests import services_fixtures
from tests.factories import ClaimFactory
from tests.services_fixtures import REQUESTS_URL, claim_url, request_url, soon
from tests.test_errors import assert_error
from tests.test_requests_create import payload

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def post_request(client, data):
    return client.post(REQUESTS_URL, data, format="json")


def assert_nothing_written():
    assert not ServiceRequest.objects.exists()


# ---------------------------------------------------------------- ids are integers


@pytest.mark.parametrize(
    "overrides",
    [
        {"station": "{station}"},
        {"specialties": ["{law}"]},
        {"campaign": "{campaign}"},
    ],
)
def test_digit_strings_are_not_ids(world, client_for, campaign, overrides):
    values = {"station": world.station.pk, "law": world.law.pk, "campaign": campaign.pk}
    data = payload(campaign, station=world.station.pk)
    for key, value in overrides.items():
        data[key] = (
            [v.format(**values) for v in value]
            if isinstance(value, list)
            else value.format(**values)
        )
    body = assert_error(post_request(client_for(world.mary), data), 400, common.VALIDATION_ERROR)
    assert set(overrides) <= set(body["fields"])
    assert_nothing_written()


def test_an_invited_team_given_as_text_is_refused(world, client_for, open_request):
    response = client_for(world.mary).post(
        request_url(open_request, "invite/"),
        {"team": str(world.team.pk), "until": soon(days=1)},
        format="json",
    )
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "team" in body["fields"]
    open_request.refresh_from_db()
    assert open_request.invited_team_id is None


# ---------------------------------------------------------------- unknown and read-only fields


def test_a_typo_is_refused_not_dropped(world, client_for, campaign):
    data = payload(campaign, station=world.station.pk, specialty=[world.law.pk])
    body = assert_error(post_request(client_for(world.mary), data), 400, common.UNKNOWN_FIELD)
    assert body["fields"] == {"specialty": ["没有这个字段。"]}
    assert "specialty" in body["detail"]
    assert_nothing_written()


@pytest.mark.parametrize("field", ["status", "claimed", "created_by", "id"])
def test_read_only_fields_say_they_cannot_be_written(world, client_for, campaign, field):
    data = payload(campaign, station=world.station.pk, **{field: 1})
    body = assert_error(post_request(client_for(world.mary), data), 400, common.READ_ONLY_FIELD)
    assert body["fields"] == {field: ["该字段只读，不能写入。"]}
    assert "只读" in body["detail"]
    assert_nothing_written()


def test_edits_and_other_writes_refuse_unknown_fields_too(world, client_for, open_request):
    client = client_for(world.mary)
    before = ServiceRequest.objects.filter(pk=open_request.pk).values().get()
    patch = client.patch(request_url(open_request), {"titel": "新标题"}, format="json")
    assert_error(patch, 400, common.UNKNOWN_FIELD)
    status = client.patch(request_url(open_request), {"status": "cancelled"}, format="json")
    assert_error(status, 400, common.READ_ONLY_FIELD)
    assert ServiceRequest.objects.filter(pk=open_request.pk).values().get() == before
    claim = ClaimFactory(request=open_request, member=world.alice)
    cancel = client_for(world.alice.user).post(
        claim_url(claim, "cancel/"), {"reason": "有事", "because": "x"}, format="json"
    )
    assert_error(cancel, 400, common.UNKNOWN_FIELD)
    claim.refresh_from_db()
    assert claim.status == "claimed"
    campaigns = client_for(world.sam).post(
        "/api/v1/campaigns/",
        {
            "kind": "warm_heart",
            "name": "暖心月",
            "starts_on": "2026-01-01",
            "ends_on": "2026-12-31",
            "target": 5,
        },
        format="json",
    )
    assert_error(campaigns, 400, common.UNKNOWN_FIELD)
    assert not Campaign.objects.filter(name="暖心月").exists()


def test_a_query_string_may_still_carry_other_parameters(world, client_for):
    """Only JSON bodies are closed: a cache-buster in the query string is not a field."""
    assert client_for(world.alice.user).get(f"{REQUESTS_URL}?_=12345").status_code == 200
    summary = client_for(world.sam).get("/api/v1/stats/summary/?_=12345")
    assert summary.status_code == 200, summary.content


# ---------------------------------------------------------------- coordinates


@pytest.mark.parametrize(("given", "missing"), [({"lat": 30.02}, "lng"), ({"lng": 122.1}, "lat")])
def test_half_a_point_is_invalid_coordinates(
    world, client_for, campaign, open_request, given, missing
):
    data = payload(campaign, station=world.station.pk, **given)
    body = assert_error(
        post_request(client_for(world.mary), data), 400, geo_errors.INVALID_COORDINATES
    )
    assert missing in body["fields"]
    assert_nothing_written_but(open_request)
    edit = client_for(world.mary).patch(request_url(open_request), given, format="json")
    assert missing in assert_error(edit, 400, geo_errors.INVALID_COORDINATES)["fields"]


def assert_nothing_written_but(existing):
    assert list(ServiceRequest.objects.values_list("id", flat=True)) == [existing.pk]


# ---------------------------------------------------------------- visible text


@pytest.mark.parametrize("text", ["\u200b\u200b", "\u200b \u2060\ufeff", "\u00ad", "\u200e\u200f"])
def test_text_of_invisible_characters_is_blank(world, client_for, campaign, text):
    data = payload(campaign, station=world.station.pk, title=text)
    body = assert_error(post_request(client_for(world.mary), data), 400, common.VALIDATION_ERROR)
    assert "title" in body["fields"]
    assert_nothing_written()


def test_text_with_something_visible_is_kept_as_written(world, client_for, campaign):
    data = payload(campaign, station=world.station.pk, title="\u200b修路")
    assert post_request(client_for(world.mary), data).status_code == 201


# ---------------------------------------------------------------- one time format


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-12",
        "20261212T0900",
        "20261212T090000+0800",
        "2026-12-12 09:00:00+08:00",
        "2026-12-12T09:00:00",
    ],
)
def test_times_must_be_iso_8601_with_an_offset(world, client_for, campaign, value):
    data = payload(campaign, station=world.station.pk, starts_at=value)
    body = assert_error(post_request(client_for(world.mary), data), 400, common.VALIDATION_ERROR)
    assert "starts_at" in body["fields"]
    assert "ISO 8601" in body["fields"]["starts_at"][0]
    assert_nothing_written()


@pytest.mark.parametrize("value", ["20261031", "2026/10/31", "2026-10-31T00:00:00+08:00"])
def test_dates_must_be_yyyy_mm_dd(world, client_for, value):
    response = client_for(world.sam).get(f"/api/v1/stats/summary/?from={value}")
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "from" in body["fields"]


def test_times_are_shown_in_shanghai_to_the_second(world, client_for, open_request):
    body = client_for(world.alice.user).get(request_url(open_request)).json()
    for key in ("starts_at", "ends_at", "created_at", "updated_at"):
        assert body[key].endswith("+08:00"), (key, body[key])
        assert "." not in body[key], (key, body[key])


def test_the_check_in_window_is_in_shanghai_time(world, client_for, open_request):
    early = ClaimFactory(request=open_request, member=world.alice)
    response = client_for(world.alice.user).post(
        claim_url(early, "check-in/"), {"lat": 30.03, "lng": 122.115}, format="json"
    )
    body = assert_error(response, 409, "check_in_window")
    assert body["opens_at"].endswith("+08:00") and body["closes_at"].endswith("+08:00")


def test_sign_in_and_refresh_refuse_unknown_fields(world, anon):
    body = {"username": "alice", "password": "x", "remember": True}
    assert_error(anon.post("/api/v1/auth/token/", body, format="json"), 400, common.UNKNOWN_FIELD)
    refresh = {"refresh": "x.y.z", "token": "a"}
    assert_error(
        anon.post("/api/v1/auth/token/refresh/", refresh, format="json"),
        400,
        common.UNKNOWN_FIELD,
    )
