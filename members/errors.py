"""Errors of specialties, teams, members, the roster import and account activation."""

from __future__ import annotations

from rest_framework import status

from accounts.errors import ApplicationError, Conflict

DUPLICATE_NAME = "duplicate_name"
DUPLICATE_CODE = "duplicate_code"
PHONE_TAKEN = "phone_taken"
INVALID_LEADER = "invalid_leader"
ACTIVATION_INVALID = "activation_invalid"
ROSTER_NOT_XLSX = "roster_not_xlsx"
ROSTER_TOO_LARGE = "roster_too_large"
ROSTER_EXTRA_SHEETS = "roster_extra_sheets"
ROSTER_FORMULAS = "roster_formulas"
ROSTER_MISSING_HEADERS = "roster_missing_headers"
ROSTER_EMPTY = "roster_empty"
ROSTER_TOO_MANY_ROWS = "roster_too_many_rows"
ROSTER_INVALID = "roster_invalid"


class DuplicateName(Conflict):
    """409: another specialty or team already has this name."""

    default_code = DUPLICATE_NAME
    default_detail = "名称已存在。"


class DuplicateCode(Conflict):
    """409: another specialty already has this code."""

    default_code = DUPLICATE_CODE
    default_detail = "代码已存在。"


class PhoneTaken(Conflict):
    """409: the phone number already belongs to another member or account."""

    default_code = PHONE_TAKEN
    default_detail = "该手机号已被其他委员或账号使用。"


class InvalidLeader(ApplicationError):
    """400: a team leader must be an active member."""

    default_code = INVALID_LEADER
    default_detail = "团队负责人必须是在册委员。"


class ActivationInvalid(ApplicationError):
    """400: phone and activation code do not match, or the code has expired or been used."""

    default_code = ACTIVATION_INVALID
    default_detail = "手机号或激活码不正确，或激活码已过期、已使用。"


class RosterNotXlsx(ApplicationError):
    """400: the upload is not an .xlsx workbook (or is macro-enabled)."""

    default_code = ROSTER_NOT_XLSX
    default_detail = "请上传 .xlsx 格式的 Excel 名单（不支持 .xls、.csv、含宏的文件）。"


class RosterTooLarge(ApplicationError):
    """413: the workbook is larger than ROSTER_MAX_BYTES (packed or unpacked)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ROSTER_TOO_LARGE
    default_detail = "名单文件过大。"


class RosterExtraSheets(ApplicationError):
    """400: the workbook has more than one sheet, so which one to read is ambiguous."""

    default_code = ROSTER_EXTRA_SHEETS
    default_detail = "名单只能有一个工作表，请删除其他工作表后重新上传。"


class RosterFormulas(ApplicationError):
    """400: cells hold formulas, whose values are not stored reliably in the file."""

    default_code = ROSTER_FORMULAS
    default_detail = "名单中含有公式，请将公式粘贴为数值后重新上传。"


class RosterMissingHeaders(ApplicationError):
    """400: the first row lacks required column headers."""

    default_code = ROSTER_MISSING_HEADERS
    default_detail = "名单第一行缺少必需的表头。"


class RosterEmpty(ApplicationError):
    """400: the workbook has headers but no data rows."""

    default_code = ROSTER_EMPTY
    default_detail = "名单中没有数据行。"


class RosterTooManyRows(ApplicationError):
    """400: more data rows than ROSTER_MAX_ROWS."""

    default_code = ROSTER_TOO_MANY_ROWS
    default_detail = "名单行数过多，请分批导入。"


class RosterInvalid(ApplicationError):
    """400: some rows are bad; ``fields`` names each as ``"row N.表头"``. Nothing was written."""

    default_code = ROSTER_INVALID
    default_detail = "名单中有错误，未导入任何数据。"
