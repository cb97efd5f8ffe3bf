"""Notices when a task changes (time, place, slots, cancelled: from → to) and the member's own
claim confirmation — in the in-app list and as subscribe messages through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import outbox
from accounts.models import Notification, User
from services.models import Claim
from services.notifications import span
from tests import fake_wechat, services_fixtures
from tests.factories import ClaimFactory, MemberFactory, UserFactory
from tests.services_fixtures import request_url

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


def subscribed(member) -> None:
    User.objects.filter(pk=member.user_id).update(wechat_openid=f"openid-{member.user_id}")


def patch(client, service_request, data):
    return client.patch(request_url(service_request), data, format="json")


def sent_to(wx, member) -> list[dict]:
    return [s["body"] for s in wx.delivered() if s["body"]["touser"] == f"openid-{member.user_id}"]


def test_moving_a_claimed_requests_point_by_1_km_tells_its_claimant_and_waitlist(
    world, client_for, open_request, wx
):
    holder = ClaimFactory(request=open_request, member=world.alice)
    waiting = ClaimFactory(request=open_request, member=world.bob, status=Claim.Status.WAITLISTED)
    subscribed(world.alice)
    subscribed(world.bob)
    before = (open_request.lat, open_request.lng)
    moved_lat = open_request.lat + 0.009  # about 1.0 km north
    response = patch(client_for(world.mary), open_request, {"lat": moved_lat, "lng": before[1]})
    assert response.status_code == 200, response.content

    notice = Notification.objects.get(user=world.alice.user, kind="request_changed")
    assert notice.title == "需求有变更：新螺头村法律咨询"
    was, now = f"{before[0]:.5f},{before[1]:.5f}", f"{moved_lat:.5f},{before[1]:.5f}"
    assert notice.body == (
        "您认领的需求“新螺头村法律咨询”有变更。"
        f"位置：{was} → {now}（移动约 1.0 公里）。"
        "如新安排不便，请及时取消认领。"
    )
    assert notice.payload["claim"] == holder.pk
    assert notice.payload["changes"] == {
        "point": {
            "from": f"{before[0]:.5f},{before[1]:.5f}",
            "to": f"{moved_lat:.5f},{before[1]:.5f}（移动约 1.0 公里）",
        }
    }
    waitlisted = Notification.objects.get(user=world.bob.user, kind="request_changed")
    assert waitlisted.payload["claim"] == waiting.pk
    assert waitlisted.body.startswith("您候补的需求“新螺头村法律咨询”有变更。位置：")
    assert not Notification.objects.filter(user=world.charlie.user).exists()

    report = outbox.drain()
    assert report["sent"] == 2
    [message] = sent_to(wx, world.alice)
    start = timezone.localtime(open_request.starts_at)
    assert message["data"] == {
        "thing1": {"value": "新螺头村法律咨询"},
        "thing2": {"value": "位置有变更"},
        "time3": {"value": f"{start:%Y年%m月%d日 %H:%M}"},
    }
    assert message["page"] == f"pages/notifications/index?id={notice.pk}"


def test_a_new_time_and_place_are_told_from_and_to_and_the_place_is_kept_longer(
    world, client_for, open_request, wx
):
    claim = ClaimFactory(request=open_request, member=world.alice)
    old_span = span(open_request.starts_at, open_request.ends_at)
    start = (timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0)
    data = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "address": "新螺头村党群服务中心",
        "slots": 4,
    }
    assert patch(client_for(world.mary), open_request, data).status_code == 200
    notice = Notification.objects.get(user=world.alice.user, kind="request_changed")
    assert notice.body == (
        "您认领的需求“新螺头村法律咨询”有变更。"
        f"时间：{old_span} → {span(start, start + timedelta(hours=2))}；"
        "地点：定海区测试路 2 号 → 新螺头村党群服务中心；名额：3 → 4。"
        "如新安排不便，请及时取消认领。"
    )
    assert notice.payload["summary"] == "时间、地点、名额有变更"
    claim.refresh_from_db()
    assert claim.check_in_by == start  # the grace counts from the new start
    task = client_for(world.alice.user).get("/api/v1/me/tasks/").json()["results"][0]
    keep = start + timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    assert task["check_in_window"]["keep_until"] == timezone.localtime(keep).isoformat()


def test_edits_that_change_no_time_place_or_slots_tell_nobody(world, client_for, open_request):
    ClaimFactory(request=open_request, member=world.alice)
    client = client_for(world.mary)
    same = {"address": open_request.address, "slots": open_request.slots}
    assert patch(client, open_request, same).status_code == 200
    assert patch(client, open_request, {"description": "请带好身份证"}).status_code == 200
    assert not Notification.objects.filter(kind="request_changed").exists()


def test_people_who_left_are_not_told(world, client_for, open_request):
    ClaimFactory(
        request=open_request,
        member=world.alice,
        status=Claim.Status.CANCELLED,
        cancelled_at=timezone.now(),
    )
    assert patch(client_for(world.mary), open_request, {"slots": 5}).status_code == 200
    assert not Notification.objects.filter(kind="request_changed").exists()


def test_a_cancelled_request_is_told_to_its_claimants_in_app_and_by_message(
    world, client_for, open_request, wx
):
    ClaimFactory(request=open_request, member=world.alice)
    subscribed(world.alice)
    response = client_for(world.mary).post(
        request_url(open_request, "cancel/"), {"reason": "台风预警"}, format="json"
    )
    assert response.status_code == 200
    notice = Notification.objects.get(user=world.alice.user, kind="request_cancelled")
    assert notice.body == "需求“新螺头村法律咨询”已被取消。原因：台风预警"
    outbox.drain()
    [message] = sent_to(wx, world.alice)
    assert message["data"]["thing2"] == {"value": "台风预警"}


def test_a_member_is_sent_a_confirmation_of_their_own_claim(world, client_for, open_request, wx):
    subscribed(world.alice)
    response = client_for(world.alice.user).post(request_url(open_request, "claims/"))
    assert response.status_code == 201
    notice = Notification.objects.get(user=world.alice.user, kind="claim_confirmed")
    opens = open_request.starts_at - timedelta(minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES)
    local = timezone.localtime
    assert notice.title == "认领成功：新螺头村法律咨询"
    assert notice.body == (
        "您已认领需求“新螺头村法律咨询”。"
        f"时间：{span(open_request.starts_at, open_request.ends_at)}；地点：定海区测试路 2 号；"
        f"签到时间：{local(opens):%m月%d日 %H:%M} 至 {local(open_request.ends_at):%m月%d日 %H:%M}。"
    )
    assert notice.payload["claim"] == response.json()["id"]
    outbox.drain()
    [message] = sent_to(wx, world.alice)
    assert message["data"] == {
        "thing1": {"value": "新螺头村法律咨询"},
        "time2": {"value": f"{local(open_request.starts_at):%Y年%m月%d日 %H:%M}"},
        "thing3": {"value": "定海区测试路 2 号"},
    }
    assert client_for(world.alice.user).get("/api/v1/me/").json()["unread_notifications"] == 1


def test_joining_the_waitlist_or_a_refused_claim_confirms_nothing(world, client_for, open_request):
    for _ in range(open_request.slots):
        ClaimFactory(request=open_request, member=MemberFactory(user=UserFactory(is_member=True)))
    client = client_for(world.alice.user)
    assert client.post(request_url(open_request, "claims/")).status_code == 409
    assert client.post(request_url(open_request, "claims/?waitlist=1")).status_code == 201
    assert not Notification.objects.filter(kind="claim_confirmed", user=world.alice.user).exists()
