"""The annual workbook (年度履职服务统计): every member's year — services, verified hours and
people served per 三暖 kind, and duty points — the sheet staff hand to the 委员履职综合考评
(docs/certificates-and-archive.md#annual-export).

The workbook style and the formula-injection guard are the statistics exports'
(``services.stats.exports``); the figures are ``archive.selectors.year_figures``.
"""

from __future__ import annotations

from typing import Any

from services.archive import selectors as archive
from services.models import Campaign
from services.records.hours import as_hours
from services.stats.exports import XLSX_TYPE, Table, to_xlsx

KIND_COLUMNS = ("服务次数", "服务时长（小时）", "服务群众人次")


def annual_table(year: int) -> Table:
    """One row per member: name, sector, team, the year's totals, each kind's, points."""
    members, by_kind, points = archive.year_figures(year)
    headers = ["姓名", "界别", "委员团队", "服务次数", "核实服务时长（小时）", "服务群众人次"]
    for kind in archive.KINDS:
        label = Campaign.Kind(kind).label
        headers += [f"{label}·{column}" for column in KIND_COLUMNS]
    headers.append("履职积分")
    rows: list[list[Any]] = []
    for member in members:
        kinds = [by_kind.get((member.pk, kind), {}) for kind in archive.KINDS]
        services = sum(k.get("services", 0) for k in kinds)
        minutes = sum(k.get("service_minutes", 0) for k in kinds)
        people = sum(k.get("people_served", 0) for k in kinds)
        row: list[Any] = [
            member.name,
            member.sector,
            member.team.name if member.team_id else "",
            services,
            as_hours(minutes),
            people,
        ]
        for k in kinds:
            row += [
                k.get("services", 0),
                as_hours(k.get("service_minutes", 0)),
                k.get("people_served", 0),
            ]
        row.append(points.get(member.pk, 0))
        rows.append(row)
    return Table(name=f"{year}年度履职服务", headers=headers, rows=rows)


def annual_file(year: int) -> tuple[bytes, str, str]:
    """The workbook's bytes, content type and file name."""
    return to_xlsx([annual_table(year)]), XLSX_TYPE, f"wwqz-annual-{year}.xlsx"
