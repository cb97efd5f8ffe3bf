"""The console's needs and teams screens (/console/, docs/console.md): who sees which needs,
posting and editing one (the duplicate warning), the ranked teams and the invite — each
action through the API's write, with CSRF, the API's permissions and Chinese errors."""

from __future__ import annotations

import pytest

from accounts.models import Event
from services.models import ServiceRequest
from tests import services_fixtures
from tests.console_fixtures import CONSOLE, desk, local, post, text
from tests.factories import PASSWORD, ServiceRequestFactory

pytestmark = pytest.mark.django_db

campaign = services_fixtures.campaign

NEW = f"{CONSOLE}needs/new/"


def need_url(need, suffix="") -> str:
    return f"{CONSOLE}needs/{need.pk}/{suffix}"


def need_form(world, the_campaign, **overrides) -> dict:
    body = {
        "station": str(world.station.pk),
        "village": str(world.village.pk),
        "campaign": str(the_campaign.pk),
        "title": "新螺头村老人法律咨询",
        "description": "赡养与土地承包问题。",
        "specialties": [str(world.law.pk)],
        "address": "新螺头村文化礼堂",
        "starts_at": local(days=3),
        "ends_at": local(days=3, hours=3),
        "slots": "3",
        "contact_name": "李莉",
        "contact_phone": "13900001234",
    }
    body.update(overrides)
    return body


@pytest.fixture
def needs(world, campaign):
    """One open need at each station."""
    mine = ServiceRequestFactory(station=world.station, campaign=campaign, title="昌国驿站需求")
    theirs = ServiceRequestFactory(
        station=world.other_station, campaign=campaign, title="金塘工作室需求"
    )
    return mine, theirs


# ---------------------------------------------------------------- who may enter


def test_anonymous_is_sent_to_the_login_page(db):
    response = desk().get(f"{CONSOLE}needs/new/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=/console/needs/new/"


def test_a_member_and_a_liaison_are_refused(world):
    for user in (world.alice.user, world.lily):
        response = desk(user).get(CONSOLE)
        assert response.status_code == 403
        assert "管理工作台仅对驿站/工作室管理员和政协机关工作人员开放" in text(response)


def test_a_manager_signs_in_on_the_login_page_and_lands_on_the_console(world):
    world.mary.set_password(PASSWORD)
    world.mary.save()
    client = desk()
    page = client.get(f"{CONSOLE}login/")
    assert "登录管理工作台" in text(page)
    token = page.context["csrf_token"]
    response = client.post(
        f"{CONSOLE}login/",
        {"username": "mary", "password": PASSWORD, "csrfmiddlewaretoken": str(token)},
    )
    assert response.status_code == 302 and response["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200


def test_a_member_cannot_sign_in_to_the_console(world):
    world.alice.user.set_password(PASSWORD)
    world.alice.user.save()
    client = desk()
    page = client.get(f"{CONSOLE}login/")
    response = client.post(
        f"{CONSOLE}login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "csrfmiddlewaretoken": str(page.context["csrf_token"]),
        },
    )
    assert response.status_code == 200
    assert "管理工作台仅对驿站/工作室管理员和政协机关工作人员开放" in text(response)


# ---------------------------------------------------------------- the list


def test_a_manager_sees_only_their_stations_needs_staff_every_one(world, needs):
    page = text(desk(world.mary).get(CONSOLE))
    assert "昌国驿站需求" in page and "金塘工作室需求" not in page
    other = text(desk(world.oscar).get(CONSOLE))
    assert "金塘工作室需求" in other and "昌国驿站需求" not in other
    staff = desk(world.sam).get(CONSOLE)
    assert "昌国驿站需求" in text(staff) and "金塘工作室需求" in text(staff)
    assert "全部驿站的需求" in text(staff)


def test_the_tabs_count_each_state(world, needs, campaign):
    ServiceRequestFactory(
        station=world.station, campaign=campaign, title="已满需求", status="full", claimed=5
    )
    response = desk(world.mary).get(CONSOLE + "?status=full")
    tabs = {value: count for value, _label, count in response.context["tabs"]}
    assert tabs["open"] == 1 and tabs["full"] == 1
    assert [row.title for row in response.context["rows"]] == ["已满需求"]


def test_a_need_of_another_station_is_404(world, needs):
    _mine, theirs = needs
    client = desk(world.mary)
    assert client.get(need_url(theirs)).status_code == 404
    assert client.get(need_url(theirs, "edit/")).status_code == 404
    assert desk(world.sam).get(need_url(theirs)).status_code == 200


# ---------------------------------------------------------------- posting


def test_a_manager_posts_a_need_through_create_request(world, campaign):
    client = desk(world.mary)
    response = post(client, NEW, need_form(world, campaign), page=NEW)
    assert response.status_code == 303
    need = ServiceRequest.objects.get()
    assert response["Location"] == need_url(need)
    assert need.station == world.station and need.village == world.village
    assert need.created_by == world.mary and need.slots == 3
    assert list(need.specialties.all()) == [world.law]
    assert Event.objects.filter(verb="request_created", object_id=need.pk).exists()
    page = client.get(response["Location"])
    assert "需求“新螺头村老人法律咨询”已发布。" in text(page)


def test_a_similar_open_need_is_warned_about_and_the_need_posted(world, campaign):
    ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        title="新螺头村老人法律咨询服务",
    )
    client = desk(world.mary)
    response = post(client, NEW, need_form(world, campaign), page=NEW)
    assert response.status_code == 303
    assert ServiceRequest.objects.count() == 2
    page = text(client.get(response["Location"]))
    assert "可能重复：需求 #" in page and "新螺头村老人法律咨询服务" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ends_at": local(days=2)}, "结束时间必须晚于开始时间。"),
        ({"title": ""}, "标题：该字段是必填项。"),
        ({"slots": "abc"}, "名额：请填写合法的整数值。"),
        ({"contact_phone": "call me"}, "联系电话只能包含数字、空格、+ 和 -（3 到 20 位）。"),
        ({"starts_at": "明天上午"}, "开始时间："),
        ({"campaign": ""}, "活动：该字段是必填项。"),
    ],
)
def test_bad_input_shows_the_apis_message_and_writes_nothing(world, campaign, overrides, message):
    response = post(desk(world.mary), NEW, need_form(world, campaign, **overrides), page=NEW)
    assert response.status_code == 400
    assert message in response.context["detail"]
    assert ServiceRequest.objects.count() == 0
    # The form keeps what was typed.
    assert "新螺头村文化礼堂" in text(response)


