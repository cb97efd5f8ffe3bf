"""Errors of the services app, by capability; tests import the code constants.

Bad coordinates, radii, bounding boxes and coordinate types reuse ``stations.errors``
(``invalid_coordinates``, ``invalid_radius``, ``invalid_bbox``, ``unknown_coord_type``), so a
client sees one code per kind of mistake across the API.
"""

from __future__ import annotations

from accounts.errors import ApplicationError, Conflict, Forbidden, InvalidInput, Unprocessable

# ---------------------------------------------------------------- requests, claims, idempotency
REQUEST_FULL = "request_full"
ALREADY_CLAIMED = "already_claimed"
REQUEST_NOT_OPEN = "request_not_open"
TIME_CONFLICT = "time_conflict"
INVITE_WINDOW = "invite_window"
CLAIM_REJECTED = "claim_rejected"
MEMBER_PROFILE_REQUIRED = "member_profile_required"
NOT_CLAIMANT = "not_claimant"
CLAIM_NOT_ACTIVE = "claim_not_active"
CANCEL_WINDOW_CLOSED = "cancel_window_closed"
ALREADY_CHECKED_IN = "already_checked_in"
CHECK_IN_WINDOW = "check_in_window"
TOO_FAR = "too_far"
NOT_CHECKED_IN = "not_checked_in"
ALREADY_CHECKED_OUT = "already_checked_out"
CLAIM_NOT_REJECTABLE = "claim_not_rejectable"
REQUEST_NOT_EDITABLE = "request_not_editable"
REQUEST_NOT_CANCELLABLE = "request_not_cancellable"
REQUEST_HAS_CLAIMS = "request_has_claims"
SLOTS_BELOW_CLAIMED = "slots_below_claimed"
IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"


class RequestFull(Conflict):
    """409: every slot of the request is taken (join the waitlist with ``?waitlist=1``)."""

    default_code = REQUEST_FULL
    default_detail = "该需求名额已满，可加入候补。"


class AlreadyClaimed(Conflict):
    """409: the member already holds a claim (or a waitlist place) on this request."""

    default_code = ALREADY_CLAIMED
    default_detail = "您已认领（或候补）该需求。"


class RequestNotOpen(Conflict):
    """409: the request is not taking claims (cancelled, expired, started, finished)."""

    default_code = REQUEST_NOT_OPEN
    default_detail = "该需求当前不可认领。"


class TimeConflict(Conflict):
    """409: the member holds another claim whose time window overlaps this one."""

    default_code = TIME_CONFLICT
    default_detail = "您在该时间段已有其他认领。"


class InviteWindow(Forbidden):
    """403: the request is reserved for an invited team until ``invite_until``."""

    default_code = INVITE_WINDOW
    default_detail = "该需求目前仅限受邀团队认领。"


class ClaimRejected(Conflict):
    """409: the station manager declined this member's claim on this request before."""

    default_code = CLAIM_REJECTED
    default_detail = "驿站管理员已拒绝您对该需求的认领，不能再次认领。"


class MemberProfileRequired(Forbidden):
    """403: the account has the member role but no active member profile."""

    default_code = MEMBER_PROFILE_REQUIRED
    default_detail = "您的账号没有有效的委员档案。"


class NotClaimant(Forbidden):
    """403: only the member who made the claim may do this."""

    default_code = NOT_CLAIMANT
    default_detail = "只有认领人本人可以执行该操作。"


class ClaimNotActive(Conflict):
    """409: the claim is in a state that does not allow this action."""

    default_code = CLAIM_NOT_ACTIVE
    default_detail = "该认领当前状态不允许此操作。"


class CancelWindowClosed(Conflict):
    """409: a claim can be cancelled only before the request starts."""

    default_code = CANCEL_WINDOW_CLOSED
    default_detail = "服务已开始，不能再取消认领。"


class AlreadyCheckedIn(Conflict):
    """409: the claim is already checked in."""

    default_code = ALREADY_CHECKED_IN
    default_detail = "您已签到。"


class CheckInWindow(Conflict):
    """409: check-in is open from shortly before starts_at until ends_at."""

    default_code = CHECK_IN_WINDOW
    default_detail = "当前不在签到时间内。"


class TooFar(Unprocessable):
    """422: the check-in point lies outside the geofence; the body carries the distance."""

    default_code = TOO_FAR
    default_detail = "您距离服务地点太远，无法签到。"


class NotCheckedIn(Conflict):
    """409: check-out needs a check-in first."""

    default_code = NOT_CHECKED_IN
    default_detail = "尚未签到，不能签退。"


