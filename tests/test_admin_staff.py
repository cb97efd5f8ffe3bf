"""The admin as staff live in it: staff-facing sections in Chinese, 查看站点 to the dashboard,
lists that read well (newest needs first, town and 三暖 columns, search by place), claims in
words, and records verified through the API's own write (records.writes.verify_record)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Event
from services import errors
from services.models import Claim, ServiceRecord, ServiceRequest
from tests import records_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory, UserFactory
from tests.records_fixtures import submit_url

MACHINERY = [
    "/admin/token_blacklist/outstandingtoken/",
    "/admin/token_blacklist/blacklistedtoken/",
    "/admin/services/idempotencykey/",
]
# The records tests' fixtures (pytest finds fixtures among module attributes).
rules = records_fixtures.rules
service = records_fixtures.service
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def root(db):
    return UserFactory(username="root", name="管理员", is_staff=True, is_superuser=True)


@pytest.fixture
def clerk(db):
    """Staff with every model permission who is not a superuser."""
    user = UserFactory(username="clerk", name="机关职员", is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    return user


def as_user(client, user):
    client.force_login(user)
    return client


def test_staff_see_staff_sections_only(client, clerk):
    html = as_user(client, clerk).get("/admin/").content.decode()
    assert "服务需求" in html and "服务记录" in html
    for hidden in ("令牌", "Token", "TOKEN", "幂等键"):
        assert hidden not in html, hidden
    for url in MACHINERY:
        assert client.get(url).status_code == 403, url


def test_superusers_see_the_machinery_in_chinese(client, root):
    RefreshToken.for_user(root)  # one outstanding token to list
    html = as_user(client, root).get("/admin/").content.decode()
    assert "登录令牌（超级管理员）" in html and "已签发令牌" in html and "幂等键" in html
    assert "Token Blacklist" not in html and "Outstanding" not in html
    for url in MACHINERY:
        assert client.get(url).status_code == 200, url
    tokens = client.get(MACHINERY[0]).content.decode()
    assert "令牌编号" in tokens and "签发时间" in tokens
    # Still read-only.
    assert client.get("/admin/services/idempotencykey/add/").status_code == 403


def test_view_site_opens_the_dashboard(client, clerk):
    html = as_user(client, clerk).get("/admin/").content.decode()
    assert re.search(r'<a href="/dashboard/">查看站点</a>', html)


def test_every_list_is_labelled_in_chinese(client, root):
    """Each registered list's column headers and the index's section and model names."""
    as_user(client, root)
    index = client.get("/admin/").content.decode()
    captions = re.findall(r"<caption>\s*<a [^>]*>([^<]+)</a>", index)
    assert captions and all(CJK.search(c) for c in captions), captions
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        heads = re.findall(
            r'<th scope="col"[^>]*>.*?<div class="text">(?:<a [^>]*>|<span>)([^<]*)<', html, re.S
        )
        heads = [h.strip() for h in heads if h.strip() and h.strip() != "ID"]
        assert all(CJK.search(h) for h in heads), (url, heads)


def test_requests_list_newest_first_with_town_and_kind(client, clerk, world):
    old = ServiceRequestFactory(station=world.station, title="较早的需求")
    new = ServiceRequestFactory(station=world.other_station, title="最新的需求")
    ServiceRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    html = as_user(client, clerk).get("/admin/services/servicerequest/").content.decode()
    assert html.index("最新的需求") < html.index("较早的需求")
    for column in ("镇/街道", "三暖", "已认领/名额"):
        assert column in html, column
    row = html[html.index("最新的需求") :]
    row = row[: row.index("</tr>")]
    assert "金塘镇" in row and new.campaign.get_kind_display() in row and "0/5" in row
    # Titles get room (the lists' stylesheet), not five lines of two characters.
    assert "admin/services/lists.css" in html


@pytest.mark.parametrize(
    ("url", "term"),
    [
        ("/admin/services/servicerequest/", "金塘委员工作室"),
        ("/admin/services/servicerequest/", "大鹏岛村"),
        ("/admin/services/claim/", "金塘委员工作室"),
        ("/admin/services/claim/", "大鹏岛村"),
    ],
)
def test_search_finds_station_and_village_names(client, clerk, world, url, term):
    there = ServiceRequestFactory(
        station=world.other_station, village=world.other_village, title="金塘的需求"
    )
    ServiceRequestFactory(station=world.station, village=world.village, title="昌国的需求")
    ClaimFactory(request=there, member=world.charlie)
    html = as_user(client, clerk).get(url, {"q": term}).content.decode()
    assert "金塘的需求" in html and "昌国的需求" not in html


def test_claims_read_in_chinese(client, clerk, world):
    claim = ClaimFactory(
        request=ServiceRequestFactory(station=world.station, title="新螺头村法律咨询"),
        member=world.alice,
    )
    assert str(claim) == "王丽 认领「新螺头村法律咨询」（已认领）"
    page = as_user(client, clerk).get(f"/admin/services/claim/{claim.pk}/change/")
    html = page.content.decode()
    assert "王丽 认领「新螺头村法律咨询」（已认领）" in html and "→" not in html


# ---------------------------------------------------------------- verifying in the admin


def submitted(service, client_for, world) -> ServiceRecord:
    response = client_for(world.alice.user).post(
        submit_url(service.request), service.payload(), format="json"
    )
    assert response.status_code == 201, response.content
    return ServiceRecord.objects.get(pk=response.json()["id"])


def act(client, record, **form):
    return client.post(
        "/admin/services/servicerecord/",
        {"action": "verify", "_selected_action": [record.pk], **form},
        follow=True,
    )


def test_a_record_is_verified_in_the_admin_through_the_apis_write(
    client, clerk, world, service, client_for
):
    record = submitted(service, client_for, world)
    as_user(client, clerk)
    # First the confirmation page, listing the record, with the decision and the note.
    page = act(client, record).content.decode()
    assert "核实服务记录" in page and service.request.title in page and 'name="note"' in page
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED

    response = act(client, record, apply="1", decision="approve", note="情况属实。")
    assert "已核实通过 1 条服务记录" in response.content.decode()
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.VERIFIED
    assert record.verified_by == clerk and record.note == "情况属实。"
    # What verify_record does: the request verified, the claims done, hours and points written,
    # the audit event left with the verifier as its actor.
    service.request.refresh_from_db()
    assert service.request.status == ServiceRequest.Status.VERIFIED
    assert set(record.participants.values_list("status", flat=True)) == {Claim.Status.DONE}
    assert record.hours.filter(counted=True).count() == 2
    assert record.point_entries.count() >= 2
    assert Event.objects.filter(verb="record_verified", actor=clerk).exists()


def test_the_writes_refusals_are_shown_as_messages(client, clerk, world, service, client_for):
    record = submitted(service, client_for, world)
    as_user(client, clerk)
    # Returned without a note: verify_record's own error text, nothing written.
    response = act(client, record, apply="1", decision="reject", note="")
    html = response.content.decode()
    assert "未能核实：退回服务记录时必须填写核实意见。" in html
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED
    assert not Event.objects.filter(verb__startswith="record_", actor=clerk).exists()
    # Approved once; a second review is refused by the same write.
    act(client, record, apply="1", decision="approve")
    again = act(client, record, apply="1", decision="approve").content.decode()
    assert (
        f"「{service.request.title}」未能核实：" in again
        and str(errors.AlreadyVerified.default_detail) in again
    )
    assert "已核实通过" not in again


def test_the_submitter_cannot_verify_their_own_record_in_the_admin(
    client, world, service, client_for
):
    record = submitted(service, client_for, world)
    alice = world.alice.user
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    alice.user_permissions.set(Permission.objects.all())
    response = act(as_user(client, alice), record, apply="1", decision="approve")
    assert errors.CannotVerifyOwnRecord.default_detail in response.content.decode()
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.SUBMITTED