def test_another_stations_manager_cannot_post_for_it(world, campaign):
    form = need_form(world, campaign, village="")
    response = post(desk(world.oscar), NEW, form, page=NEW)
    assert response.status_code == 403
    assert "您只能为自己管理的驿站发布需求。" in text(response)
    assert ServiceRequest.objects.count() == 0


def test_posting_without_the_csrf_token_is_refused(world, campaign):
    response = desk(world.mary).post(NEW, need_form(world, campaign))
    assert response.status_code == 403
    assert ServiceRequest.objects.count() == 0


def test_a_member_cannot_post(world, campaign):
    client = desk(world.alice.user)
    response = client.post(NEW, need_form(world, campaign))
    assert response.status_code == 403
    assert ServiceRequest.objects.count() == 0


# ---------------------------------------------------------------- editing


def test_the_station_manager_edits_what_changed(world, needs):
    mine, _ = needs
    client = desk(world.mary)
    form = client.get(need_url(mine, "edit/")).context["values"]
    body = {**form, "slots": "8", "title": "昌国驿站需求（改）"}
    response = post(client, need_url(mine, "edit/"), body, page=need_url(mine, "edit/"))
    assert response.status_code == 303
    mine.refresh_from_db()
    assert (mine.slots, mine.title) == (8, "昌国驿站需求（改）")
    event = Event.objects.get(verb="request_updated", object_id=mine.pk)
    assert set(event.payload["changed"]) == {"slots", "title"}


def test_slots_below_claimed_is_refused_with_the_apis_text(world, needs):
    mine, _ = needs
    ServiceRequest.objects.filter(pk=mine.pk).update(claimed=3)
    client = desk(world.mary)
    form = client.get(need_url(mine, "edit/")).context["values"]
    response = post(
        client, need_url(mine, "edit/"), {**form, "slots": "2"}, page=need_url(mine, "edit/")
    )
    assert response.status_code == 409
    assert "名额不能少于已认领人数（3 人）。" in text(response)
    mine.refresh_from_db()
    assert mine.slots == 5


def test_another_stations_manager_cannot_edit(world, needs):
    mine, _ = needs
    client = desk(world.oscar)
    body = {"title": "被改了", "campaign": str(mine.campaign_id), "slots": "9"}
    response = post(client, need_url(mine, "edit/"), body)
    assert response.status_code == 404
    mine.refresh_from_db()
    assert mine.title == "昌国驿站需求" and mine.slots == 5


def test_editing_without_the_csrf_token_is_refused(world, needs):
    mine, _ = needs
    response = desk(world.mary).post(need_url(mine, "edit/"), {"title": "x"})
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.title == "昌国驿站需求"


# ---------------------------------------------------------------- ranked teams and invite


