"""OpenAPI examples of the main operations: what a client developer sees in Swagger UI and in
generated clients. Chinese text as a station writes it, times in Beijing time (+08:00), the
error bodies exactly as backend.exceptions shapes them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample


def error_example(name: str, status: int, code: str, detail: str, **extra) -> dict:
    """An error response as the API gives it, ``{"code", "detail", ...extra}``, for
    ``error_codes(..., examples=...)`` (backend.schema puts it on the ``status`` response)."""
    return {"status": str(status), "name": name, "value": {"code": code, "detail": detail, **extra}}


REQUEST_CREATE = OpenApiExample(
    "敬老院义诊",
    summary="驿站发布一项义诊需求",
    value={
        "station": 3,
        "village": 12,
        "campaign": 1,
        "title": "敬老院老人健康义诊",
        "description": "为敬老院 40 位老人测量血压、血糖，讲解冬季用药注意事项。",
        "specialties": [2],
        "address": "城关镇东门村敬老院一楼活动室",
        "starts_at": "2026-12-12T09:00:00+08:00",
        "ends_at": "2026-12-12T11:30:00+08:00",
        "slots": 4,
        "contact_name": "王丽",
        "contact_phone": "13805761234",
    },
    request_only=True,
)

REQUEST_PATCH = OpenApiExample(
    "推迟半小时",
    summary="改时间与名额",
    value={
        "starts_at": "2026-12-12T09:30:00+08:00",
        "ends_at": "2026-12-12T12:00:00+08:00",
        "slots": 5,
    },
    request_only=True,
)

CLAIM_ERRORS = [
    error_example("名额已满", 409, "request_full", "该需求名额已满，可加入候补。"),
    error_example(
        "时间冲突",
        409,
        "time_conflict",
        "您在该时间段已有其他认领。",
        conflicting_request=57,
    ),
    error_example(
        "邀请优先期",
        403,
        "invite_window",
        "该需求目前仅限受邀团队认领。",
        invite_until="2026-12-10T18:00:00+08:00",
    ),
    error_example("不是委员", 403, "permission_denied", "您没有执行该操作的权限。"),
]

CHECK_IN = OpenApiExample(
    "在敬老院门口签到",
    value={"lat": 28.6712, "lng": 121.4203, "coord_type": "gcj02"},
    request_only=True,
)

CHECK_IN_ERRORS = [
    error_example(
        "距离过远",
        422,
        "too_far",
        "您距离服务地点约 1350 米，超出 300 米的签到范围。",
        distance_m=1350,
        geofence_m=300,
    ),
    error_example(
        "不在签到时间",
        409,
        "check_in_window",
        "签到时间为 12月12日 08:30 至 12月12日 11:30。",
        opens_at="2026-12-12T08:30:00+08:00",
        closes_at="2026-12-12T11:30:00+08:00",
    ),
]

CANCEL = OpenApiExample(
    "临时有事",
    value={"reason": "家中老人临时住院，无法按时参加，抱歉。"},
    request_only=True,
)

RECORD_CREATE = OpenApiExample(
    "义诊完成",
    summary="提交服务记录",
    value={
        "people_served": 38,
        "enterprises_served": 0,
        "households_visited": 0,
        "summary": "为 38 位老人测量血压血糖，发现 3 位血压偏高，已建议其家属陪同到镇卫生院复查。",
        "participants": [101, 102, 105],
    },
    request_only=True,
)

RECORD_ERRORS = [
    error_example(
        "已有记录",
        409,
        "record_exists",
        "该需求已有待核实或已核实的服务记录。",
        record=88,
    ),
    error_example(
        "参与人不符",
        400,
        "invalid_participants",
        "参与人须为该需求中已签到的认领，以下认领 ID 不符合：104。",
        fields={"participants": ["参与人须为该需求中已签到的认领，以下认领 ID 不符合：104。"]},
        invalid=[104],
    ),
]

VERIFY_APPROVE = OpenApiExample(
    "通过并更正时长",
    value={
        "approved": True,
        "note": "照片与签到一致；王建国 10:40 提前离开，时长按 100 分钟确认。",
        "hours": [{"claim": 102, "minutes": 100, "reason": "10:40 提前离开"}],
    },
    request_only=True,
)

VERIFY_REJECT = OpenApiExample(
    "退回",
    value={"approved": False, "note": "服务人次与签到人数不符，请补充现场照片后重新提交。"},
    request_only=True,
)

VERIFY_ERRORS = [
    error_example(
        "异常需说明",
        400,
        "flags_not_acknowledged",
        "该记录有异常标记，请在核实意见中说明核查情况。",
        fields={"note": ["该记录有异常标记，请说明核查情况。"]},
        flags=["people_above_expected"],
    ),
]

INTAKE_CREATE = OpenApiExample(
    "扫码点单",
    summary="群众扫驿站二维码提交需求",
    value={
        "code": "K7Q2M9XA",
        "village": 12,
        "specialty": 2,
        "description": "家里老人腿脚不便，想请医生上门量一下血压，最好周末上午。",
        "phone": "13905769876",
    },
    request_only=True,
)

INTAKE_RECEIPT = OpenApiExample(
    "回执",
    value={
        "ticket": "T8W3KD2P5QZ7",
        "ticket_url": "https://example.gov.cn/intake/t/T8W3KD2P5QZ7/",
        "status": "new",
    },
    response_only=True,
    status_codes=["201"],
)

INTAKE_ERRORS = [
    error_example(
        "重复提交", 409, "intake_duplicate", "您已提交过相同的诉求，驿站正在处理，请勿重复提交。"
    ),
    error_example("提交过于频繁", 429, "intake_throttled", "提交过于频繁，请稍后再试。"),
]


def _kind(
    kind: str,
    label: str,
    records: int,
    people: int,
    enterprises: int,
    households: int,
    participations: int,
    minutes: int,
) -> dict:
    return {
        "kind": kind,
        "label": label,
        "records": records,
        "people_served": people,
        "enterprises_served": enterprises,
        "households_visited": households,
        "participations": participations,
        "service_minutes": minutes,
        "service_hours": round(minutes / 60, 2),
    }


STATS_SUMMARY = OpenApiExample(
    "2026 年上半年",
    summary="全区，1 月至 6 月",
    value={
        "from": "2026-01-01",
        "to": "2026-06-30",
        "town": None,
        "campaign_kind": None,
        "people_served": 1286,
        "people_served_confirmed": 1240,
        "enterprises_served": 37,
        "households_visited": 214,
        "records_verified": 96,
        "participations": 318,
        "active_members": 74,
        "service_minutes": 38040,
        "service_hours": 634.0,
        "requests_posted": 112,
        "requests_completed": 101,
        "requests_verified": 96,
        "requests_cancelled": 4,
        "requests_expired": 3,
        "completion_rate": 0.935,
        "median_hours_to_claim": 5.5,
        "median_hours_to_verify": 26.0,
        "by_kind": [
            _kind("warm_enterprise", "暖企", 21, 160, 37, 0, 63, 7560),
            _kind("warm_village", "暖岙", 48, 812, 0, 176, 171, 20520),
            _kind("warm_heart", "暖心", 27, 314, 0, 38, 84, 9960),
        ],
        "campaigns": [
            {
                "id": 1,
                "name": "2026 暖岙·送法下乡",
                "kind": "warm_village",
                "starts_on": "2026-03-01",
                "ends_on": "2026-11-30",
                "target_served": 1500,
                "people_served": 812,
                "progress": 0.541,
            }
        ],
        "satisfaction": {"ratings": 58, "mean": 4.6, "share_4_5": 0.914},
    },
    response_only=True,
    status_codes=["200"],
)
