"""Excel roster (委员名单) import: read and check an .xlsx, then write it all or nothing.

The workbook has one sheet; its first row holds the headers, each further non-empty row is one
member. Columns (header text as staff write it; aliases in brackets):

======================  ========  =====================================================
header                  required  content
======================  ========  =====================================================
姓名                    yes       full name, at most 50 characters
手机号 (手机, 手机号码)  yes       11-digit mainland mobile; also the login username
界别                    no        sector, at most 50 characters
团队 (所在团队)          no        name of an existing active team
专长                    no        specialty names or codes, separated by 、 ， , ; ； / or spaces
常住地纬度 (纬度)        no        WGS-84 latitude; with 常住地经度, both or neither
常住地经度 (经度)        no        WGS-84 longitude
======================  ========  =====================================================

Other columns are ignored. A member is matched by phone number: known numbers are updated
(and put back on the roster if they had been taken off), new ones are created with an account
and a one-time activation code (see :mod:`members.writes`). A column that is absent leaves
that field alone; a blank cell in a present column clears it. Members missing from the file
are left as they are: an import adds and updates, it never removes.

Anything wrong with any row → :class:`~members.errors.RosterInvalid` listing every bad cell as
``{"row 3.手机号": ["..."]}`` (Excel row numbers) and nothing is written.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import openpyxl
from django.conf import settings
from django.db import transaction
from openpyxl.comments import Comment
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from accounts.audit import record_event
from accounts.models import User
from members import writes
from members.errors import (
    RosterEmpty,
    RosterExtraSheets,
    RosterFormulas,
    RosterInvalid,
    RosterMissingHeaders,
    RosterNotXlsx,
    RosterTooLarge,
    RosterTooManyRows,
)
from members.models import Member, Specialty, Team
from members.phones import normalize_phone
from stations.errors import InvalidCoordinates
from stations.geo import Point, validate_point

# Canonical column key → accepted header texts (the first one is what the template uses).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名",),
    "phone": ("手机号", "手机", "手机号码"),
    "sector": ("界别",),
    "team": ("团队", "所在团队"),
    "specialties": ("专长",),
    "home_lat": ("常住地纬度", "纬度"),
    "home_lng": ("常住地经度", "经度"),
}
REQUIRED = ("name", "phone")
TEMPLATE_HEADERS = [aliases[0] for aliases in COLUMNS.values()]
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_SPECIALTY_SPLIT_RE = re.compile(r"[、，,;；/\s]+")
_MAX_LISTED_CELLS = 20
_MAX_NAME = 50
_MAX_SECTOR = 50


@dataclass
class RosterRow:
    """One checked data row; ``present`` names the columns the file has."""

    row: int
    name: str
    phone: str
    present: frozenset[str]
    sector: str | None = None
    team: Team | None = None
    specialties: list[Specialty] | None = None
    home: Point | None = None

    def changes(self) -> dict[str, Any]:
        """The fields an update of an existing member sets (absent columns left alone)."""
        out: dict[str, Any] = {"name": self.name}
        if "sector" in self.present:
            out["sector"] = self.sector or ""
        if "team" in self.present:
            out["team"] = self.team
        if "specialties" in self.present:
            out["specialties"] = self.specialties or []
        if "home_lat" in self.present:
            out["home"] = self.home
        return out


@dataclass(frozen=True, slots=True)
class RosterAccount:
    """A login account created by an import, with its activation code."""

    row: int
    member: int
    name: str
    phone: str
    activation_code: str
    activation_expires_at: datetime


@dataclass(frozen=True, slots=True)
class RosterResult:
    """What a roster import did."""

    rows: int
    created: int
    updated: int
    accounts: list[RosterAccount]


@dataclass
class _Errors:
    """Row errors keyed ``"row N.表头"``, in the order found."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, row: int, header: str, message: str) -> None:
        self.fields.setdefault(f"row {row}.{header}", []).append(message)

    def rows(self) -> int:
        return len({key.split(".", 1)[0] for key in self.fields})


