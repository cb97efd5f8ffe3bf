"""派单: the managers' queue and the four triage moves, per persona; the follow-up list, the
sweep and the figures (docs/intake.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Event, Notification
from services.intake import sweep, writes
from services.models import Intake, ServiceRequest
from tests import intake_fixtures, services_fixtures
from tests.factories import ServiceRequestFactory
from tests.intake_fixtures import INTAKE_URL, code_of
from tests.services_fixtures import soon

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign
village_code = intake_fixtures.village_code


def submit(code, *, description="村口路灯坏了，晚上出行不便", phone="13900001111", **kw) -> Intake:
    return writes.submit_intake(code=code, description=description, phone=phone, **kw)


def url(intake, suffix="") -> str:
    return f"{INTAKE_URL}{intake.pk}/{suffix}"


def plan(the_campaign, **overrides) -> dict:
    body = {
        "campaign": the_campaign.pk,
        "starts_at": soon(days=2),
        "ends_at": soon(days=2, hours=3),
        "slots": 2,
    }
    body.update(overrides)
    return body


@pytest.fixture
def intake(world, village_code) -> Intake:
    return submit(village_code, specialty=world.law)


# ---------------------------------------------------------------- the queue


def test_queue_oldest_first_with_age_and_full_phone(world, village_code, client_for):
    first = submit(village_code, description="第一件：修路")
    second = submit(village_code, description="第二件：法律咨询", phone="13900002222")
    Intake.objects.filter(pk=first.pk).update(queued_at=timezone.now() - timedelta(hours=5))
    response = client_for(world.mary).get(INTAKE_URL + "?status=new")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [first.pk, second.pk]
    assert rows[0]["age_seconds"] >= 5 * 3600
    assert rows[1]["phone"] == "13900002222"
    assert "ticket" not in rows[0]


def test_staff_see_every_station_and_reads_are_audited(world, village_code, client_for):
    submit(village_code)
    submit(code_of(world_other := world, village=world.other_village), description="岛上缺医生")
    assert world_other is world
    response = client_for(world.sam).get(INTAKE_URL)
    assert response.json()["count"] == 2
    assert Event.objects.filter(verb="pii_viewed").count() == 2


def test_queue_of_another_station_is_empty_and_objects_404(world, intake, client_for):
    oscar = client_for(world.oscar)
    assert oscar.get(INTAKE_URL).json()["count"] == 0
    assert oscar.get(url(intake)).status_code == 404
    for action, body in [
        (
            "accept/",
            {"campaign": 1, "starts_at": soon(days=1), "ends_at": soon(days=2), "slots": 1},
        ),
        ("merge/", {"request": 1}),
        ("refer/", {"office": True, "reason": "x"}),
        ("decline/", {"reason": "x"}),
    ]:
        assert oscar.post(url(intake, action), body, format="json").status_code == 404
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW


@pytest.mark.parametrize("who", ["alice", "lily", "anon"])
def test_queue_refused_to_non_managers(world, intake, client_for, anon, who):
    client = (
        anon
        if who == "anon"
        else client_for(getattr(getattr(world, who), "user", getattr(world, who)))
    )
    response = client.get(INTAKE_URL)
    assert response.status_code in (401, 403)
    assert client.post(url(intake, "decline/"), {"reason": "x"}, format="json").status_code in (
        401,
        403,
    )


def test_queue_bad_query(world, client_for):
    mary = client_for(world.mary)
    assert mary.get(INTAKE_URL + "?status=lost").status_code == 400
    assert mary.get(INTAKE_URL + "?station=abc").status_code == 400
    assert mary.get(f"{INTAKE_URL}{2**64}/").status_code == 404


# ---------------------------------------------------------------- accept


def test_accept_creates_a_prefilled_linked_request(world, intake, client_for, campaign):
    response = client_for(world.mary).post(url(intake, "accept/"), plan(campaign), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "accepted" and body["triaged_by"] == world.mary.pk
    service_request = ServiceRequest.objects.get(pk=body["request"])
    assert service_request.description == intake.description
    assert service_request.title == intake.description[:30]
    assert service_request.village_id == world.village.pk
    assert list(service_request.specialties.all()) == [world.law]
    assert service_request.created_by_id == world.mary.pk
    assert service_request.contact_phone == ""  # not shared unless the manager says so
    event = Event.objects.get(verb="intake_accepted")
    assert event.from_status == "new" and event.to_status == "accepted"
    created = Event.objects.get(verb="request_created")
    assert created.payload["source"] == {"intake": intake.pk}


def test_accept_may_share_the_phone_and_set_the_title(world, intake, client_for, campaign):
    body = plan(campaign, share_phone=True, title="新螺头村路灯维修", specialties=[])
    response = client_for(world.mary).post(url(intake, "accept/"), body, format="json")
    service_request = ServiceRequest.objects.get(pk=response.json()["request"])
    assert service_request.contact_phone == "13900001111"
    assert service_request.title == "新螺头村路灯维修"
    assert service_request.specialties.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slots": 0}, "slots"),
        ({"starts_at": soon(days=-1)}, "starts_at"),
        ({"campaign": 999999}, "campaign"),
        ({"campaign": "1"}, "campaign"),
        ({"title": "标" * 101}, "title"),
        ({"status": "open"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_accept_bad_inputs_write_nothing(world, intake, client_for, campaign, change, field):
    response = client_for(world.mary).post(
        url(intake, "accept/"), plan(campaign, **change), format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json().get("fields", {}), response.json()
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW and not ServiceRequest.objects.exists()


def test_accept_missing_fields(world, intake, client_for):
    response = client_for(world.mary).post(url(intake, "accept/"), {}, format="json")
    assert response.status_code == 400
    assert {"campaign", "starts_at", "ends_at", "slots"} <= set(response.json()["fields"])


def test_triage_twice_is_409(world, intake, client_for, campaign):
    mary = client_for(world.mary)
    assert (
        mary.post(url(intake, "decline/"), {"reason": "不属于服务范围"}, format="json").status_code
        == 200
    )
    again = mary.post(url(intake, "accept/"), plan(campaign), format="json")
    assert again.status_code == 409 and again.json()["code"] == "intake_not_new"
    assert not ServiceRequest.objects.exists()


# ---------------------------------------------------------------- merge, refer, decline


def test_merge_into_an_open_request_of_the_station(world, intake, client_for, campaign):
    target = ServiceRequestFactory(station=world.station, village=world.village, campaign=campaign)
    response = client_for(world.mary).post(
        url(intake, "merge/"), {"request": target.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "merged" and response.json()["request"] == target.pk


def test_merge_refuses_other_stations_and_closed_requests(world, intake, client_for, campaign):
    elsewhere = ServiceRequestFactory(station=world.other_station, campaign=campaign)
    cancelled = ServiceRequestFactory(
        station=world.station, campaign=campaign, status=ServiceRequest.Status.CANCELLED
    )
    mary = client_for(world.mary)
    for target in (elsewhere, cancelled):
        response = mary.post(url(intake, "merge/"), {"request": target.pk}, format="json")
        assert response.status_code == 400 and response.json()["code"] == "merge_target_invalid"
    assert mary.post(url(intake, "merge/"), {"request": 999999}, format="json").status_code == 400
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW


def test_refer_to_another_station_joins_its_queue(world, intake, client_for):
    response = client_for(world.mary).post(
        url(intake, "refer/"),
        {"station": world.other_station.pk, "reason": "属金塘镇辖区"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["station"] == world.other_station.pk
    # It left mary's queue.
    assert client_for(world.mary).get(url(intake)).status_code == 404
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW and intake.station_id == world.other_station.pk
    assert intake.referred_from_id == world.station.pk and intake.village_id is None
    queue = client_for(world.oscar).get(INTAKE_URL + "?status=new").json()
    assert [row["id"] for row in queue["results"]] == [intake.pk]
    assert Notification.objects.filter(kind="intake_received", user=world.oscar).exists()


def test_refer_to_the_office(world, intake, client_for):
    response = client_for(world.mary).post(
        url(intake, "refer/"),
        {"office": True, "reason": "涉及政策建议，作为社情民意报送"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "referred"
    assert response.json()["reason"] == "涉及政策建议，作为社情民意报送"


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "x"},
        {"office": True, "station": "other", "reason": "x"},
        {"office": False, "reason": "x"},
    ],
)
def test_refer_needs_one_target(world, intake, client_for, body):
    if body.get("station") == "other":
        body = {**body, "station": world.other_station.pk}
    response = client_for(world.mary).post(url(intake, "refer/"), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "referral_invalid"


def test_refer_to_own_station_refused(world, intake, client_for):
    body = {"station": world.station.pk, "reason": "x"}
    response = client_for(world.mary).post(url(intake, "refer/"), body, format="json")
    assert response.status_code == 400


def test_decline_needs_a_reason(world, intake, client_for):
    mary = client_for(world.mary)
    for body in ({}, {"reason": ""}, {"reason": "\u200b"}, {"reason": "长" * 201}, {"reason": 3}):
        assert mary.post(url(intake, "decline/"), body, format="json").status_code == 400
    response = mary.post(
        url(intake, "decline/"), {"reason": "属物业管理范围，请联系物业"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "declined"


# ---------------------------------------------------------------- follow-up, sweep, figures


def test_untriaged_list_and_sweep_notify_once(world, village_code, client_for):
    old = submit(village_code, description="很久以前的诉求")
    submit(village_code, description="刚提交的诉求", phone="13900009999")
    Intake.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(hours=30))
    listing = client_for(world.mary).get("/api/v1/stats/untriaged/")
    assert [row["id"] for row in listing.json()["results"]] == [old.pk]
    assert client_for(world.mary).get("/api/v1/stats/untriaged/?hours=0").status_code == 400
    assert client_for(world.oscar).get("/api/v1/stats/untriaged/").json()["count"] == 0
    assert sweep.notify_untriaged() == 1
    assert sweep.notify_untriaged() == 0
    call_command("notify_untriaged_intakes")
    assert Notification.objects.filter(kind="intake_overdue", user=world.mary).count() == 1


def test_triage_figures(world, village_code, client_for, campaign):
    first = submit(village_code, description="一：修路")
    second = submit(village_code, description="二：法律", phone="13900002222")
    submit(village_code, description="三：医疗", phone="13900003333")
    Intake.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=4))
    Intake.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(hours=2))
    writes.decline_intake(actor=world.mary, intake_id=first.pk, reason="不属于服务范围")
    writes.refer_intake(actor=world.mary, intake_id=second.pk, reason="报送", office=True)
    figures = client_for(world.mary).get("/api/v1/stats/intake/").json()
    assert figures["intakes"] == 3 and figures["triaged"] == 2
    assert figures["by_status"]["new"] == 1 and figures["by_status"]["declined"] == 1
    assert figures["triage_hours_median"] == pytest.approx(3.0, abs=0.1)
    assert client_for(world.oscar).get("/api/v1/stats/intake/").json()["intakes"] == 0
    assert client_for(world.alice.user).get("/api/v1/stats/intake/").status_code == 403
