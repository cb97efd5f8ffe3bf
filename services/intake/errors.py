"""Errors of the residents' intake (docs/intake.md); tests import the code constants.

The public page shows the same Chinese ``detail`` the API returns, so a resident and the
mini-program read one message per mistake.
"""

from __future__ import annotations

from accounts.errors import ApplicationError, Conflict, Forbidden, InvalidInput, TooManyRequests

INTAKE_CODE_UNKNOWN = "intake_code_unknown"
INTAKE_CODE_RETIRED = "intake_code_retired"
INTAKE_THROTTLED = "intake_throttled"
INTAKE_DUPLICATE = "intake_duplicate"
INTAKE_REFUSED = "intake_refused"
INTAKE_NOT_NEW = "intake_not_new"
INTAKE_TICKET_UNKNOWN = "intake_ticket_unknown"
INTAKE_PHOTOS_CLOSED = "intake_photos_closed"
RATING_NOT_YET = "rating_not_yet"
RATING_LOCKED = "rating_locked"
REFERRAL_INVALID = "referral_invalid"
MERGE_TARGET_INVALID = "merge_target_invalid"


class IntakeCodeUnknown(ApplicationError):
    """404: no poster carries this code."""

    status_code = 404
    default_code = INTAKE_CODE_UNKNOWN
    default_detail = "二维码无效：没有找到对应的驿站或村/社区，请核对后重新扫码。"


class IntakeCodeRetired(ApplicationError):
    """410: the poster was replaced; its code takes no more needs."""

    status_code = 410
    default_code = INTAKE_CODE_RETIRED
    default_detail = "该二维码已停用，请扫描驿站或村/社区张贴的新二维码，或直接联系驿站。"


class IntakeThrottled(TooManyRequests):
    """429: too many submissions from this address or for this phone number."""

    default_code = INTAKE_THROTTLED
    default_detail = "提交过于频繁，请稍后再试。"


class IntakeDuplicate(Conflict):
    """409: the same phone posted the same need a moment ago."""

    default_code = INTAKE_DUPLICATE
    default_detail = "您已提交过相同的诉求，驿站正在处理，请勿重复提交。"


class IntakeRefused(InvalidInput):
    """400: the form was filled by a robot (the hidden field is not empty)."""

    default_code = INTAKE_REFUSED
    default_detail = "提交未被受理，请刷新页面后重新填写。"


class IntakeNotNew(Conflict):
    """409: somebody triaged this intake already."""

    default_code = INTAKE_NOT_NEW
    default_detail = "该诉求已处理，不能再次受理。"


class IntakeTicketUnknown(ApplicationError):
    """404: no intake has this ticket."""

    status_code = 404
    default_code = INTAKE_TICKET_UNKNOWN
    default_detail = "没有找到该回执，请核对回执链接。"


class IntakePhotosClosed(Conflict):
    """409: photos are added only to a new intake, within INTAKE_PHOTO_WINDOW_MINUTES."""

    default_code = INTAKE_PHOTOS_CLOSED
    default_detail = "诉求已开始处理或已超过补充照片的时限，不能再添加照片。"


class RatingNotYet(Conflict):
    """409: the service is not verified yet (or the intake became no service)."""

    default_code = RATING_NOT_YET
    default_detail = "服务完成并经驿站核实后才能评价。"


class RatingLocked(Conflict):
    """409: the rating can no longer be changed."""

    default_code = RATING_LOCKED
    default_detail = "评价已超过可修改期限，不能再修改。"


class ReferralInvalid(InvalidInput):
    """400: a referral names neither another active station nor the office, or both."""

    default_code = REFERRAL_INVALID
    default_detail = "请指定转交的其他驿站，或转交政协机关（二选一）。"


class MergeTargetInvalid(InvalidInput):
    """400: the request to merge into is not the station's, or already closed."""

    default_code = MERGE_TARGET_INVALID
    default_detail = "只能合并到本驿站尚未结束的需求。"


class NotIntakeManager(Forbidden):
    """403: only the station's managers and staff handle its intake codes."""

    default_detail = "仅该驿站的管理员或机关工作人员可以执行此操作。"


RATING_EXISTS = "rating_exists"
NOT_TICKET_OWNER = "not_ticket_owner"


class RatingExists(Conflict):
    """409: the intake is rated already (change it with PUT while the window lasts)."""

    default_code = RATING_EXISTS
    default_detail = "您已评价过，如需修改请使用修改评价。"


class NotTicketOwner(Forbidden):
    """403: a mini-program intake is rated by the WeChat user who posted it only."""

    default_code = NOT_TICKET_OWNER
    default_detail = "只能评价自己提交的诉求。"
