"""Statistics exports for reports: .xlsx with one sheet per breakdown, or one table as CSV.

The figures are ``services.stats.selectors``', never recomputed here. Headers are Chinese; CSV is
UTF-8 with a BOM so Excel opens it without garbling. Text cells that a spreadsheet would read as a
formula (``=``, ``+``, ``-``, ``@`` first) are quoted, so a station named ``=HYPERLINK(...)`` stays
text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from services import errors
from services.models import Campaign
from services.records.hours import as_hours
from services.stats import selectors as stats
from stations.models import Town

XLSX = "xlsx"
CSV = "csv"
FORMAT_CHOICES = [(XLSX, "Excel 工作簿（.xlsx）"), (CSV, "CSV（UTF-8，带 BOM）")]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"

SUMMARY = "summary"
# Sheet name per table, in workbook order.
SHEETS: dict[str, str] = {
    SUMMARY: "汇总",
    stats.BY_TOWN: "按镇街",
    stats.BY_STATION: "按驿站",
    stats.BY_TEAM: "按团队",
    stats.BY_KIND: "按三暖",
    stats.BY_MONTH: "按月份",
}
SHEET_CHOICES = list(SHEETS.items())

# First two columns of each breakdown sheet: the group's name and its key.
KEY_HEADERS: dict[str, tuple[str, str]] = {
    stats.BY_TOWN: ("镇/街道", "镇街编号"),
    stats.BY_STATION: ("驿站/工作室", "驿站编号"),
    stats.BY_TEAM: ("委员团队", "团队编号"),
    stats.BY_KIND: ("三暖类型", "类型代码"),
    stats.BY_MONTH: ("月份", "年月"),
}
FIGURE_HEADERS: dict[str, str] = {
    "records": "已核实服务记录",
    "people_served": "服务群众人次",
    "enterprises_served": "服务企业数",
    "households_visited": "走访户数",
    "participations": "委员参与人次",
    "service_minutes": "核实服务时长（小时）",
}
# The residents' ratings (评单) of each group, after its figures.
SATISFACTION_HEADERS: dict[str, str] = {
    "ratings": "群众评价数",
    "mean": "平均评分",
    "share_4_5": "满意率（4–5 分）",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """One sheet: a title, its header row and its rows (numbers stay numbers)."""

    name: str
    headers: list[str]
    rows: list[list[Any]]
    # Columns (0-based) holding a fraction to show as a percentage in Excel.
    percent_columns: tuple[int, ...] = ()


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _figures(row: dict) -> list[Any]:
    """A row's figures in FIGURE_HEADERS order, minutes shown as hours (one decimal)."""
    return [as_hours(row[n]) if n == "service_minutes" else row[n] for n in FIGURE_HEADERS]


def _kind_label(kind: str | None) -> str:
    return Campaign.Kind(kind).label if kind else "全部"


def summary_table(summary: stats.Summary) -> Table:
    """The 汇总 sheet: the period, the headline figures, per 三暖 kind, campaign progress."""
    f = summary.filters
    town = Town.objects.filter(pk=f.town_id).values_list("name", flat=True).first()
    rows: list[list[Any]] = [
        ["开始日期", f.date_from.isoformat()],
        ["结束日期", f.date_to.isoformat()],
        ["镇/街道", town or ("全部" if f.town_ids is None else "所管驿站所在镇街")],
        ["三暖类型", _kind_label(f.campaign_kind)],
        ["服务群众人次", summary.people_served],
        ["服务企业数", summary.enterprises_served],
        ["走访户数", summary.households_visited],
        ["已核实服务记录", summary.records_verified],
        ["委员参与人次", summary.participations],
        ["核实服务时长（小时）", as_hours(summary.service_minutes)],
        ["参与委员人数", summary.active_members],
        ["期内需求数", summary.requests_posted],
        ["已完成需求", summary.requests_completed],
        ["已核实需求", summary.requests_verified],
        ["已取消需求", summary.requests_cancelled],
        ["过期需求", summary.requests_expired],
        ["完成率", summary.completion_rate],
        ["发布到首次认领中位时长（小时）", summary.median_hours_to_claim],
        ["提交到核实中位时长（小时）", summary.median_hours_to_verify],
        ["群众确认服务人次", summary.people_served_confirmed],
        [],
        ["三暖类型", *FIGURE_HEADERS.values()],
        *[[row["label"], *_figures(row)] for row in summary.by_kind],
        [],
        ["群众评单", *SATISFACTION_HEADERS.values()],
        ["全部", *_satisfaction(summary.satisfaction)],
        [],
        ["活动", "类型", "开始日期", "结束日期", "目标服务人次", "已服务人次", "完成进度"],
        *[
            [
                c["name"],
                _kind_label(c["kind"]),
                c["starts_on"].isoformat(),
                c["ends_on"].isoformat(),
                c["target_served"],
                c["people_served"],
                c["progress"],
            ]
            for c in summary.campaigns
        ],
    ]
    return Table(name=SHEETS[SUMMARY], headers=["指标", "数值"], rows=rows, percent_columns=(1, 6))