class AlreadyCheckedOut(Conflict):
    """409: the claim is already checked out."""

    default_code = ALREADY_CHECKED_OUT
    default_detail = "您已签退。"


class ClaimNotRejectable(Conflict):
    """409: only claims and waitlist places not yet checked in can be rejected."""

    default_code = CLAIM_NOT_REJECTABLE
    default_detail = "该认领当前状态不能被拒绝。"


class RequestNotEditable(Conflict):
    """409: a request can be edited only while open or full."""

    default_code = REQUEST_NOT_EDITABLE
    default_detail = "需求已开始、结束或取消，不能再修改。"


class RequestNotCancellable(Conflict):
    """409: a request can be cancelled only while open or full."""

    default_code = REQUEST_NOT_CANCELLABLE
    default_detail = "需求已开始、结束或取消，不能再取消。"


class RequestHasClaims(Conflict):
    """409: times cannot move once members have claimed (their plans depend on them)."""

    default_code = REQUEST_HAS_CLAIMS
    default_detail = "已有委员认领，不能修改服务时间；如需改期请取消后重新发布。"


class SlotsBelowClaimed(Conflict):
    """409: slots may not drop below the places already claimed."""

    default_code = SLOTS_BELOW_CLAIMED
    default_detail = "名额不能少于已认领人数。"


class IdempotencyMismatch(Unprocessable):
    """422: the Idempotency-Key was used before with a different request."""

    default_code = IDEMPOTENCY_MISMATCH
    default_detail = "该幂等键已用于内容不同的请求。"


class IdempotencyInProgress(Conflict):
    """409: a request with this Idempotency-Key is still being processed."""

    default_code = IDEMPOTENCY_IN_PROGRESS
    default_detail = "使用该幂等键的请求仍在处理中，请稍后重试。"

    def __init__(self, *, wait: int) -> None:
        super().__init__()
        # Sent as Retry-After (backend.exceptions): when to ask again.
        self.wait = wait


class InvalidIdempotencyKey(InvalidInput):
    """400: the Idempotency-Key header is empty, too long or not printable ASCII."""

    default_code = INVALID_IDEMPOTENCY_KEY
    default_detail = "Idempotency-Key 必须是 1 到 100 个可见 ASCII 字符。"


class StoredError(ApplicationError):
    """A stored error response replayed for an Idempotency-Key: same status, same body."""

    def __init__(self, *, status_code: int, body: dict) -> None:
        body = dict(body)
        code = body.pop("code", "error")
        detail = body.pop("detail", "")
        fields = body.pop("fields", None)
        super().__init__(detail, code=code, fields=fields, extra=body)
        self.status_code = status_code


# ---------------------------------------------------------------- matching, the feed and the map
LOCATION_REQUIRED = "location_required"


class LocationRequired(InvalidInput):
    """400: the feed needs a point: ``lat``/``lng`` in the query or the member's home."""

    default_code = LOCATION_REQUIRED
    default_detail = "请提供当前位置（lat、lng），或先在个人资料中设置常住地。"


# ---------------------------------------------------------------- statistics and exports
INVALID_DATE_RANGE = "invalid_date_range"
DATE_RANGE_TOO_LONG = "date_range_too_long"
TOWN_OUT_OF_SCOPE = "town_out_of_scope"
EXPORT_TOO_LARGE = "export_too_large"


class StatsForbidden(Forbidden):
    """403: statistics are for staff and station managers."""

    default_detail = "仅政协机关工作人员和驿站/工作室管理员可以查看统计。"


class InvalidDateRange(InvalidInput):
    """400: ``from`` is after ``to``."""

    default_code = INVALID_DATE_RANGE
    default_detail = "开始日期不能晚于结束日期。"


class DateRangeTooLong(InvalidInput):
    """400: the period is longer than STATS_MAX_RANGE_DAYS."""

    default_code = DATE_RANGE_TOO_LONG
    default_detail = "统计区间过长，请缩小起止日期。"


class TownOutOfScope(Forbidden):
    """403: a station manager asked for a town none of their stations is in."""

    default_code = TOWN_OUT_OF_SCOPE
    default_detail = "您只能查看所管理驿站所在镇街的统计。"


class ExportTooLarge(Unprocessable):
    """422: a sheet of the export would exceed STATS_EXPORT_MAX_ROWS rows."""

    default_code = EXPORT_TOO_LARGE
    default_detail = "导出行数超过上限，请缩小统计范围。"


# ---------------------------------------------------------------- records, verification, points

