"""The resident's ticket: the steps with dates, nothing about members; subscribe messages to
mini-program residents at each step (docs/intake.md#进度回执--the-ticket)."""

from __future__ import annotations

import pytest

from accounts.models import Notification, User
from services.intake import writes
from services.models import Intake
from tests import intake_fixtures, records_fixtures, services_fixtures
from tests.fake_wechat import ok
from tests.intake_fixtures import INTAKE_URL, api_body, form_client
from tests.intake_loop import accept, check_in, claim, record, verify

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign
village_code = intake_fixtures.village_code
rules = records_fixtures.rules

STEPS = ["已提交", "已受理", "已派单", "已有委员认领", "服务中", "已完成"]


def ticket_api(anon, intake):
    response = anon.get(f"{INTAKE_URL}tickets/{intake.ticket}/")
    assert response.status_code == 200
    return response.json()


def reached(body) -> list[str]:
    return [step["name"] for step in body["steps"] if step["at"]]


def test_ticket_follows_every_step(world, village_code, anon, campaign, rules):
    intake = writes.submit_intake(
        code=village_code, description="村口路灯坏了", phone="13900001111"
    )
    body = ticket_api(anon, intake)
    assert [s["name"] for s in body["steps"]] == STEPS
    assert reached(body) == ["已提交"] and body["status"] == "new" and not body["can_rate"]

    request_id = accept(world, intake, campaign)
    assert reached(ticket_api(anon, intake)) == STEPS[:3]
    claim_id = claim(world, request_id)
    assert reached(ticket_api(anon, intake)) == STEPS[:4]
    check_in(world, claim_id)
    assert reached(ticket_api(anon, intake)) == STEPS[:5]
    record_id = record(world, request_id, claim_id)
    assert reached(ticket_api(anon, intake)) == STEPS[:5]
    verify(world, record_id)
    body = ticket_api(anon, intake)
    assert reached(body) == STEPS and body["can_rate"] and body["status_label"] == "已完成"

    page = form_client().get(f"/q/t/{intake.ticket}/").content.decode()
    for step in STEPS:
        assert step in page
    # Nothing personal about the members who served, nor the resident's own text.
    for private in (world.alice.user.name, world.alice.user.phone, world.team.name, "村口路灯坏了"):
        assert private not in page
        assert private not in str(body)
    assert 'id="rate-form"' in page


def test_declined_ticket_shows_the_reason(world, village_code, anon):
    intake = writes.submit_intake(code=village_code, description="想办低保")
    writes.decline_intake(actor=world.mary, intake_id=intake.pk, reason="请到镇民政办办理")
    body = ticket_api(anon, intake)
    assert body["closed"] and body["reason"] == "请到镇民政办办理"
    page = form_client().get(f"/q/t/{intake.ticket}/").content.decode()
    assert "请到镇民政办办理" in page and "不予受理" in page


def test_referral_to_another_station_keeps_the_reason_private(world, village_code, anon):
    intake = writes.submit_intake(code=village_code, description="岛上的事")
    writes.refer_intake(
        actor=world.mary, intake_id=intake.pk, reason="内部：转金塘", station=world.other_station
    )
    body = ticket_api(anon, intake)
    assert body["status"] == "new" and body["reason"] == "" and not body["closed"]


@pytest.mark.parametrize("ticket", ["nope", "x" * 33, "%00", "a" * 22])
def test_unknown_ticket(world, anon, ticket):
    response = anon.get(f"{INTAKE_URL}tickets/{ticket}/")
    assert response.status_code == 404
    page = form_client().get(f"/q/t/{ticket}/")
    assert page.status_code == 404 and "没有找到该回执" in page.content.decode()


def test_mini_program_resident_gets_a_message_at_each_step(
    world, village_code, anon, campaign, rules, wechat
):
    response = anon.post(INTAKE_URL, api_body(village_code, wechat_code=ok("o-res")), format="json")
    assert response.status_code == 201
    resident = User.objects.get(wechat_openid="o-res")
    intake = Intake.objects.get()
    request_id = accept(world, intake, campaign)
    claim_id = claim(world, request_id)
    check_in(world, claim_id)
    verify(world, record(world, request_id, claim_id))
    steps = list(
        Notification.objects.filter(user=resident, kind="intake_step")
        .order_by("id")
        .values_list("payload__step", flat=True)
    )
    assert steps == ["已受理", "已有委员认领", "服务中", "已完成"]
    # A web resident (no openid) gets none, and nobody else gets the resident's notices.
    assert Notification.objects.filter(kind="intake_step").exclude(user=resident).count() == 0


def test_decline_message_to_a_mini_program_resident(world, village_code, anon, wechat):
    anon.post(INTAKE_URL, api_body(village_code, wechat_code=ok("o-res-2")), format="json")
    intake = Intake.objects.get()
    writes.decline_intake(actor=world.mary, intake_id=intake.pk, reason="不属于服务范围")
    notice = Notification.objects.get(kind="intake_step", user__wechat_openid="o-res-2")
    assert notice.payload["step"] == "未受理" and "不属于服务范围" in notice.body