def breakdown_table(*, filters: stats.StatsFilter, by: str) -> Table:
    """One breakdown as a sheet; more than STATS_EXPORT_MAX_ROWS rows → 422."""
    cap = settings.STATS_EXPORT_MAX_ROWS
    rows = stats.stats_breakdown(filters=filters, by=by, limit=cap + 1)
    if len(rows) > cap:
        raise errors.ExportTooLarge(
            f"“{SHEETS[by]}”超过 {cap} 行，请缩小统计区间或按镇街筛选后再导出。"
        )
    label, key = KEY_HEADERS[by]
    share = 2 + len(FIGURE_HEADERS) + list(SATISFACTION_HEADERS).index("share_4_5")
    return Table(
        name=SHEETS[by],
        headers=[label, key, *FIGURE_HEADERS.values(), *SATISFACTION_HEADERS.values()],
        rows=[
            [row["label"], row["key"], *_figures(row), *_satisfaction(row["satisfaction"])]
            for row in rows
        ],
        percent_columns=(share,),
    )


def _satisfaction(figures: dict | None) -> list[Any]:
    return [(figures or {}).get(n) for n in SATISFACTION_HEADERS]


def export_tables(*, filters: stats.StatsFilter, only: str | None = None) -> list[Table]:
    """The tables of an export: all six sheets, or ``only`` one of them."""
    names = [only] if only else list(SHEETS)
    return [
        summary_table(stats.stats_summary(filters=filters))
        if name == SUMMARY
        else breakdown_table(filters=filters, by=name)
        for name in names
    ]


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table: bold header row, frozen, sensible widths."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="B83B3B")
    for table in tables:
        sheet = workbook.create_sheet(table.name)
        sheet.append(table.headers)
        for cell in sheet[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(horizontal="center")
        for row in table.rows:
            sheet.append([_safe(value) for value in row])
        for column in table.percent_columns:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column + 1, max_col=column + 1):
                if isinstance(cell.value, float):
                    cell.number_format = "0.00%"
        sheet.freeze_panes = "A2"
        for index in range(1, sheet.max_column + 1):
            sheet.column_dimensions[get_column_letter(index)].width = 14 if index > 1 else 30
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_csv(table: Table) -> bytes:
    """One table as CSV, UTF-8 with a BOM (Excel on Windows reads it as UTF-8 then)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if value is None else _safe(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def export_file(
    *, filters: stats.StatsFilter, format: str, sheet: str = SUMMARY
) -> tuple[bytes, str, str]:
    """The export's bytes, content type and file name."""
    stem = f"wwqz-stats-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}"
    if format == XLSX:
        return to_xlsx(export_tables(filters=filters)), XLSX_TYPE, f"{stem}.xlsx"
    (table,) = export_tables(filters=filters, only=sheet)
    return to_csv(table), CSV_TYPE, f"{stem}-{sheet}.csv"