def test_the_need_page_ranks_teams_with_reasons_and_lists_claims(world, campaign):
    from tests.factories import ClaimFactory

    need = ServiceRequestFactory(
        station=world.station, village=world.village, campaign=campaign, title="法律咨询"
    )
    need.specialties.set([world.law])
    ClaimFactory(request=need, member=world.alice)
    page = desk(world.mary).get(need_url(need))
    assert page.status_code == 200
    matches = page.context["matches"]
    assert matches[0]["match"].name == "法律服务团"
    html = text(page)
    assert "专长匹配：法律" in html and "距离" in html
    assert "王丽" in html  # the claim, the name as a manager sees it


def test_inviting_a_team_calls_invite_team(world, needs):
    mine, _ = needs
    client = desk(world.mary)
    until = local(days=1)
    response = post(client, need_url(mine, "invite/"), {"team": str(world.team.pk), "until": until})
    assert response.status_code == 303
    mine.refresh_from_db()
    assert mine.invited_team == world.team
    assert Event.objects.filter(verb="request_team_invited", object_id=mine.pk).exists()
    assert "已邀请“法律服务团”" in text(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("until", "message", "status"),
    [
        (local(hours=-1), "邀请截止时间必须晚于当前时间。", 400),
        (local(days=5), "邀请截止时间必须早于需求开始时间。", 400),
        ("", "邀请截止时间：该字段是必填项。", 400),
    ],
)
def test_a_bad_invite_shows_the_error_and_writes_nothing(world, needs, until, message, status):
    mine, _ = needs
    response = post(
        desk(world.mary), need_url(mine, "invite/"), {"team": str(world.team.pk), "until": until}
    )
    assert response.status_code == status
    assert message in text(response)
    mine.refresh_from_db()
    assert mine.invited_team is None


def test_inviting_for_a_need_that_is_not_open_is_409(world, needs):
    mine, _ = needs
    ServiceRequest.objects.filter(pk=mine.pk).update(status="full", claimed=5)
    response = post(
        desk(world.mary),
        need_url(mine, "invite/"),
        {"team": str(world.team.pk), "until": local(days=1)},
    )
    assert response.status_code == 409
    assert "只有可认领（open）的需求可以邀请团队。" in text(response)


def test_another_stations_manager_cannot_invite(world, needs):
    mine, _ = needs
    response = post(
        desk(world.oscar),
        need_url(mine, "invite/"),
        {"team": str(world.team.pk), "until": local(days=1)},
    )
    assert response.status_code == 404
    mine.refresh_from_db()
    assert mine.invited_team is None
    assert not Event.objects.filter(verb="request_team_invited").exists()


def test_inviting_without_the_csrf_token_is_refused(world, needs):
    mine, _ = needs
    response = desk(world.mary).post(
        need_url(mine, "invite/"), {"team": str(world.team.pk), "until": local(days=1)}
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.invited_team is None


def test_unticking_every_specialty_clears_them(world, needs):
    mine, _ = needs
    mine.specialties.set([world.law])
    client = desk(world.mary)
    form = client.get(need_url(mine, "edit/")).context["values"]
    body = {k: v for k, v in form.items() if k != "specialties"}
    response = post(client, need_url(mine, "edit/"), body)
    assert response.status_code == 303
    assert list(mine.specialties.all()) == []


def test_the_list_filters_by_town_month_and_unclaimed_for_links_from_the_dashboard(
    world, needs, campaign
):
    from datetime import timedelta

    from django.utils import timezone

    mine, theirs = needs
    later = timezone.now() + timedelta(days=40)
    claimed = ServiceRequestFactory(
        station=world.station, campaign=campaign, title="已有人认领", claimed=1, starts_at=later
    )
    staff = desk(world.sam)
    by_town = staff.get(f"{CONSOLE}?town={world.other_town.pk}")
    assert [r.pk for r in by_town.context["rows"]] == [theirs.pk]
    assert "金塘镇" in text(by_town) and "清除筛选" in text(by_town)
    month = timezone.localtime(later).strftime("%Y-%m")
    by_month = staff.get(f"{CONSOLE}?month={month}")
    assert [r.pk for r in by_month.context["rows"]] == [claimed.pk]
    unclaimed = staff.get(f"{CONSOLE}?unclaimed=1&town={world.town.pk}")
    assert [r.pk for r in unclaimed.context["rows"]] == [mine.pk]
    # The tabs keep the filters.
    assert f"town={world.town.pk}" in text(unclaimed)
    # A town with none of the manager's stations, or a bad month, is dropped, not obeyed.
    mary = desk(world.mary).get(f"{CONSOLE}?town={world.other_town.pk}&month=2026-13")
    assert mary.context["kept"] == {}
    assert {r.pk for r in mary.context["rows"]} == {mine.pk, claimed.pk}
