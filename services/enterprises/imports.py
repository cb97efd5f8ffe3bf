"""Excel import of enterprises (企业名单): check the whole workbook, then write it all or none.

It reads the file as the member roster does (``members.roster``: the size, zip and macro
checks, one sheet, no formulas, ROSTER_MAX_ROWS) and reports every bad cell as
``{"row 3.统一社会信用代码": ["..."]}`` (Excel row numbers) with nothing written. Columns:

=======================  ========  ==================================================
header                   required  content
=======================  ========  ==================================================
企业名称                 yes       at most 100 characters
统一社会信用代码         yes       GB 32100-2015, check character verified; new codes only
镇/街道                  yes       name of an active town
服务驿站                 yes       name of an active station in that town
纬度 / 经度              yes       the enterprise's location
坐标系                   no        wgs84 (default) or gcj02 (as map apps give)
地址 / 行业              no        at most 200 / 50 characters
重点项目企业             no        是 / 否 (blank: 否)
联系人 / 联系电话        no        the enterprise's contact (personal data)
=======================  ========  ==================================================
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import openpyxl
from django.db import transaction
from openpyxl.comments import Comment

from accounts.models import User
from members.phones import normalize_phone
from members.roster import _Errors, _open_workbook, _read_rows, _text
from services.enterprises import codes, errors, writes
from services.models import Enterprise
from stations.errors import InvalidCoordinates, OutsideChina
from stations.geo import COORD_TYPES, WGS84, Point, validate_point
from stations.models import Station, Town

COLUMNS: dict[str, str] = {
    "name": "企业名称",
    "credit_code": "统一社会信用代码",
    "town": "镇/街道",
    "station": "服务驿站",
    "lat": "纬度",
    "lng": "经度",
    "coord_type": "坐标系",
    "address": "地址",
    "industry": "行业",
    "key_project": "重点项目企业",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
}
REQUIRED = ("name", "credit_code", "town", "station", "lat", "lng")
YES, NO = ("是", "yes", "y", "1", "true"), ("否", "no", "n", "0", "false", "")
LIMITS = {"name": 100, "address": 200, "industry": 50, "contact_name": 50}


@dataclass
class EnterpriseRow:
    row: int
    name: str
    credit_code: str
    town: Town | None
    station: Station | None
    point: Point | None
    address: str
    industry: str
    key_project: bool
    contact_name: str
    contact_phone: str


def _headers(header: tuple) -> dict[str, int]:
    found = {}
    texts = [_text(value) for value in header]
    for key, title in COLUMNS.items():
        if title in texts:
            found[key] = texts.index(title)
    missing = [COLUMNS[key] for key in REQUIRED if key not in found]
    if missing:
        message = f"缺少必需的表头：{'、'.join(missing)}。"
        raise errors.EnterpriseImportInvalid(
            message, fields={"headers": [message, f"第一行应包含：{'、'.join(COLUMNS.values())}。"]}
        )
    return found


def _check(data: list[tuple[int, tuple]], columns: dict[str, int]) -> list[EnterpriseRow]:
    problems = _Errors()
    towns = {town.name: town for town in Town.objects.filter(active=True)}
    stations = {(s.town_id, s.name): s for s in Station.objects.filter(active=True)}
    first_row: dict[str, int] = {}
    rows = []
    for number, values in data:

        def cell(key: str, values=values):
            index = columns.get(key)
            return values[index] if index is not None and index < len(values) else None

        def add(key: str, message: str, number=number) -> None:
            problems.add(number, COLUMNS[key], message)

        text = {key: _text(cell(key)) for key in COLUMNS}
        for key in ("name", "credit_code", "town", "station"):
            if not text[key]:
                add(key, f"{COLUMNS[key]}不能为空。")
        for key, limit in LIMITS.items():
            if len(text[key]) > limit:
                add(key, f"{COLUMNS[key]}不能超过 {limit} 个字。")
        code = codes.normalise(text["credit_code"])
        if code:
            problem = codes.credit_code_error(code)
            if problem:
                add("credit_code", problem)
            elif code in first_row:
                add("credit_code", f"与第 {first_row[code]} 行的统一社会信用代码重复。")
            else:
                first_row[code] = number
        town = towns.get(text["town"])
        if text["town"] and town is None:
            add("town", f"镇/街道“{text['town']}”不存在或已停用。")
        station = stations.get((town.pk, text["station"])) if town else None
        if town and text["station"] and station is None:
            add("station", f"“{text['town']}”没有启用中的驿站“{text['station']}”。")
        coord_type = (text["coord_type"] or WGS84).lower()
        point = None
        if coord_type not in COORD_TYPES:
            add("coord_type", "坐标系应为 wgs84 或 gcj02。")
        else:
            try:
                point = validate_point(cell("lat"), cell("lng"), coord_type=coord_type)
            except (InvalidCoordinates, OutsideChina) as exc:
                for key, messages in (exc.fields or {"lat": [str(exc.detail)]}).items():
                    for message in messages:
                        add(key if key in COLUMNS else "lat", message)
        phone = ""
        if text["contact_phone"]:
            phone = normalize_phone(cell("contact_phone")) or ""
            if not phone:
                add("contact_phone", f"“{text['contact_phone']}”不是 11 位中国大陆手机号。")
        flag = text["key_project"].lower()
        if flag not in YES + NO:
            add("key_project", "重点项目企业请填“是”或“否”。")
        rows.append(
            EnterpriseRow(
                row=number,
                name=text["name"],
                credit_code=code,
                town=town,
                station=station,
                point=point,
                address=text["address"],
                industry=text["industry"],
                key_project=flag in YES,
                contact_name=text["contact_name"],
                contact_phone=phone,
            )
        )
    taken = set(
        Enterprise.objects.filter(credit_code__in=list(first_row)).values_list(
            "credit_code", flat=True
        )
    )
    for row in rows:
        if row.credit_code in taken:
            problems.add(row.row, COLUMNS["credit_code"], "已有企业使用该统一社会信用代码。")
    if problems.fields:
        raise errors.EnterpriseImportInvalid(
            f"企业名单中有 {problems.rows()} 行存在错误，未导入任何数据。", fields=problems.fields
        )
    return rows


def check_workbook(*, stream: IO[bytes], filename: str, size: int) -> list[EnterpriseRow]:
    """Read and check an upload; raise on the first structural problem or on bad rows."""
    workbook = _open_workbook(stream=stream, filename=filename, size=size)
    try:
        rows = _read_rows(workbook)
    finally:
        workbook.close()
    if len(rows) < 2 or rows[0][0] != 1:
        raise errors.EnterpriseImportInvalid(
            "企业名单是空的：第一行应为表头，其后每行一家企业。",
            fields={"headers": [f"第一行应包含：{'、'.join(COLUMNS.values())}。"]},
        )
    header, *data = rows
    return _check(data, _headers(header[1]))


@transaction.atomic
def import_enterprises(
    *, stream: IO[bytes], filename: str, size: int, actor: User | None
) -> list[Enterprise]:
    """Check the whole workbook, then create every enterprise in one transaction."""
    rows: Sequence[EnterpriseRow] = check_workbook(stream=stream, filename=filename, size=size)
    return [
        writes.create_enterprise(
            actor=actor,
            name=row.name,
            credit_code=row.credit_code,
            town=row.town,
            station=row.station,
            point=row.point,
            address=row.address,
            industry=row.industry,
            key_project=row.key_project,
            contact_name=row.contact_name,
            contact_phone=row.contact_phone,
            source=f"import:{row.row}",
        )
        for row in rows
    ]


def template_workbook() -> bytes:
    """The headers, a note on each and one example row (a published valid credit code)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "企业名单"
    sheet.append(list(COLUMNS.values()))
    notes = {
        "企业名称": "必填。",
        "统一社会信用代码": "必填，18 位，含校验位（GB 32100-2015）。请设为文本格式。",
        "镇/街道": "必填，须与系统中的镇/街道名称一致。",
        "服务驿站": "必填，该镇/街道启用中的驿站名称。",
        "纬度": "必填，十进制度。",
        "经度": "必填，十进制度。",
        "坐标系": "选填：wgs84（默认）或 gcj02（高德、腾讯地图取点）。",
        "地址": "选填。",
        "行业": "选填，如：制造业、港航物流。",
        "重点项目企业": "选填：是 / 否。",
        "联系人": "选填（个人信息，仅机关与专员可见全文）。",
        "联系电话": "选填，11 位手机号。",
    }
    for cell in sheet[1]:
        cell.comment = Comment(notes[cell.value], "我为群众办一事")
    sheet.append(
        ["舟山示例船舶修造有限公司", "91350100M000100Y43", "", "", 30.0194, 122.1028, "wgs84",
         "定海区示例路 1 号", "船舶修造", "是", "张经理", "13900000000"]
    )  # fmt: skip
    for row in sheet.iter_rows(min_col=2, max_col=2):
        for cell in row:
            cell.number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
