"""Every admin write leaves an Event: who, when, each changed field before and after (personal
data named, not copied)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from accounts.audit import notify
from accounts.models import Event, Notification, User
from services.models import Campaign, PointRule
from tests.factories import CampaignFactory, UserFactory
from tests.records_fixtures import ensure_rules


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", name="管理员", is_staff=True, is_superuser=True)


@pytest.fixture
def browser(client, admin_user):
    client.force_login(admin_user)
    return client


def events_of(obj, verb):
    return list(
        Event.objects.filter(
            content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk), verb=verb
        )
    )


def test_points_edited_in_the_rule_list_leave_before_and_after(browser, admin_user):
    rules = ensure_rules()
    ordered = list(PointRule.objects.order_by("-id"))  # the changelist's default order
    form = {"form-TOTAL_FORMS": len(ordered), "form-INITIAL_FORMS": len(ordered), "_save": "保存"}
    for i, rule in enumerate(ordered):
        form[f"form-{i}-id"] = rule.pk
        form[f"form-{i}-points"] = 7 if rule.kind == "participation" else rule.points
        form[f"form-{i}-active"] = "on"
    response = browser.post("/admin/services/pointrule/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = rules["participation"]
    rule.refresh_from_db()
    assert rule.points == 7
    (event,) = events_of(rule, "pointrule.updated")
    assert event.actor == admin_user
    assert event.payload["changes"] == {"points": [5, 7]}
    assert event.payload["source"] == "admin"
    # Rules left as they were leave nothing.
    assert not events_of(rules["team_leader"], "pointrule.updated")


def test_a_campaign_edit_and_creation_are_recorded(browser):
    campaign = CampaignFactory(name="暖心月", target_served=100)
    data = {
        "name": "暖心服务月",
        "kind": campaign.kind,
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat(),
        "target_served": 150,
    }
    response = browser.post(f"/admin/services/campaign/{campaign.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    (event,) = events_of(campaign, "campaign.updated")
    assert event.payload["changes"] == {
        "name": ["暖心月", "暖心服务月"],
        "target_served": [100, 150],
    }
    created = browser.post("/admin/services/campaign/add/", {**data, "name": "新活动"})
    assert created.status_code == 302
    new = Campaign.objects.get(name="新活动")
    (event,) = events_of(new, "campaign.created")
    assert event.payload["changes"]["name"] == [None, "新活动"]


def test_roles_are_kept_before_and_after_and_personal_data_only_named(browser, admin_user):
    user = UserFactory(username="wang", name="王丽", phone="13800001111", is_member=True)
    data = {
        "username": "wang",
        "name": "王小丽",
        "phone": "13800001111",
        "email": "",
        "is_member": "on",
        "is_station_manager": "on",
        "is_staff": "on",
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "08:00:00",
    }
    response = browser.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events_of(user, "user.updated")
    changes = event.payload["changes"]
    assert changes["is_staff"] == [False, True]
    assert changes["is_station_manager"] == [False, True]
    assert changes["name"] == "（不记录内容）"
    assert "王" not in str(event.payload)
    assert event.actor == admin_user


def test_a_password_set_in_the_admin_is_recorded_without_it(browser, admin_user):
    user = UserFactory(username="li")
    response = browser.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "a-new-Passw0rd!", "password2": "a-new-Passw0rd!"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    (event,) = events_of(user, "user.password_changed")
    assert event.actor == admin_user
    assert "Passw0rd" not in str(event.payload)
    assert User.objects.get(pk=user.pk).check_password("a-new-Passw0rd!")


def test_an_outbox_requeue_leaves_one_event_per_row(browser, admin_user):
    user = UserFactory(wechat_openid="openid-y")
    failed = notify(user=user, kind="reminder", title="提醒")
    sent = notify(user=user, kind="reminder", title="已发")
    Notification.objects.filter(pk=failed.pk).update(status="failed", attempts=3)
    Notification.objects.filter(pk=sent.pk).update(status="sent")
    response = browser.post(
        "/admin/accounts/notification/",
        {"action": "requeue", "_selected_action": [failed.pk, sent.pk]},
    )
    assert response.status_code == 302
    (event,) = events_of(failed, "notification.requeued")
    assert (event.from_status, event.to_status, event.actor) == ("failed", "pending", admin_user)
    assert not events_of(sent, "notification.requeued")
