"""Errors of the 暖企 capability (docs/enterprises.md); tests import the code constants."""

from __future__ import annotations

from accounts.errors import ApplicationError, Conflict, Forbidden, InvalidInput

CREDIT_CODE_INVALID = "credit_code_invalid"
CREDIT_CODE_TAKEN = "credit_code_taken"
ENTERPRISE_INACTIVE = "enterprise_inactive"
ENTERPRISE_IMPORT_INVALID = "enterprise_import_invalid"
NOT_ENTERPRISE_LIAISON = "not_enterprise_liaison"
LIAISON_INVALID = "liaison_invalid"
VISIT_CAP_REACHED = "visit_cap_reached"
VISIT_TIME_INVALID = "visit_time_invalid"
NO_ENTERPRISE_CAMPAIGN = "no_enterprise_campaign"
APPEAL_WRONG_STATE = "appeal_wrong_state"
APPEAL_NOT_RATEABLE = "appeal_not_rateable"
DESK_TICKET_UNKNOWN = "desk_ticket_unknown"
APPEAL_TICKET_UNKNOWN = "appeal_ticket_unknown"
NOT_APPEAL_OWNER = "not_appeal_owner"


class CreditCodeInvalid(InvalidInput):
    """400: not a GB 32100-2015 code (length, charset or check character)."""

    default_code = CREDIT_CODE_INVALID
    default_detail = "统一社会信用代码不正确。"


class CreditCodeTaken(Conflict):
    """409: another enterprise already has this code."""

    default_code = CREDIT_CODE_TAKEN
    default_detail = "已有企业使用该统一社会信用代码。"


class EnterpriseInactive(Conflict):
    """409: the enterprise was deactivated."""

    default_code = ENTERPRISE_INACTIVE
    default_detail = "该企业已停用。"


class EnterpriseImportInvalid(InvalidInput):
    """400: rows of the workbook are wrong (each cell listed); nothing was imported."""

    default_code = ENTERPRISE_IMPORT_INVALID
    default_detail = "企业名单有误，未导入任何数据。"


class NotEnterpriseLiaison(Forbidden):
    """403: only the enterprise's current 暖企专员 (or staff) may do this."""

    default_code = NOT_ENTERPRISE_LIAISON
    default_detail = "您不是该企业当前的暖企专员。"


class LiaisonInvalid(InvalidInput):
    """400: the lead and deputies named are not active members, or repeat."""

    default_code = LIAISON_INVALID
    default_detail = "暖企专员须为在册委员，且牵头专员与协助专员不能重复。"


class VisitCapReached(Conflict):
    """409: 无事不扰 — the month's visits reached ENTERPRISE_VISITS_PER_MONTH."""

    default_code = VISIT_CAP_REACHED
    default_detail = "本月走访该企业已达上限（无事不扰），除非企业邀约。"


class VisitTimeInvalid(InvalidInput):
    """400: a visit that has not ended yet, or began too long ago to be logged now."""

    default_code = VISIT_TIME_INVALID
    default_detail = "走访时间不正确。"


class NoEnterpriseCampaign(Conflict):
    """409: no 暖企 campaign runs on the visit's day (or the one named is not 暖企)."""

    default_code = NO_ENTERPRISE_CAMPAIGN
    default_detail = "走访当天没有进行中的暖企活动，请先由机关创建活动。"


class AppealWrongState(Conflict):
    """409: the 诉求 is not in a state this move starts from (no step back, no skipping)."""

    default_code = APPEAL_WRONG_STATE
    default_detail = "该诉求当前状态不能进行此操作。"


class AppealNotRateable(Conflict):
    """409: a 诉求 is rated once, after 已办结."""

    default_code = APPEAL_NOT_RATEABLE
    default_detail = "诉求办结后才能评价，且只能评价一次。"


class DeskTicketUnknown(ApplicationError):
    """404: no enterprise has this service code."""

    status_code = 404
    default_code = DESK_TICKET_UNKNOWN
    default_detail = "没有找到该企业服务码，请核对二维码。"


class AppealTicketUnknown(ApplicationError):
    """404: the enterprise has no 诉求 with this id."""

    status_code = 404
    default_code = APPEAL_TICKET_UNKNOWN
    default_detail = "没有找到该诉求。"


class NotAppealOwner(Forbidden):
    """403: a 诉求 raised through the mini-program is rated by the WeChat user who raised it."""

    default_code = NOT_APPEAL_OWNER
    default_detail = "只能评价本企业微信账号提交的诉求。"
