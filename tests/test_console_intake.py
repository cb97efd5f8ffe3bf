"""The console's intake queue (/console/intake/, docs/console.md): residents' intakes of my
stations; accept / merge / refer / decline through services/intake/writes.py, with CSRF, the
API's permissions and Chinese errors."""

from __future__ import annotations

import pytest

from accounts.models import Event
from services.intake import writes
from services.models import Intake, ServiceRequest
from tests import intake_fixtures, services_fixtures
from tests.console_fixtures import CONSOLE, desk, local, post, text
from tests.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign
village_code = intake_fixtures.village_code

QUEUE = f"{CONSOLE}intake/"


def url(intake, suffix="") -> str:
    return f"{QUEUE}{intake.pk}/{suffix}"


@pytest.fixture
def intake(world, village_code) -> Intake:
    return writes.submit_intake(
        code=village_code,
        description="村口路灯坏了一个多月，晚上老人出行不便。",
        phone="13900001111",
        specialty=world.law,
    )


def plan(the_campaign, **overrides) -> dict:
    body = {
        "campaign": str(the_campaign.pk),
        "starts_at": local(days=2),
        "ends_at": local(days=2, hours=3),
        "slots": "2",
        "title": "",
        "address": "",
    }
    body.update(overrides)
    return body


def test_the_queue_shows_my_stations_intakes_only(world, intake):
    page = desk(world.mary).get(QUEUE)
    assert [row["intake"].pk for row in page.context["rows"]] == [intake.pk]
    assert "村口路灯坏了" in text(page)
    assert desk(world.oscar).get(QUEUE).context["rows"] == []
    assert [r["intake"].pk for r in desk(world.sam).get(QUEUE).context["rows"]] == [intake.pk]


def test_the_intake_page_shows_the_full_phone_to_the_station(world, intake):
    page = desk(world.mary).get(url(intake))
    assert page.status_code == 200 and "13900001111" in text(page)
    assert desk(world.oscar).get(url(intake)).status_code == 404
    assert desk(world.alice.user).get(url(intake)).status_code == 403
    assert desk().get(url(intake)).status_code == 302


def test_staff_reading_the_phone_leaves_the_pii_event(world, intake):
    desk(world.sam).get(url(intake))
    assert Event.objects.filter(verb="pii_viewed", actor=world.sam).exists()


def test_accepting_posts_a_need_through_accept_intake(world, intake, campaign):
    client = desk(world.mary)
    response = post(client, url(intake, "accept/"), plan(campaign, share_phone="1"))
    assert response.status_code == 303
    intake.refresh_from_db()
    assert intake.status == Intake.Status.ACCEPTED
    need = ServiceRequest.objects.get()
    assert response["Location"] == f"{CONSOLE}needs/{need.pk}/"
    assert need.village == world.village and need.contact_phone == "13900001111"
    assert list(need.specialties.all()) == [world.law]
    assert "已受理，已生成需求" in text(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"campaign": ""}, "活动：该字段是必填项。"),
        ({"slots": "0"}, "名额："),
        ({"ends_at": local(days=1)}, "结束时间必须晚于开始时间。"),
    ],
)
def test_a_bad_accept_shows_the_error_and_writes_nothing(
    world, intake, campaign, overrides, message
):
    response = post(desk(world.mary), url(intake, "accept/"), plan(campaign, **overrides))
    assert response.status_code == 400
    assert message in response.context["detail"]
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW
    assert not ServiceRequest.objects.exists()


def test_merging_into_an_open_need_of_the_station(world, intake, campaign):
    need = ServiceRequestFactory(station=world.station, campaign=campaign)
    response = post(desk(world.mary), url(intake, "merge/"), {"request": str(need.pk)})
    assert response.status_code == 303
    intake.refresh_from_db()
    assert (intake.status, intake.request_id) == (Intake.Status.MERGED, need.pk)


def test_merging_into_another_stations_need_is_refused(world, intake, campaign):
    theirs = ServiceRequestFactory(station=world.other_station, campaign=campaign)
    response = post(desk(world.mary), url(intake, "merge/"), {"request": str(theirs.pk)})
    assert response.status_code == 400
    assert response.context["detail"]
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW


def test_referring_to_another_station_moves_it_to_their_queue(world, intake):
    response = post(
        desk(world.mary),
        url(intake, "refer/"),
        {"station": str(world.other_station.pk), "reason": "属金塘镇辖区"},
    )
    assert response.status_code == 303 and response["Location"] == QUEUE
    intake.refresh_from_db()
    assert intake.station == world.other_station and intake.status == Intake.Status.NEW
    assert [r["intake"].pk for r in desk(world.oscar).get(QUEUE).context["rows"]] == [intake.pk]
    assert desk(world.mary).get(QUEUE).context["rows"] == []


def test_referring_to_the_office_closes_it(world, intake):
    response = post(
        desk(world.mary), url(intake, "refer/"), {"office": "1", "reason": "涉及全区路灯规划"}
    )
    assert response.status_code == 303
    intake.refresh_from_db()
    assert intake.status == Intake.Status.REFERRED


def test_referring_to_nowhere_is_refused(world, intake):
    response = post(desk(world.mary), url(intake, "refer/"), {"reason": "转交"})
    assert response.status_code == 400
    assert response.context["detail"]
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW


def test_declining_needs_a_reason(world, intake):
    client = desk(world.mary)
    response = post(client, url(intake, "decline/"), {"reason": ""})
    assert response.status_code == 400
    assert "原因：该字段是必填项。" in response.context["detail"]
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW
    response = post(client, url(intake, "decline/"), {"reason": "不属于委员服务范围"})
    assert response.status_code == 303
    intake.refresh_from_db()
    assert (intake.status, intake.reason) == (Intake.Status.DECLINED, "不属于委员服务范围")


def test_a_triaged_intake_cannot_be_triaged_again(world, intake):
    client = desk(world.mary)
    assert post(client, url(intake, "decline/"), {"reason": "重复"}).status_code == 303
    response = post(client, url(intake, "decline/"), {"reason": "再次"})
    assert response.status_code == 409
    assert response.context["detail"]


@pytest.mark.parametrize("action", ["accept/", "merge/", "refer/", "decline/"])
def test_another_stations_manager_can_do_nothing(world, intake, campaign, action):
    body = {
        **plan(campaign),
        "request": "1",
        "station": str(world.other_station.pk),
        "reason": "x",
    }
    response = post(desk(world.oscar), url(intake, action), body)
    assert response.status_code == 404
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW and intake.station == world.station
    assert not ServiceRequest.objects.exists()


@pytest.mark.parametrize("action", ["accept/", "decline/"])
def test_triage_without_the_csrf_token_is_refused(world, intake, campaign, action):
    response = desk(world.mary).post(url(intake, action), {**plan(campaign), "reason": "x"})
    assert response.status_code == 403
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW


def test_a_member_can_triage_nothing(world, intake):
    response = desk(world.alice.user).post(url(intake, "decline/"), {"reason": "x"})
    assert response.status_code == 403
    intake.refresh_from_db()
    assert intake.status == Intake.Status.NEW
