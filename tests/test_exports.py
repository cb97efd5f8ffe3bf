"""GET stats/export/: the files open in openpyxl / csv and carry the API's figures."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from accounts import errors as common_errors
from services import errors
from services.stats import exports
from tests import stats_fixtures
from tests.factories import StationFactory
from tests.stats_fixtures import (
    BREAKDOWN_URL,
    EXPORT_URL,
    PERIOD,
    SUMMARY_URL,
    YEAR,
    served,
)
from tests.test_errors import assert_error

XLSX_SHEETS = ["汇总", "按镇街", "按驿站", "按团队", "按三暖", "按月份"]

# The shared ledger of verified services (pytest finds fixtures among module attributes).
ledger = stats_fixtures.ledger


def workbook(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == exports.XLSX_TYPE
    return load_workbook(io.BytesIO(response.content), read_only=True)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def sheet_rows(book, name) -> list[tuple]:
    return [tuple(row) for row in book[name].iter_rows(values_only=True)]


def pairs(rows) -> dict:
    """The key-value part of the 汇总 sheet."""
    return {row[0]: row[1] for row in rows[1:] if row and row[0] and len(row) > 1}


def test_xlsx_has_one_sheet_per_breakdown_with_the_api_figures(world, ledger, client_for):
    staff = client_for(world.sam)
    response = staff.get(EXPORT_URL, {**PERIOD, "format": "xlsx"})
    book = workbook(response)
    assert book.sheetnames == XLSX_SHEETS
    assert 'filename="wwqz-stats-20250101-20251231.xlsx"' in response["Content-Disposition"]

    api = staff.get(SUMMARY_URL, PERIOD).json()
    summary = sheet_rows(book, "汇总")
    assert summary[0][:2] == ("指标", "数值")
    figures = pairs(summary)
    assert figures["开始日期"] == f"{YEAR}-01-01" and figures["结束日期"] == f"{YEAR}-12-31"
    assert figures["服务群众人次"] == api["people_served"] == 62
    assert figures["委员参与人次"] == 5 and figures["参与委员人数"] == 3
    assert figures["核实服务时长（小时）"] == 8.2  # 495 minutes
    assert figures["完成率"] == pytest.approx(api["completion_rate"])
    assert figures["提交到核实中位时长（小时）"] == 3.0
    kind_rows = {row[0]: row for row in summary if row and row[0] in ("暖企", "暖岙", "暖心")}
    assert kind_rows["暖岙"][2] == 50  # 服务群众人次 column of the 三暖 table
    campaign_rows = {
        row[0]: row for row in summary if row and row[0] == ledger.village_campaign.name
    }
    assert campaign_rows[ledger.village_campaign.name][4:7] == (1000, 50, 0.05)

    for by, name in [
        ("town", "按镇街"),
        ("station", "按驿站"),
        ("team", "按团队"),
        ("campaign_kind", "按三暖"),
        ("month", "按月份"),
    ]:
        rows = sheet_rows(book, name)
        assert rows[0][2:] == (
            "已核实服务记录",
            "服务群众人次",
            "服务企业数",
            "走访户数",
            "委员参与人次",
            "核实服务时长（小时）",
            "群众评价数",
            "平均评分",
            "满意率（4–5 分）",
        )
        expected = staff.get(BREAKDOWN_URL, {**PERIOD, "by": by}).json()["rows"]
        assert [
            (
                r["label"],
                r["key"],
                r["records"],
                r["people_served"],
                r["participations"],
                r["service_hours"],
            )
            for r in expected
        ] == [(row[0], row[1], row[2], row[3], row[6], row[7]) for row in rows[1:]], name
    assert sheet_rows(book, "按镇街")[0][:2] == ("镇/街道", "镇街编号")
    assert sheet_rows(book, "按镇街")[1][:4] == ("昌国街道", str(world.town.pk), 2, 42)


def test_xlsx_is_the_default_format(world, ledger, client_for):
    book = workbook(client_for(world.sam).get(EXPORT_URL, PERIOD))
    assert book.sheetnames == XLSX_SHEETS


def test_csv_is_utf8_with_bom_and_chinese_headers(world, ledger, client_for):
    staff = client_for(world.sam)
    response = staff.get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "town"})
    rows = csv_rows(response)
    assert rows[0] == [
        "镇/街道",
        "镇街编号",
        "已核实服务记录",
        "服务群众人次",
        "服务企业数",
        "走访户数",
        "委员参与人次",
        "核实服务时长（小时）",
        "群众评价数",
        "平均评分",
        "满意率（4–5 分）",
    ]
    # No resident rated these services: no ratings, no mean, no share.
    assert rows[1] == ["昌国街道", str(world.town.pk), "2", "42", "4", "5", "3", "4.2", "0", "", ""]
    assert rows[2][0] == "金塘镇" and rows[2][3] == "20"
    assert "-town.csv" in response["Content-Disposition"]

    summary = csv_rows(staff.get(EXPORT_URL, {**PERIOD, "format": "csv"}))
    assert summary[0] == ["指标", "数值"]
    assert dict(row[:2] for row in summary[1:] if len(row) >= 2)["服务群众人次"] == "62"

    months = csv_rows(staff.get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "month"}))
    assert len(months) == 13 and months[3][:4] == ["2025年3月", "2025-03", "2", "42"]


def test_a_manager_exports_their_towns_only(world, ledger, client_for):
    rows = csv_rows(
        client_for(world.mary).get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "town"})
    )
    assert [row[0] for row in rows[1:]] == ["昌国街道"]
    book = workbook(client_for(world.mary).get(EXPORT_URL, PERIOD))
    figures = pairs(sheet_rows(book, "汇总"))
    assert figures["服务群众人次"] == 42 and figures["镇/街道"] == "所管驿站所在镇街"
    response = client_for(world.mary).get(EXPORT_URL, {**PERIOD, "town": world.other_town.pk})
    assert_error(response, 403, errors.TOWN_OUT_OF_SCOPE)


def test_filters_apply_to_exports(world, ledger, client_for):
    rows = csv_rows(
        client_for(world.sam).get(
            EXPORT_URL,
            {**PERIOD, "format": "csv", "sheet": "station", "campaign_kind": "warm_enterprise"},
        )
    )
    assert [(row[0], row[3]) for row in rows[1:]] == [("昌国协商驿站", "12")]


def test_text_that_looks_like_a_formula_stays_text(world, ledger, client_for):
    station = StationFactory(name='=HYPERLINK("http://x")', town=world.town)
    served(
        station=station,
        campaign=ledger.village_campaign,
        day=ledger.records[0].service_date,
        people=1,
        members=[world.alice],
    )
    staff = client_for(world.sam)
    rows = csv_rows(staff.get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "station"}))
    assert '\'=HYPERLINK("http://x")' in [row[0] for row in rows]
    book = workbook(staff.get(EXPORT_URL, PERIOD))
    names = [row[0] for row in sheet_rows(book, "按驿站")]
    assert '\'=HYPERLINK("http://x")' in names


def test_more_rows_than_the_cap_is_422(world, ledger, client_for, settings):
    settings.STATS_EXPORT_MAX_ROWS = 1
    staff = client_for(world.sam)
    response = staff.get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "town"})
    assert_error(response, 422, errors.EXPORT_TOO_LARGE)
    assert_error(staff.get(EXPORT_URL, PERIOD), 422, errors.EXPORT_TOO_LARGE)
    settings.STATS_EXPORT_MAX_ROWS = 12  # a year of months fits exactly
    assert csv_rows(staff.get(EXPORT_URL, {**PERIOD, "format": "csv", "sheet": "month"}))


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"format": "pdf"}, 400, common_errors.VALIDATION_ERROR),
        ({"format": "XLSX"}, 400, common_errors.VALIDATION_ERROR),
        ({"format": "csv", "sheet": "village"}, 400, common_errors.VALIDATION_ERROR),
        ({"from": "2025-02-30"}, 400, common_errors.VALIDATION_ERROR),
        ({"from": "2025-06-02", "to": "2025-06-01"}, 400, errors.INVALID_DATE_RANGE),
        ({"town": "x"}, 400, common_errors.VALIDATION_ERROR),
    ],
)
def test_bad_input_is_a_json_error(world, client_for, params, status, code):
    response = client_for(world.sam).get(EXPORT_URL, params)
    assert response["Content-Type"] == "application/json"
    assert_error(response, status, code)


def test_members_liaisons_and_anonymous_are_refused(world, client_for, anon):
    for user in (world.alice.user, world.lily):
        response = client_for(user).get(EXPORT_URL, {"format": "csv"})
        assert_error(response, 403, common_errors.PERMISSION_DENIED)
    assert_error(anon.get(EXPORT_URL), 401, common_errors.NOT_AUTHENTICATED)