def _text(value: object) -> str:
    """A cell as stripped text (Excel integers without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _open_workbook(*, stream: IO[bytes], filename: str, size: int):
    """The workbook in ``stream`` after every check that needs no cell values."""
    if size > settings.ROSTER_MAX_BYTES:
        raise RosterTooLarge(
            f"名单文件过大（{size} 字节），不能超过 {settings.ROSTER_MAX_BYTES} 字节。"
        )
    if not filename.lower().endswith(".xlsx"):
        raise RosterNotXlsx()
    data = stream.read(settings.ROSTER_MAX_BYTES + 1)
    if len(data) > settings.ROSTER_MAX_BYTES:
        raise RosterTooLarge(f"名单文件过大，不能超过 {settings.ROSTER_MAX_BYTES} 字节。")
    if not data.startswith(b"PK\x03\x04"):
        raise RosterNotXlsx()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise RosterNotXlsx() from None
    names = {entry.filename for entry in entries}
    if "xl/workbook.xml" not in names:
        raise RosterNotXlsx()
    if any(name.endswith("vbaProject.bin") for name in names):
        raise RosterNotXlsx("名单文件含有宏，请另存为普通 .xlsx 后重新上传。")
    # A small zip can unpack to gigabytes; check the declared sizes before openpyxl inflates it.
    if sum(entry.file_size for entry in entries) > settings.ROSTER_MAX_UNPACKED_BYTES:
        raise RosterTooLarge("名单文件解压后过大，请检查是否含有图片或大量空白格式。")
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel extensions it ignores (data validation, styles).
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many types for broken files; all mean "not a roster"
        raise RosterNotXlsx() from None


def _read_rows(workbook) -> list[tuple[int, tuple]]:
    """(Excel row number, values) of every non-empty row, after the structure checks."""
    if len(workbook.sheetnames) != 1:
        raise RosterExtraSheets(
            f"名单只能有一个工作表，该文件有 {len(workbook.sheetnames)} 个："
            f"{'、'.join(workbook.sheetnames)}。"
        )
    sheet = workbook.worksheets[0]
    rows: list[tuple[int, tuple]] = []
    formulas: list[str] = []
    limit = settings.ROSTER_MAX_ROWS + 1  # data rows plus the header row
    for number, cells in enumerate(sheet.iter_rows(), start=1):
        values = []
        for cell in cells:
            value = getattr(cell, "value", None)
            if getattr(cell, "data_type", None) == "f" or isinstance(
                value, (ArrayFormula, DataTableFormula)
            ):
                formulas.append(cell.coordinate)
            values.append(value)
        if any(_text(value) for value in values):
            rows.append((number, tuple(values)))
            if len(rows) > limit:
                raise RosterTooManyRows(f"名单最多 {settings.ROSTER_MAX_ROWS} 行，请分批导入。")
    if formulas:
        listed = "、".join(formulas[:_MAX_LISTED_CELLS])
        more = "等" if len(formulas) > _MAX_LISTED_CELLS else ""
        raise RosterFormulas(
            f"名单中含有公式（{listed}{more}），请将公式粘贴为数值后重新上传。",
            fields={"cells": formulas[:_MAX_LISTED_CELLS]},
        )
    return rows


def _header_map(header: tuple) -> dict[str, tuple[int, str]]:
    """Canonical key → (column index, header text as written)."""
    found: dict[str, tuple[int, str]] = {}
    problems: list[str] = []
    for index, value in enumerate(header):
        text = _text(value)
        for key, aliases in COLUMNS.items():
            if text in aliases:
                if key in found:
                    problems.append(f"表头“{text}”重复。")
                found[key] = (index, text)
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in found]
    if missing:
        problems.append(f"缺少必需的表头：{'、'.join(missing)}。")
    if ("home_lat" in found) != ("home_lng" in found):
        problems.append("常住地纬度和常住地经度两列需同时提供。")
    if problems:
        raise RosterMissingHeaders(
            " ".join(problems),
            fields={"headers": [*problems, f"第一行应包含：{'、'.join(TEMPLATE_HEADERS)}。"]},
        )
    return found


def _check_rows(rows: list[tuple[int, tuple]], columns: dict[str, tuple[int, str]]):
    """Every data row checked against the database; all errors at once."""
    errors = _Errors()
    teams = {team.name: team for team in Team.objects.all()}
    specialties = list(Specialty.objects.all())
    by_name = {specialty.name: specialty for specialty in specialties}
    by_code = {specialty.code.lower(): specialty for specialty in specialties}

    def cell(values: tuple, key: str) -> object:
        index = columns[key][0]
        return values[index] if index < len(values) else None

    checked: list[RosterRow] = []
    first_row_of_phone: dict[str, int] = {}
    for number, values in rows:
        header = {key: text for key, (_, text) in columns.items()}
        name = _text(cell(values, "name"))
        if not name:
            errors.add(number, header["name"], "姓名不能为空。")
        elif len(name) > _MAX_NAME:
            errors.add(number, header["name"], f"姓名不能超过 {_MAX_NAME} 个字。")

        raw_phone = cell(values, "phone")
        phone = normalize_phone(raw_phone)
        if not _text(raw_phone):
            errors.add(number, header["phone"], "手机号不能为空。")
        elif phone is None:
            errors.add(number, header["phone"], f"“{_text(raw_phone)}”不是 11 位中国大陆手机号。")
        elif phone in first_row_of_phone:
            errors.add(
                number, header["phone"], f"与第 {first_row_of_phone[phone]} 行的手机号重复。"
            )
        else:
            first_row_of_phone[phone] = number

        row = RosterRow(row=number, name=name, phone=phone or "", present=frozenset(columns))

        if "sector" in columns:
            row.sector = _text(cell(values, "sector"))
            if len(row.sector) > _MAX_SECTOR:
                errors.add(number, header["sector"], f"界别不能超过 {_MAX_SECTOR} 个字。")

        if "team" in columns and (team_name := _text(cell(values, "team"))):
            row.team = teams.get(team_name)
            if row.team is None:
                errors.add(number, header["team"], f"团队“{team_name}”不存在。")
            elif not row.team.active:
                errors.add(number, header["team"], f"团队“{team_name}”已停用。")

        if "specialties" in columns:
            row.specialties = []
            tokens = [t for t in _SPECIALTY_SPLIT_RE.split(_text(cell(values, "specialties"))) if t]
            for token in tokens:
                specialty = by_name.get(token) or by_code.get(token.lower())
                if specialty is None or not specialty.active:
                    errors.add(number, header["specialties"], f"专长“{token}”不存在或已停用。")
                elif specialty not in row.specialties:
                    row.specialties.append(specialty)

        if "home_lat" in columns:
            lat, lng = cell(values, "home_lat"), cell(values, "home_lng")
            if _text(lat) or _text(lng):
                try:
                    row.home = validate_point(lat, lng)
                except InvalidCoordinates as exc:
                    for key, messages in (exc.fields or {}).items():
                        for message in messages:
                            errors.add(number, header[f"home_{key}"], message)
        checked.append(row)

    _check_accounts(checked, columns["phone"][1], errors)
    if errors.fields:
        raise RosterInvalid(
            f"名单中有 {errors.rows()} 行存在错误，未导入任何数据。", fields=errors.fields
        )
    return checked


def _check_accounts(rows: list[RosterRow], phone_header: str, errors: _Errors) -> None:
    """A new member's phone must not be the login of another member's account."""
    phones = [row.phone for row in rows if row.phone]
    known = set(Member.objects.filter(phone__in=phones).values_list("phone", flat=True))
    taken = set(
        User.objects.filter(
            username__in=set(phones) - known, member_profile__isnull=False
        ).values_list("username", flat=True)
    )
    for row in rows:
        if row.phone in taken:
            errors.add(row.row, phone_header, "该手机号已是其他委员的登录账号。")


def check_roster(*, stream: IO[bytes], filename: str, size: int) -> list[RosterRow]:
    """Read and check a roster upload; raise on the first structural problem or bad rows."""
    workbook = _open_workbook(stream=stream, filename=filename, size=size)
    try:
        rows = _read_rows(workbook)
    finally:
        workbook.close()
    if not rows:
        raise RosterEmpty("名单是空的：第一行应为表头。")
    header_row, *data = rows
    if header_row[0] != 1:
        raise RosterMissingHeaders(
            "名单第一行必须是表头。", fields={"headers": ["第一行为空，表头应写在第一行。"]}
        )
    columns = _header_map(header_row[1])
    if not data:
        raise RosterEmpty()
    return _check_rows(data, columns)


@transaction.atomic
def roster_import(*, actor: User | None, rows: Sequence[RosterRow]) -> RosterResult:
    """Create or update one member per checked row, all or nothing."""
    existing = {
        member.phone: member
        for member in Member.objects.select_related("user").filter(
            phone__in=[row.phone for row in rows]
        )
    }
    created = updated = 0
    accounts: list[RosterAccount] = []
    for row in rows:
        member = existing.get(row.phone)
        if member is None:
            member, activation = writes.new_member(
                phone=row.phone,
                name=row.name,
                sector=row.sector or "",
                team=row.team,
                specialties=row.specialties or (),
                home=row.home,
            )
            created += 1
            if activation is not None:
                accounts.append(
                    RosterAccount(
                        row=row.row,
                        member=member.pk,
                        name=member.name,
                        phone=member.phone,
                        activation_code=activation.code,
                        activation_expires_at=activation.expires_at,
                    )
                )
            verb = "member.created"
        else:
            # Being on the roster puts a member back on it.
            writes.apply_member(member, {**row.changes(), "active": True})
            updated += 1
            verb = "member.updated"
        record_event(
            actor=actor, verb=verb, obj=member, payload={"source": "roster", "row": row.row}
        )
    return RosterResult(rows=len(rows), created=created, updated=updated, accounts=accounts)


def import_roster(
    *, stream: IO[bytes], filename: str, size: int, actor: User | None
) -> RosterResult:
    """Check the whole roster, then create or update its members in one transaction."""
    rows = check_roster(stream=stream, filename=filename, size=size)
    return roster_import(actor=actor, rows=rows)


def template_workbook(*, example_team: str = "", example_specialties: str = "") -> bytes:
    """An empty roster with the headers, one example row and notes on each header."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "委员名单"
    sheet.append(TEMPLATE_HEADERS)
    notes = {
        "姓名": "必填。",
        "手机号": "必填，11 位手机号，也是登录用户名。请将本列设为文本格式。",
        "界别": "选填。",
        "团队": "选填，须与系统中已有团队名称一致。",
        "专长": "选填，多个用“、”分隔，可填名称或代码。",
        "常住地纬度": "选填，WGS-84 十进制度，与经度同时填写。",
        "常住地经度": "选填，WGS-84 十进制度，与纬度同时填写。",
    }
    for cell in sheet[1]:
        cell.comment = Comment(notes[cell.value], "我为群众办一事")
    sheet.append(
        [
            "王小明",
            "13900000000",
            "经济界",
            example_team,
            example_specialties,
            30.0194,
            122.1028,
        ]
    )
    for row in sheet.iter_rows(min_col=2, max_col=2):
        for cell in row:
            cell.number_format = "@"
    for column, width in zip("ABCDEFG", (12, 16, 14, 20, 24, 12, 12), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