RECORD_EXISTS = "record_exists"
REQUEST_NOT_RECORDABLE = "request_not_recordable"
NOT_RECORD_SUBMITTER = "not_record_submitter"
INVALID_PARTICIPANTS = "invalid_participants"
CANNOT_VERIFY_OWN_RECORD = "cannot_verify_own_record"
NOT_RECORD_VERIFIER = "not_record_verifier"
VERIFIER_IS_PARTICIPANT = "verifier_is_participant"
ALREADY_VERIFIED = "already_verified"
RECORD_NOT_PENDING = "record_not_pending"
RECORD_NOT_VERIFIED = "record_not_verified"
NOTE_REQUIRED = "note_required"
FLAGS_NOT_ACKNOWLEDGED = "flags_not_acknowledged"
INVALID_HOURS = "invalid_hours"
HOURS_ABOVE_WINDOW = "hours_above_window"
INVALID_PERIOD = "invalid_period"


class RecordExists(Conflict):
    """409: the request already has a live (submitted or verified) record."""

    default_code = RECORD_EXISTS
    default_detail = "该需求已有待核实或已核实的服务记录。"


class RequestNotRecordable(Conflict):
    """409: a record needs a request under way (someone checked in) or completed."""

    default_code = REQUEST_NOT_RECORDABLE
    default_detail = "该需求尚无人签到或已取消，不能提交服务记录。"


class NotRecordSubmitter(Forbidden):
    """403: only a checked-in claimant, the station's managers or staff submit a record."""

    default_code = NOT_RECORD_SUBMITTER
    default_detail = "只有已签到的认领委员、该驿站管理员或机关工作人员可以提交服务记录。"


class InvalidParticipants(InvalidInput):
    """400: participants must be claims of this request that checked in."""

    default_code = INVALID_PARTICIPANTS
    default_detail = "参与人必须是该需求中已签到的认领。"


class CannotVerifyOwnRecord(Forbidden):
    """403: nobody verifies a record they submitted, managers and staff included."""

    default_code = CANNOT_VERIFY_OWN_RECORD
    default_detail = "不能核实自己提交的服务记录，请由其他管理员或机关工作人员核实。"


class VerifierIsParticipant(Forbidden):
    """403: nobody verifies a service they took part in (谁记录谁证明: the verifier is a second
    party), managers and staff included."""

    default_code = VERIFIER_IS_PARTICIPANT
    default_detail = "您参与了这次服务，不能核实它的记录，请由其他管理员或机关工作人员核实。"


class NotRecordVerifier(Forbidden):
    """403: only the station's managers and staff verify its records."""

    default_code = NOT_RECORD_VERIFIER
    default_detail = "仅该驿站的管理员或机关工作人员可以核实服务记录。"


class AlreadyVerified(Conflict):
    """409: the record was verified already (by this or another reviewer)."""

    default_code = ALREADY_VERIFIED
    default_detail = "该服务记录已核实。"


class RecordNotPending(Conflict):
    """409: only submitted records can be reviewed (this one was rejected or revoked)."""

    default_code = RECORD_NOT_PENDING
    default_detail = "该服务记录不在待核实状态。"


class RecordNotVerified(Conflict):
    """409: only a verified record's verification can be revoked."""

    default_code = RECORD_NOT_VERIFIED
    default_detail = "只能撤销已核实的服务记录。"


class NoteRequired(InvalidInput):
    """400: a rejection needs a note saying what to fix."""

    default_code = NOTE_REQUIRED
    default_detail = "退回服务记录时必须填写核实意见。"


class FlagsNotAcknowledged(InvalidInput):
    """400: a record with anomaly flags is reviewed only with a note acknowledging them."""

    default_code = FLAGS_NOT_ACKNOWLEDGED
    default_detail = "该记录有异常标记，请在核实意见中说明核查情况。"


class InvalidHours(InvalidInput):
    """400: hours given for a claim that is not a participant, twice, without a reason for a
    correction, or with a rejection."""

    default_code = INVALID_HOURS
    default_detail = "服务时长填写有误。"


class HoursAboveWindow(InvalidInput):
    """400: a participant's corrected minutes exceed the request's window plus grace."""

    default_code = HOURS_ABOVE_WINDOW
    default_detail = "服务时长不能超过该需求的服务时段（含前后宽限）。"


class InvalidPeriod(InvalidInput):
    """400: ``from`` must not be after ``to``."""

    default_code = INVALID_PERIOD
    default_detail = "开始日期不能晚于结束日期。"


# ---------------------------------------------------------------- service archive, certificates

PERIOD_TOO_LONG = "period_too_long"
NO_VERIFIED_SERVICE = "no_verified_service"
TOO_MANY_SERVICES = "too_many_services"
NOT_HISTORY_VIEWER = "not_history_viewer"


