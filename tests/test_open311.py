"""Open311 GeoReport v2 (/open311/v2/): catalogue, public reads, keyed posts, Open311 errors.

Field names are written out here from the spec (https://wiki.open311.org/GeoReport_v2), not
taken from the code, so a renamed field fails.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from accounts.models import Event
from services.models import Campaign, ServiceRequest
from stations.api_keys import api_key_issue, api_key_revoke
from stations.models import StationApiKey
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    MemberFactory,
    ServiceRequestFactory,
    SpecialtyFactory,
)

BASE = "/open311/v2"
SERVICES = f"{BASE}/services.json"
REQUESTS = f"{BASE}/requests.json"
FORM = "application/x-www-form-urlencoded"

# GeoReport v2 field names.
SERVICE_KEYS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
POST_KEYS = {"service_request_id", "service_notice", "account_id"}
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_open311_error(response, status: int) -> str:
    """The response is ``[{"code": status, "description": <Chinese>}]`` and nothing else."""
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert CJK.search(body[0]["description"]), body
    return body[0]["description"]


def url(path: str, **params) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def request_url(pk) -> str:
    return f"{BASE}/requests/{pk}.json"


@pytest.fixture
def key(world):
    """An API key of world.station, issued by staff sam."""
    return api_key_issue(station=world.station, name="12345 热线", created_by=world.sam)


@pytest.fixture
def campaigns(db):
    """Two campaigns running today: 暖岙 and 暖心."""
    return {
        "village": CampaignFactory(kind=Campaign.Kind.WARM_VILLAGE, name="暖岙 2026"),
        "heart": CampaignFactory(kind=Campaign.Kind.WARM_HEART, name="暖心 2026"),
    }


def post(client, data: dict):
    return client.post(REQUESTS, data=urlencode(data), content_type=FORM)


# ---------------------------------------------------------------- services.json


def test_it_lists_one_service_per_active_specialty_and_general(anon, world):
    SpecialtyFactory(code="finance", name="金融")
    SpecialtyFactory(code="retired", name="停用专长", active=False)
    response = anon.get(SERVICES)
    assert response.status_code == 200
    services = response.json()
    assert [s["service_code"] for s in services] == ["law", "medical", "finance", "general"]
    for service in services:
        assert set(service) == SERVICE_KEYS
        assert service["metadata"] is False
        assert service["type"] == "realtime"
        assert isinstance(service["keywords"], str)
    law, medical, finance, general = services
    assert law["service_name"] == "法律" and law["group"] == "暖岙"
    assert medical["group"] == "暖岙"
    assert finance["group"] == "暖企"
    assert general["service_name"] == "综合服务" and general["group"] == "服务需求"
    assert "法律" in law["keywords"].split(",")


def test_it_serves_the_catalogue_without_auth_even_with_a_bad_token(anon, world):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anon.get(SERVICES).status_code == 200


# ---------------------------------------------------------------- requests.json (read)


def test_it_shows_a_request_with_exactly_the_spec_fields_and_no_personal_data(
    anon, world, campaigns
):
    service_request = ServiceRequestFactory(
        station=world.station,
        campaign=campaigns["village"],
        title="新螺头村法律咨询",
        description="法律咨询与普法讲座",
        address="新螺头村文化礼堂",
        contact_name="张联系",
        contact_phone="13900009999",
        created_by=world.mary,
        specialties=[world.medical, world.law],
    )
    ClaimFactory(request=service_request, member=world.alice)
    response = anon.get(REQUESTS)
    assert response.status_code == 200
    [row] = response.json()
    assert set(row) == REQUEST_KEYS
    assert row["service_request_id"] == str(service_request.pk)
    assert row["status"] == "open"
    assert row["status_notes"] == "可认领"
    # The primary specialty is the one with the lowest id (law was made first).
    assert row["service_code"] == "law" and row["service_name"] == "法律"
    assert row["description"] == "法律咨询与普法讲座"
    assert row["agency_responsible"] == "昌国协商驿站"
    assert row["address"] == "新螺头村文化礼堂"
    assert row["lat"] == pytest.approx(world.station.lat)
    assert row["long"] == pytest.approx(world.station.lng)
    assert row["address_id"] is None and row["zipcode"] is None and row["media_url"] is None
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C.match(row[name]), row[name]
    assert datetime.fromisoformat(row["expected_datetime"]) == service_request.starts_at.replace(
        microsecond=0
    )
    text = response.content.decode()
    for secret in ("张联系", "13900009999", "王丽", "马芸", "13800001111", "alice", "mary"):
        assert secret not in text


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("open", "open"),
        ("full", "open"),
        ("in_progress", "open"),
        ("completed", "closed"),
        ("verified", "closed"),
        ("cancelled", "closed"),
        ("expired", "closed"),
    ],
)
def test_it_maps_every_state_to_open_or_closed(anon, world, state, expected):
    service_request = ServiceRequestFactory(station=world.station, status=state, claimed=0)
    [row] = anon.get(request_url(service_request.pk)).json()
    assert row["status"] == expected
    assert row["status_notes"] == ServiceRequest.Status(state).label


def test_an_open_request_that_ended_unclaimed_reads_as_closed(anon, world):
    past = timezone.now() - timedelta(days=1)
    lapsed = ServiceRequestFactory(
        station=world.station, starts_at=past - timedelta(hours=3), ends_at=past
    )
    [row] = anon.get(request_url(lapsed.pk)).json()
    assert (row["status"], row["status_notes"]) == ("closed", "已过期")
    assert anon.get(url(REQUESTS, status="open")).json() == []
    assert [r["service_request_id"] for r in anon.get(url(REQUESTS, status="closed")).json()] == [
        str(lapsed.pk)
    ]
    # Reads never write: the row itself waits for the expiry job.
    lapsed.refresh_from_db()
    assert lapsed.status == ServiceRequest.Status.OPEN


def test_requests_without_a_specialty_are_the_general_service(anon, world):
    service_request = ServiceRequestFactory(station=world.station)
    [row] = anon.get(request_url(service_request.pk)).json()
    assert (row["service_code"], row["service_name"]) == ("general", "综合服务")


def test_it_filters_by_service_code_status_and_ids(anon, world):
    law = ServiceRequestFactory(station=world.station, specialties=[world.law])
    medical = ServiceRequestFactory(station=world.station, specialties=[world.medical])
    general = ServiceRequestFactory(station=world.station)
    done = ServiceRequestFactory(station=world.station, status="verified", specialties=[world.law])

    def ids(**params) -> list[str]:
        response = anon.get(url(REQUESTS, **params))
        assert response.status_code == 200, response.content
        return [row["service_request_id"] for row in response.json()]

    assert ids() == [str(r.pk) for r in (done, general, medical, law)]  # newest first
    assert ids(service_code="law") == [str(done.pk), str(law.pk)]
    assert ids(service_code="law,general") == [str(done.pk), str(general.pk), str(law.pk)]
    assert ids(service_code="law", status="open") == [str(law.pk)]
    assert ids(status="closed") == [str(done.pk)]
    assert ids(status="open,closed") == ids()
    # With ids the other arguments are ignored.
    assert ids(service_request_id=f"{medical.pk},{law.pk}", status="closed") == [
        str(medical.pk),
        str(law.pk),
    ]
    assert ids(service_request_id="999999") == []


def test_it_covers_the_last_90_days_by_default_and_caps_the_count(anon, world, settings):
    old = ServiceRequestFactory(station=world.station)
    ServiceRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    recent = [ServiceRequestFactory(station=world.station) for _ in range(3)]
    rows = anon.get(REQUESTS).json()
    assert [r["service_request_id"] for r in rows] == [str(r.pk) for r in reversed(recent)]
    # Old rows are reachable by id or by an explicit window.
    assert len(anon.get(url(REQUESTS, service_request_id=str(old.pk))).json()) == 1
    start = (timezone.now() - timedelta(days=100)).isoformat()
    end = (timezone.now() - timedelta(days=80)).isoformat()
    window = anon.get(url(REQUESTS, start_date=start, end_date=end)).json()
    assert [r["service_request_id"] for r in window] == [str(old.pk)]
    settings.OPEN311_MAX_REQUESTS = 2
    assert len(anon.get(REQUESTS).json()) == 2


def test_it_takes_w3c_dates_with_or_without_offsets(anon, world):
    made = ServiceRequestFactory(station=world.station)
    # Yesterday: midnight in every form (even UTC, 08:00 here) is before now at any hour.
    day = timezone.localdate() - timedelta(days=1)
    for start in (f"{day}", f"{day}T00:00:00", f"{day}T00:00:00+08:00", f"{day}T00:00:00Z"):
        rows = anon.get(url(REQUESTS, start_date=start)).json()
        assert [r["service_request_id"] for r in rows] == [str(made.pk)], start
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert anon.get(url(REQUESTS, start_date=f"{tomorrow}T00:00:00+08:00")).json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"status": ","},
        {"start_date": "yesterday"},
        {"end_date": "2026-13-01"},
        {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        {"service_request_id": "12,abc"},
        {"service_request_id": "-1"},
        {"service_request_id": "9" * 30},
        {"service_code": "x" * 2001},
    ],
)
def test_it_refuses_bad_query_arguments_with_400(anon, world, params):
    assert_open311_error(anon.get(url(REQUESTS, **params)), 400)


def test_an_unknown_service_code_is_404(anon, world):
    description = assert_open311_error(anon.get(url(REQUESTS, service_code="law,nosuch")), 404)
    assert "nosuch" in description


def test_a_single_request_is_a_one_element_list(anon, world):
    service_request = ServiceRequestFactory(station=world.station)
    response = anon.get(request_url(service_request.pk))
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == REQUEST_KEYS


@pytest.mark.parametrize("pk", ["999999", "abc", "0", "9" * 40, "１２"])
def test_an_unknown_request_is_404(anon, world, pk):
    assert_open311_error(anon.get(request_url(pk)), 404)


def test_reads_take_a_bounded_number_of_queries(anon, world, django_assert_max_num_queries):
    for index in range(20):
        ServiceRequestFactory(
            station=world.station, specialties=[world.law if index % 2 else world.medical]
        )
    with django_assert_max_num_queries(4):
        assert len(anon.get(REQUESTS).json()) == 20


# ---------------------------------------------------------------- requests.json (post)


def test_a_station_key_posts_a_request_through_the_workflow(anon, world, key, campaigns):
    starts = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    response = post(
        anon,
        {
            "api_key": key.key,
            "service_code": "law",
            "lat": "30.03",
            "long": "122.11",
            "address_string": "新螺头村 12 号",
            "description": "老人想咨询遗嘱公证。\n需上门。",
            "first_name": "大爷",
            "last_name": "张",
            "phone": "13900001234",
            "email": "ignored@example.org",
            "attribute[campaign]": str(campaigns["heart"].pk),
            "attribute[starts_at]": starts.isoformat(),
            "attribute[ends_at]": (starts + timedelta(hours=2)).isoformat(),
            "attribute[slots]": "2",
            "attribute[title]": "上门法律咨询",
        },
    )
    assert response.status_code == 201, response.content
    [body] = response.json()
    assert set(body) == POST_KEYS
    assert body["account_id"] is None
    assert CJK.search(body["service_notice"])
    made = ServiceRequest.objects.get(pk=int(body["service_request_id"]))
    assert made.station == world.station
    assert made.campaign == campaigns["heart"]
    assert made.title == "上门法律咨询"
    assert made.description == "老人想咨询遗嘱公证。\n需上门。"
    assert list(made.specialties.values_list("code", flat=True)) == ["law"]
    assert (made.lat, made.lng) == (30.03, 122.11)
    assert made.address == "新螺头村 12 号"
    assert (made.contact_name, made.contact_phone) == ("张大爷", "13900001234")
    assert (made.starts_at, made.ends_at) == (starts, starts + timedelta(hours=2))
    assert made.slots == 2 and made.status == ServiceRequest.Status.OPEN
    assert made.created_by == world.sam
    event = Event.objects.get(verb="request_created", object_id=str(made.pk))
    assert event.actor == world.sam
    assert event.payload["source"] == {
        "channel": "open311",
        "api_key": key.row.pk,
        "api_key_prefix": key.row.prefix,
    }
    key.row.refresh_from_db()
    assert key.row.last_used_at is not None
    # What was posted reads back publicly, without the contact.
    [row] = anon.get(request_url(made.pk)).json()
    assert row["service_code"] == "law" and row["status"] == "open"
    assert "13900001234" not in json.dumps(row, ensure_ascii=False)


def test_a_post_without_attributes_gets_the_documented_defaults(anon, world, key, campaigns):
    response = post(
        anon,
        {
            "api_key": key.key,
            "service_code": "law",
            "address_string": "昌国街道",
            "description": (
                "村里需要一次普法讲座，主题是防范电信诈骗和养老金骗局，时间待定，地点在村文化礼堂。"
                "\n第二行"
            ),
        },
    )
    assert response.status_code == 201, response.content
    made = ServiceRequest.objects.get(pk=int(response.json()[0]["service_request_id"]))
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert timezone.localtime(made.starts_at).date() == tomorrow
    assert timezone.localtime(made.starts_at).hour == 9
    assert made.ends_at - made.starts_at == timedelta(hours=8)
    assert made.slots == 1
    # law belongs to 暖岙: the 暖岙 campaign running that day is chosen.
    assert made.campaign == campaigns["village"]
    assert made.title.endswith("…") and len(made.title) == 40
    assert made.title.startswith("村里需要一次普法讲座")
    # address_string only: the point is the station's.
    assert (made.lat, made.lng) == (world.station.lat, world.station.lng)
    assert (made.contact_name, made.contact_phone) == ("", "")


def test_the_campaign_attribute_takes_a_kind(anon, world, key, campaigns):
    response = post(
        anon,
        {
            "api_key": key.key,
            "service_code": "law",
            "address_string": "昌国街道",
            "attribute[campaign]": "warm_heart",
        },
    )
    assert response.status_code == 201, response.content
    made = ServiceRequest.objects.get(pk=int(response.json()[0]["service_request_id"]))
    assert made.campaign == campaigns["heart"]
    assert made.title == "法律服务需求"


def test_a_general_post_needs_a_campaign_when_several_run(anon, world, key, campaigns):
    data = {"api_key": key.key, "service_code": "general", "address_string": "昌国街道"}
    description = assert_open311_error(post(anon, data), 400)
    assert "attribute[campaign]" in description
    assert not ServiceRequest.objects.exists()
    # With one campaign running, that one is used.
    campaigns["heart"].delete()
    response = post(anon, data)
    assert response.status_code == 201, response.content
    made = ServiceRequest.objects.get()
    assert made.campaign == campaigns["village"]
    assert made.specialties.count() == 0


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"service_code": ""}, 400),
        ({"service_code": "nosuch"}, 404),
        ({"address_string": ""}, 400),
        ({"address_string": "", "lat": "30.0"}, 400),
        ({"address_string": "", "lat": "abc", "long": "122.1"}, 400),
        ({"address_string": "", "lat": "95", "long": "122.1"}, 400),
        ({"address_string": "", "lat": "NaN", "long": "122.1"}, 400),
        ({"address_id": "77", "address_string": ""}, 400),
        ({"description": "长" * 2001}, 400),
        ({"phone": "call me"}, 400),
        ({"last_name": "x" * 26}, 400),
        ({"attribute[slots]": "0"}, 400),
        ({"attribute[slots]": "501"}, 400),
        ({"attribute[slots]": "two"}, 400),
        ({"attribute[starts_at]": "tomorrow"}, 400),
        ({"attribute[starts_at]": "2020-01-01T09:00:00+08:00"}, 400),
        ({"attribute[title]": "t" * 101}, 400),
        ({"attribute[campaign]": "999999"}, 400),
        ({"attribute[campaign]": "9" * 25}, 400),
        ({"attribute[campaign]": "warm_nothing"}, 400),
        ({"attribute[colour]": "red"}, 400),
    ],
)
def test_it_refuses_bad_posts(anon, world, key, campaigns, change, status):
    data = {"api_key": key.key, "service_code": "law", "address_string": "昌国街道", **change}
    assert_open311_error(post(anon, data), status)
    assert not ServiceRequest.objects.exists()


def test_an_inactive_specialty_cannot_be_posted(anon, world, key, campaigns):
    world.law.active = False
    world.law.save()
    data = {"api_key": key.key, "service_code": "law", "address_string": "昌国街道"}
    assert_open311_error(post(anon, data), 404)


def test_posting_needs_a_valid_key(anon, world, key, campaigns):
    data = {"service_code": "law", "address_string": "昌国街道"}
    assert_open311_error(post(anon, data), 403)
    assert_open311_error(post(anon, {**data, "api_key": "nonsense"}), 403)
    forged = key.row.prefix + ".not-the-secret"
    assert_open311_error(post(anon, {**data, "api_key": forged}), 403)
    # Someone's JWT does not stand in for a key.
    from tests.conftest import bearer

    anon.credentials(HTTP_AUTHORIZATION=bearer(world.sam))
    assert_open311_error(post(anon, data), 403)
    assert not ServiceRequest.objects.exists()


def test_a_revoked_key_or_one_of_an_inactive_station_stops_working(anon, world, key, campaigns):
    data = {"api_key": key.key, "service_code": "law", "address_string": "昌国街道"}
    world.station.active = False
    world.station.save()
    assert_open311_error(post(anon, data), 403)
    world.station.active = True
    world.station.save()
    assert post(anon, data).status_code == 201
    assert api_key_revoke(key=key.row, actor=world.sam) is True
    assert api_key_revoke(key=key.row, actor=world.sam) is False
    assert_open311_error(post(anon, data), 403)
    assert Event.objects.filter(verb="api_key_revoked", object_id=str(key.row.pk)).count() == 1


def test_a_key_whose_issuer_left_staff_stops_working(anon, world, key, campaigns):
    world.sam.is_staff = False
    world.sam.save()
    data = {"api_key": key.key, "service_code": "law", "address_string": "昌国街道"}
    assert_open311_error(post(anon, data), 403)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"service_code": "law"})),
        ("multipart/form-data; boundary=x", "--x--"),
        ("text/plain", "service_code=law"),
    ],
)
def test_only_form_bodies_are_accepted(anon, world, key, content_type, body):
    response = anon.post(REQUESTS, data=body, content_type=content_type)
    assert "x-www-form-urlencoded" in assert_open311_error(response, 415)


def test_an_oversized_body_is_413_in_open311_shape(anon, world, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    data = {"api_key": key.key, "service_code": "law", "description": "x" * 5000}
    assert_open311_error(post(anon, data), 413)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_405_in_open311_shape(anon, world, method):
    response = getattr(anon, method)(REQUESTS)
    assert_open311_error(response, 405)
    assert "GET" in response["Allow"]
    assert_open311_error(getattr(anon, method)(SERVICES), 405)


def test_unknown_paths_and_formats_are_404_in_open311_shape(anon, db):
    for path in (f"{BASE}/services.xml", f"{BASE}/requests.xml", f"{BASE}/nothing.json"):
        assert_open311_error(anon.get(path), 404)


def test_the_rest_of_the_api_keeps_its_own_error_shape(anon, db):
    body = anon.get("/api/v1/no-such-thing/").json()
    assert set(body) == {"code", "detail"}


def test_reads_and_posts_are_throttled_with_retry_after(anon, world, key, campaigns, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "open311_read": "2/min",
            "open311_write": "1/min",
        },
    }
    for _ in range(2):
        assert anon.get(SERVICES).status_code == 200
    response = anon.get(SERVICES)
    assert_open311_error(response, 429)
    assert int(response["Retry-After"]) > 0
    data = {"api_key": key.key, "service_code": "law", "address_string": "昌国街道"}
    assert post(anon, data).status_code == 201
    response = post(anon, data)
    assert_open311_error(response, 429)
    assert "Retry-After" in response
    assert ServiceRequest.objects.count() == 1


def test_server_errors_under_open311_are_shaped_too(rf):
    from django.http import JsonResponse

    from services.open311.middleware import Open311ErrorMiddleware

    def boom(request):
        return JsonResponse(
            {"code": "server_error", "detail": "服务器内部错误，请稍后再试。"}, status=500
        )

    response = Open311ErrorMiddleware(boom)(rf.get(f"{BASE}/requests.json"))
    assert json.loads(response.content) == [
        {"code": 500, "description": "服务器内部错误，请稍后再试。"}
    ]
    untouched = Open311ErrorMiddleware(boom)(rf.get("/api/v1/requests/"))
    assert json.loads(untouched.content)["code"] == "server_error"


# ---------------------------------------------------------------- API keys


def test_only_a_hash_of_the_key_is_stored(world, key):
    row = StationApiKey.objects.get(pk=key.row.pk)
    prefix, _, secret = key.key.partition(".")
    assert row.prefix == prefix and len(secret) >= 40
    assert row.secret_hash == hashlib.sha256(key.key.encode()).hexdigest()
    stored = json.dumps(
        list(StationApiKey.objects.values()), default=str, ensure_ascii=False
    ) + json.dumps(list(Event.objects.values("payload")), ensure_ascii=False)
    assert secret not in stored
    event = Event.objects.get(verb="api_key_issued")
    assert event.actor == world.sam
    assert event.content_type == ContentType.objects.get_for_model(StationApiKey)


def test_a_key_can_only_be_issued_by_active_staff(world):
    from accounts.errors import InvalidInput

    with pytest.raises(InvalidInput):
        api_key_issue(station=world.station, name="x", created_by=world.mary)
    with pytest.raises(InvalidInput):
        api_key_issue(station=world.station, name="  ", created_by=world.sam)


def test_the_command_prints_a_new_key_once(world, capsys):
    from django.core.management import call_command

    superuser = MemberFactory().user
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    call_command("create_open311_key", str(world.station.pk), "--name", "热线", "--by", "sam")
    out = capsys.readouterr().out.strip().splitlines()
    row = StationApiKey.objects.get()
    assert row.created_by == world.sam and row.name == "热线" and row.station == world.station
    assert out[-1].startswith(row.prefix + ".")
    assert row.secret_hash == hashlib.sha256(out[-1].encode()).hexdigest()
    # Without --by the first active superuser issues it.
    call_command("create_open311_key", str(world.station.pk), "--name", "二号")
    assert StationApiKey.objects.get(name="二号").created_by == superuser


@pytest.mark.parametrize(
    "args",
    [["999999", "--name", "x", "--by", "sam"], ["{station}", "--name", "x", "--by", "mary"]],
)
def test_the_command_refuses_bad_input(world, args):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("create_open311_key", *[a.format(station=world.station.pk) for a in args])
    assert not StationApiKey.objects.exists()


def test_the_admin_shows_a_new_key_once_and_revokes(client, world):
    admin_user = world.sam
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    response = client.post(
        "/admin/stations/stationapikey/add/", {"station": world.station.pk, "name": "热线对接"}
    )
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    row = StationApiKey.objects.get()
    match = re.search(rf'value="({re.escape(row.prefix)}\.[^"]+)"', response.content.decode())
    assert match and row.secret_hash == hashlib.sha256(match.group(1).encode()).hexdigest()
    assert row.created_by == admin_user
    # The change page never shows it again.
    page = client.get(f"/admin/stations/stationapikey/{row.pk}/change/").content.decode()
    assert match.group(1) not in page and row.prefix in page
    client.post(
        "/admin/stations/stationapikey/",
        {"action": "revoke_keys", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert row.active is False
