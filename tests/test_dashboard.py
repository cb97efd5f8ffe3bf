"""The staff dashboard: session login, who may see it, and its numbers equal the API's."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from openpyxl import load_workbook

from tests import stats_fixtures
from tests.factories import PASSWORD, UserFactory
from tests.stats_fixtures import (
    BREAKDOWN_URL,
    PERIOD,
    SUMMARY_URL,
    YEAR,
)

DASHBOARD = "/dashboard/"
LOGIN = "/dashboard/login/"
LOGOUT = "/dashboard/logout/"
EXPORT = "/dashboard/export/"
KPI = re.compile(
    r'data-kpi="(?P<key>\w+)">\s*<div class="kpi-label">[^<]*</div>\s*'
    r'<div class="kpi-value"><span class="kpi-number">(?P<value>[^<]*)</span>'
)

# The shared ledger of verified services (pytest finds fixtures among module attributes).
ledger = stats_fixtures.ledger


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kpis(response) -> dict[str, str]:
    assert response.status_code == 200, response.content[:500]
    return {m["key"]: m["value"] for m in KPI.finditer(response.content.decode())}


def chart_data(response) -> dict:
    html = response.content.decode()
    found = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1))


# ---------------------------------------------------------------- login and access


def test_anonymous_is_sent_to_the_login_page(db):
    response = Client().get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/dashboard/"


def test_the_login_page_is_chinese_and_has_csrf(db):
    response = Client().get(LOGIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert "登录统计看板" in html and "csrfmiddlewaretoken" in html


def test_staff_log_in_with_their_api_password(world):
    client = Client(enforce_csrf_checks=True)
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(LOGIN).content.decode()
    )
    response = client.post(
        LOGIN,
        {"username": "sam", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    assert client.get(DASHBOARD).status_code == 200


def test_login_returns_to_next(world):
    response = Client().post(
        LOGIN, {"username": "mary", "password": PASSWORD, "next": "/dashboard/?town=1"}
    )
    assert response["Location"] == "/dashboard/?town=1"


def test_a_wrong_password_is_refused_without_a_session(world):
    client = Client()
    response = client.post(LOGIN, {"username": "sam", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    assert client.get(DASHBOARD).status_code == 302


@pytest.mark.parametrize("username", ["alice", "lily"])
def test_members_and_liaisons_cannot_log_in(world, username):
    client = Client()
    response = client.post(LOGIN, {"username": username, "password": PASSWORD})
    assert response.status_code == 200
    assert "仅对政协机关工作人员和驿站/工作室管理员开放" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_member_with_a_session_gets_403(world):
    response = signed_in(world.alice.user).get(DASHBOARD)
    assert response.status_code == 403
    assert "无权访问" in response.content.decode()
    assert signed_in(world.lily).get(EXPORT).status_code == 403


def test_login_attempts_are_throttled(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/min",
        },
    }
    client = Client()
    for _ in range(3):
        client.post(LOGIN, {"username": "sam", "password": "nope"})
    response = client.post(LOGIN, {"username": "sam", "password": PASSWORD})
    assert "登录尝试过于频繁" in response.content.decode()
    assert client.get(DASHBOARD).status_code == 302


def test_logout_is_a_post(world):
    client = signed_in(world.sam)
    assert client.get(LOGOUT).status_code == 405
    response = client.post(LOGOUT)
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert client.get(DASHBOARD).status_code == 302


# ---------------------------------------------------------------- the numbers


def test_the_tiles_show_the_api_summary(world, ledger, client_for):
    page = kpis(signed_in(world.sam).get(DASHBOARD, PERIOD))
    api = client_for(world.sam).get(SUMMARY_URL, PERIOD).json()
    for key in (
        "people_served",
        "enterprises_served",
        "households_visited",
        "participations",
        "active_members",
        "records_verified",
        "requests_posted",
    ):
        assert page[key] == str(api[key]), key
    assert page["people_served"] == "62"
    assert page["completion_rate"] == f"{api['completion_rate'] * 100:.1f}%"
    # Hours in the API's one format (HoursField: one decimal), the unit beside.
    assert page["median_hours_to_verify"] == "3.0"
    # 495 verified minutes, shown as hours to one decimal (as the API's service_hours).
    assert page["service_hours"] == "8.2" and api["service_hours"] == 8.2


def test_the_charts_carry_the_api_breakdowns(world, ledger, client_for):
    response = signed_in(world.sam).get(DASHBOARD, PERIOD)
    data = chart_data(response)
    api = client_for(world.sam)
    towns = api.get(BREAKDOWN_URL, {**PERIOD, "by": "town"}).json()["rows"]
    months = api.get(BREAKDOWN_URL, {**PERIOD, "by": "month"}).json()["rows"]
    summary = api.get(SUMMARY_URL, PERIOD).json()
    assert data["places"]["by"] == "town"
    assert data["places"]["labels"] == [r["label"] for r in towns]
    assert data["places"]["values"] == [r["people_served"] for r in towns]
    assert data["months"]["values"] == [r["people_served"] for r in months]
    assert data["months"]["participations"] == [r["participations"] for r in months]
    assert data["kinds"]["values"] == [r["people_served"] for r in summary["by_kind"]]
    html = response.content.decode()
    assert "2025 暖岙·送法下乡" in html and "50 / 1000 人次" in html


def test_the_leaderboard_and_unclaimed_list_are_shown(world, ledger):
    html = signed_in(world.sam).get(DASHBOARD, PERIOD).content.decode()
    board = html[html.index('id="leaderboard"') :]
    # bob 11 (5 + 5 + leader 1), alice 10, charlie 5.
    assert board.index("鲍勃") < board.index("王丽") < board.index("陈晨")
    assert 'id="unclaimed-count"' in html


def test_a_manager_sees_their_towns(world, ledger, client_for):
    response = signed_in(world.mary).get(DASHBOARD, PERIOD)
    page = kpis(response)
    assert page["people_served"] == "42"
    assert page["people_served"] == str(
        client_for(world.mary).get(SUMMARY_URL, PERIOD).json()["people_served"]
    )
    html = response.content.decode()
    assert "所管驿站所在镇街" in html
    assert "金塘镇" not in html[html.index('name="town"') : html.index("</select>")]


def test_filters_apply_and_bad_ones_are_reported(world, ledger):
    client = signed_in(world.sam)
    enterprise = kpis(client.get(DASHBOARD, {**PERIOD, "campaign_kind": "warm_enterprise"}))
    assert enterprise["people_served"] == "12"

    response = client.get(DASHBOARD, {"from": f"{YEAR}-06-02", "to": f"{YEAR}-06-01"})
    assert "开始日期不能晚于结束日期" in response.content.decode()
    assert response.status_code == 200

    mary = signed_in(world.mary).get(DASHBOARD, {"town": world.other_town.pk})
    assert "您只能查看所管理驿站所在镇街的统计" in mary.content.decode()
    response = client.get(DASHBOARD, {"from": "not-a-date", "campaign_kind": "nope"})
    assert response.status_code == 200 and 'class="alert"' in response.content.decode()


def test_the_dashboard_exports_with_the_session(world, ledger):
    response = signed_in(world.sam).get(EXPORT, {**PERIOD, "format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    figures = {row[0]: row[1] for row in book["汇总"].iter_rows(values_only=True) if row[0]}
    assert figures["服务群众人次"] == 62
    csv = signed_in(world.sam).get(EXPORT, {**PERIOD, "format": "csv", "sheet": "town"})
    assert csv.content.startswith(b"\xef\xbb\xbf")


def test_charts_come_from_the_local_static_files_not_a_cdn(world, ledger):
    html = signed_in(world.sam).get(DASHBOARD).content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert "/static/dashboard/vendor/chart.js/chart.umd.min.js" in scripts
    assert all(src.startswith("/static/") for src in scripts)
    assert "//" not in "".join(re.findall(r'href="([^"]+\.css)"', html))
    assert finders.find("dashboard/vendor/chart.js/chart.umd.min.js")
    assert finders.find("dashboard/vendor/chart.js/LICENSE.md")


def test_an_empty_year_renders(world):
    manager = UserFactory(is_station_manager=True)
    html = signed_in(manager).get(DASHBOARD).content.decode()
    assert "本期暂无已核实的服务记录" in html
