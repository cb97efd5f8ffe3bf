"""The staff dashboard: session login, who may see it, and its numbers equal the API's."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from services.models import ServiceRequest
from services.stats import panels
from stations.models import Station
from tests import stats_fixtures
from tests.factories import PASSWORD, ServiceRequestFactory, UserFactory
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


# ---------------------------------------------------------------- issue 19: the fixed bugs


def html_of(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def section(html: str, marker: str, end: str = "</article>") -> str:
    start = html.index(marker)
    return html[start : html.index(end, start)]


def waiting(world, ledger, *, station=None, campaign=None, title="无人认领的需求"):
    """An open need posted three days ago that nobody has claimed (the follow-up list)."""
    need = ServiceRequestFactory(
        station=station or world.station,
        campaign=campaign or ledger.village_campaign,
        title=title,
        starts_at=timezone.now() + timedelta(days=2),
    )
    ServiceRequest.objects.filter(pk=need.pk).update(created_at=timezone.now() - timedelta(days=3))
    return need


def test_the_doughnut_is_coloured_by_kind_not_by_position(world, ledger):
    # With a kind filter the one slice is that kind's: the script colours slices by these keys
    # (the browser test checks the drawn colour against the legend's and the table's).
    data = chart_data(
        signed_in(world.sam).get(DASHBOARD, {**PERIOD, "campaign_kind": "warm_village"})
    )
    assert data["kinds"]["keys"] == ["warm_village"]
    assert data["kinds"]["labels"] == ["暖岙"]
    everything = chart_data(signed_in(world.sam).get(DASHBOARD, PERIOD))["kinds"]
    assert everything["keys"] == ["warm_enterprise", "warm_village", "warm_heart"]
    script = Path(finders.find("dashboard/dashboard.js")).read_text()
    assert "data.kinds.keys.map" in script and "kindColours" not in script


def test_a_town_selected_narrows_every_panel(world, ledger):
    response = signed_in(world.sam).get(DASHBOARD, {**PERIOD, "town": world.town.pk})
    html = html_of(response)
    period = section(html, 'id="period"', "</p>")
    assert "昌国街道" in period and "全区" not in period
    # The place chart lists the town's stations, not one bar for the town.
    places = chart_data(response)["places"]
    assert places == {
        "by": "station",
        "labels": ["昌国协商驿站"],
        "values": [42],
        "links": [f"/console/?station={world.station.pk}"],
    }
    assert "昌国街道各驿站服务群众人次" in html
    # Its leaderboard: alice (r1, r2) and bob (r1 and its leader point), not charlie (金塘).
    board = section(html, 'id="leaderboard"', "</table>")
    assert "王丽" in board and "鲍勃" in board and "陈晨" not in board
    assert "昌国街道" in section(html, 'id="leaderboard-note"', "</p>")
    # Its targets: the town's share of the campaign (r1's 30 of the 50 served district-wide).
    targets = section(html, 'id="targets"')
    assert "30 / 1000 人次" in targets and "人次为昌国街道的服务" in targets
    district = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    assert "50 / 1000 人次" in section(district, 'id="targets"')
    assert "陈晨" in section(district, 'id="leaderboard"', "</table>")
    assert "全区" in section(district, 'id="period"', "</p>")


def test_a_manager_without_a_town_sees_the_towns_of_their_stations(world, ledger):
    html = html_of(signed_in(world.mary).get(DASHBOARD, PERIOD))
    assert "所管驿站所在镇街" in section(html, 'id="period"', "</p>")
    assert "陈晨" not in section(html, 'id="leaderboard"', "</table>")


def test_the_leaderboard_follows_the_kind(world, ledger):
    html = html_of(
        signed_in(world.sam).get(DASHBOARD, {**PERIOD, "campaign_kind": "warm_enterprise"})
    )
    board = section(html, 'id="leaderboard"', "</table>")
    # Only r2 (暖企) counts: alice alone.
    assert "王丽" in board and "鲍勃" not in board and "陈晨" not in board


def test_quick_periods_and_the_previous_period():
    assert panels.previous_period(date(2025, 1, 1), date(2025, 12, 31)) == (
        date(2024, 1, 1),
        date(2024, 12, 31),
    )
    assert panels.previous_period(date(2025, 3, 1), date(2025, 5, 31)) == (
        date(2024, 12, 1),
        date(2025, 2, 28),
    )
    assert panels.previous_period(date(2025, 3, 10), date(2025, 3, 19)) == (
        date(2025, 2, 28),
        date(2025, 3, 9),
    )
    quick = {
        p["key"]: (p["label"], p["from"], p["to"]) for p in panels.quick_periods(date(2026, 2, 15))
    }
    assert quick == {
        "this_month": ("本月", date(2026, 2, 1), date(2026, 2, 28)),
        "last_month": ("上月", date(2026, 1, 1), date(2026, 1, 31)),
        "this_quarter": ("本季度", date(2026, 1, 1), date(2026, 3, 31)),
        "last_quarter": ("上季度", date(2025, 10, 1), date(2025, 12, 31)),
        "this_year": ("今年", date(2026, 1, 1), date(2026, 12, 31)),
        "last_year": ("去年", date(2025, 1, 1), date(2025, 12, 31)),
    }


def test_the_quick_period_links_keep_the_filters(world, ledger):
    html = html_of(
        signed_in(world.sam).get(
            DASHBOARD, {"town": world.town.pk, "campaign_kind": "warm_village"}
        )
    )
    quick = section(html, 'id="quick-periods"', "</nav>")
    links = dict(
        re.findall(r'href="\?([^"]+)" data-period="(\w+)"', quick)[i][::-1] for i in range(6)
    )
    today = timezone.localdate()
    this_year = links["this_year"].replace("&amp;", "&")
    assert f"from={today.year}-01-01" in this_year and f"to={today.year}-12-31" in this_year
    assert f"town={world.town.pk}" in this_year and "campaign_kind=warm_village" in this_year
    # The default period is this year: that link is the current one.
    assert re.search(r'data-period="this_year" class="active"', quick)


def test_the_tiles_compare_with_the_previous_period(world, ledger):
    html = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    assert "对比上期：2024年1月1日 至 2024年12月31日" in html
    # 2024 had bob's one service on 31 December: 7 people, 1 participation, 60 minutes.
    tile = section(html, 'data-kpi="people_served"', "</div>\n  </div>")
    assert 'data-delta="55"' in tile and "较上期 +55（+785.7%）" in tile
    assert "较上期 +4" in section(html, 'data-kpi="participations"', "</div>\n  </div>")
    hours = section(html, 'data-kpi="service_hours"', "</div>\n  </div>")
    assert "较上期 +7.2（+720.0%）" in hours


def test_towns_months_and_unclaimed_rows_open_the_console(world, ledger):
    need = waiting(world, ledger)
    html = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    places = section(html, 'id="places-table"', "</table>")
    assert f'href="/console/?town={world.town.pk}"' in places
    assert f'href="/console/?town={world.other_town.pk}"' in places
    months = section(html, 'id="months"')
    assert 'href="/console/?month=2025-03" data-month="2025-03"' in months
    assert html.count('data-month="') == 12
    unclaimed = section(html, 'id="unclaimed"', "</table>")
    assert f'href="/console/needs/{need.pk}/"' in unclaimed
    assert 'id="unclaimed-count" href="/console/?status=open&amp;unclaimed=1"' in html
    # A town selected: the month links keep it.
    town = html_of(signed_in(world.sam).get(DASHBOARD, {**PERIOD, "town": world.town.pk}))
    assert f'href="/console/?town={world.town.pk}&amp;month=2025-03"' in town
    assert (
        'id="unclaimed-count" '
        f'href="/console/?town={world.town.pk}&amp;status=open&amp;unclaimed=1"' in town
    )


def test_the_map_shows_the_open_needs_of_the_filters(world, ledger):
    here = waiting(world, ledger, title="昌国的需求")
    there = waiting(world, ledger, station=world.other_station, title="金塘的需求")
    enterprise = waiting(world, ledger, campaign=ledger.enterprise_campaign, title="暖企需求")
    response = signed_in(world.sam).get(DASHBOARD)
    geo = map_data_of(response)
    assert geo["type"] == "FeatureCollection" and geo["coord_type"] == "wgs84"
    found = {f["id"]: f for f in geo["features"]}
    assert {here.pk, there.pk, enterprise.pk} <= set(found)
    point = found[here.pk]
    assert point["geometry"]["coordinates"] == [122.105, 30.02]
    assert point["properties"]["campaign_kind"] == "warm_village"
    assert point["properties"]["link"] == f"/console/?station={world.station.pk}&status=open"
    assert {s["name"] for s in geo["stations"]} == {"昌国协商驿站", "金塘委员工作室"}
    # The manager's towns and the kind filter narrow it.
    mine = {f["id"] for f in map_data_of(signed_in(world.mary).get(DASHBOARD))["features"]}
    assert here.pk in mine and there.pk not in mine
    kind = signed_in(world.sam).get(DASHBOARD, {"campaign_kind": "warm_enterprise"})
    assert {f["id"] for f in map_data_of(kind)["features"]} == {enterprise.pk}
    # Drawn as SVG by the local script, no map tiles from elsewhere.
    assert '<svg id="map"' in html_of(response)


def test_the_map_box_stays_within_the_map_apis_cap(settings):
    settings.MATCHING_MAP_MAX_BBOX_DEG2 = 0.01
    stations = [Station(lat=30.0, lng=121.8), Station(lat=30.3, lng=122.4)]
    box = panels._box(stations)
    assert (box.max_lat - box.min_lat) * (box.max_lng - box.min_lng) <= 0.01
    assert box.contains(30.15, 122.1)


def test_hours_are_shown_to_one_decimal_everywhere(world, ledger):
    html = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    page = kpis_of_html(html)
    assert page["service_hours"] == "8.2"
    assert page["median_hours_to_claim"] == "4.0" and page["median_hours_to_verify"] == "3.0"
    board = section(html, 'id="leaderboard"', "</table>")
    cells = re.findall(r'<td class="num">([^<]*)</td></tr>', board)
    # bob 90 + 60 minutes = 2.5, alice 165 = 2.8, charlie 180 = 3.0.
    assert sorted(cells) == ["2.5", "2.8", "3.0"]


def test_no_link_sends_staff_to_the_api(world, ledger):
    waiting(world, ledger)
    html = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    assert "/api/v1" not in html


def test_the_page_carries_its_print_and_phone_stylesheet(world):
    css = Path(finders.find("dashboard/dashboard.css")).read_text()
    assert "@page { size: A4" in css and "@media print" in css
    assert "@media (max-width: 600px)" in css
    html = html_of(signed_in(world.sam).get(DASHBOARD))
    assert 'class="filters no-print"' in html and 'id="print-button"' in html


def map_data_of(response) -> dict:
    found = re.search(
        r'<script id="dashboard-map" type="application/json">(.*?)</script>',
        response.content.decode(),
    )
    return json.loads(found.group(1))


def kpis_of_html(html: str) -> dict[str, str]:
    return {m["key"]: m["value"] for m in KPI.finditer(html)}


def test_the_dashboard_shows_the_warm_enterprise_panel(world):
    """The 暖企 panel (docs/enterprises.md): its tiles on the page, following the filters."""
    html = html_of(signed_in(world.sam).get(DASHBOARD, PERIOD))
    assert 'id="enterprises-panel"' in html and 'data-kpi="enterprise_resolution_rate"' in html
    assert "本期暂无暖企企业或走访。" in html