class PeriodTooLong(InvalidInput):
    """400: a certificate's period is longer than CERTIFICATE_MAX_DAYS."""

    default_code = PERIOD_TOO_LONG
    default_detail = "证明的起止期间过长。"


class NoVerifiedService(Unprocessable):
    """422: the period holds none of the member's verified services."""

    default_code = NO_VERIFIED_SERVICE
    default_detail = "该期间内没有已核实的服务记录，无法出具志愿服务证明。"


class TooManyServices(Unprocessable):
    """422: the period holds more services than one certificate lists (CERTIFICATE_MAX_SERVICES)."""

    default_code = TOO_MANY_SERVICES
    default_detail = "该期间内的服务过多，请分段申请证明。"


class NotHistoryViewer(Forbidden):
    """403: a member's service history is theirs, their team leader's and staff's to read."""

    default_code = NOT_HISTORY_VIEWER
    default_detail = "只有委员本人、其所在团队负责人和机关工作人员可以查看履职档案。"


# ---------------------------------------------------------------- team leaders (派单)
NOT_TEAM_LEADER = "not_team_leader"
TEAM_NOT_INVITED = "team_not_invited"
ASSIGNEE_NOT_IN_TEAM = "assignee_not_in_team"
ASSIGNEE_INACTIVE = "assignee_inactive"
ALREADY_ASSIGNED = "already_assigned"
NOT_ASSIGNEE = "not_assignee"
ASSIGNMENT_NOT_PENDING = "assignment_not_pending"


class NotTeamLeader(Forbidden):
    """403: only the team's leader (or staff, for reads) may do this."""

    default_code = NOT_TEAM_LEADER
    default_detail = "只有该团队的负责人可以进行此操作。"


class TeamNotInvited(Forbidden):
    """403: a leader dispatches only on requests their team was invited to."""

    default_code = TEAM_NOT_INVITED
    default_detail = "该需求没有邀请您负责的团队，不能派单。"


class AssigneeNotInTeam(InvalidInput):
    """400: the member assigned is not in the invited team."""

    default_code = ASSIGNEE_NOT_IN_TEAM
    default_detail = "只能派单给本团队的委员。"


class AssigneeInactive(InvalidInput):
    """400: the member assigned is no longer on the roster (or has no member account)."""

    default_code = ASSIGNEE_INACTIVE
    default_detail = "该委员已不在册，不能派单。"


class AlreadyAssigned(Conflict):
    """409: the member already has a pending assignment on this request."""

    default_code = ALREADY_ASSIGNED
    default_detail = "已向该委员派过此单，正在等待答复。"


class NotAssignee(Forbidden):
    """403: only the member assigned answers an assignment."""

    default_code = NOT_ASSIGNEE
    default_detail = "只有被派单的委员本人可以答复。"


class AssignmentNotPending(Conflict):
    """409: the assignment was already accepted or declined."""

    default_code = ASSIGNMENT_NOT_PENDING
    default_detail = "该派单已答复过。"


# ---------------------------------------------------------------- recurring services
SERIES_TOO_LONG = "series_too_long"
SERIES_ENDED = "series_ended"


class SeriesTooLong(InvalidInput):
    """400: the plan makes more occurrences than SERIES_MAX_OCCURRENCES."""

    default_code = SERIES_TOO_LONG
    default_detail = "周期服务的次数超过上限。"


class SeriesEnded(Conflict):
    """409: the series has no future occurrence left to change, cancel or claim."""

    default_code = SERIES_ENDED
    default_detail = "该周期服务已没有未开始的场次。"


# ---------------------------------------------------------------- calendar feed
CALENDAR_NOT_ISSUED = "calendar_not_issued"
CALENDAR_NOT_FOUND = "calendar_not_found"
CALENDAR_REVOKED = "calendar_revoked"


class CalendarNotIssued(ApplicationError):
    """404: the member has no live calendar URL to revoke."""

    status_code = 404
    default_code = CALENDAR_NOT_ISSUED
    default_detail = "您还没有开启日历订阅。"


class CalendarNotFound(ApplicationError):
    """404: no calendar has this URL."""

    status_code = 404
    default_code = CALENDAR_NOT_FOUND
    default_detail = "该日历订阅地址不存在。"


class CalendarRevoked(ApplicationError):
    """410: the calendar URL was revoked (or replaced by a new one)."""

    status_code = 410
    default_code = CALENDAR_REVOKED
    default_detail = "该日历订阅地址已停用，请在小程序中重新获取。"
