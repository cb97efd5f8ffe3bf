"""Input and output serializers of service records, their review, and duty points."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.fields import MAX_ID
from members.pii import NameField, context_viewer, shown_name
from services.api import (
    CampaignRefSerializer,
    HoursField,
    HoursFiguresSerializer,
    NamedRefSerializer,
)
from services.models import (
    MAX_SLOTS,
    Claim,
    PointEntry,
    PointRule,
    ServiceHours,
    ServiceRecord,
    ServiceRequest,
)
from services.records import anomalies

SUMMARY_LENGTH = 2000
NOTE_LENGTH = 500
REASON_LENGTH = 200
# The schema's bound on minutes (a year); the real cap is the request's window plus grace
# (400 hours_above_window, services.records.hours.check_corrections).
MAX_HOURS_MINUTES = 366 * 24 * 60
_CAP_MESSAGE = "不能超过 %(limit_value)s。"


# ---------------------------------------------------------------- input


class RecordInputSerializer(strict.Serializer):
    """POST ``requests/{id}/record/``: what was done, for how many, and who took part."""

    # The caps are settings, read per request so an operator's change (or a test) applies.
    people_served = strict.IntegerField(
        min_value=0,
        validators=[strict.setting_max("RECORDS_MAX_PEOPLE_SERVED", _CAP_MESSAGE)],
        help_text="服务群众人次（≥0，上限见设置 RECORDS_MAX_PEOPLE_SERVED）",
    )
    enterprises_served = strict.IntegerField(
        min_value=0,
        required=False,
        default=0,
        validators=[strict.setting_max("RECORDS_MAX_ENTERPRISES_SERVED", _CAP_MESSAGE)],
        help_text="服务企业数（暖企；上限见设置 RECORDS_MAX_ENTERPRISES_SERVED）",
    )
    households_visited = strict.IntegerField(
        min_value=0,
        required=False,
        default=0,
        validators=[strict.setting_max("RECORDS_MAX_HOUSEHOLDS_VISITED", _CAP_MESSAGE)],
        help_text="走访户数（上限见设置 RECORDS_MAX_HOUSEHOLDS_VISITED）",
    )
    summary = strict.CharField(max_length=SUMMARY_LENGTH, help_text="服务内容（2000 字以内）")
    participants = serializers.ListField(
        child=strict.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_SLOTS,
        help_text="参与委员的认领 ID（须为该需求中已签到的认领，否则 400 invalid_participants）",
    )

    def validate_summary(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("请填写服务内容。")
        return value

    def validate_participants(self, value: list[int]) -> list[int]:
        return list(dict.fromkeys(value))


class HoursInputSerializer(strict.Serializer):
    """One participant's hours as the verifier confirms or corrects them."""

    claim = strict.IntegerField(min_value=1, max_value=MAX_ID, help_text="参与人的认领 ID")
    minutes = strict.IntegerField(
        min_value=0,
        max_value=MAX_HOURS_MINUTES,
        help_text="核实的服务时长（分钟）；不得超过该需求的服务时段加前后宽限",
    )
    reason = strict.CharField(
        max_length=REASON_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="更正原因：与签到签退所得时长不同时必填",
    )


class VerifyInputSerializer(strict.Serializer):
    """POST ``records/{id}/verify/``: approve or reject, with a note."""

    approved = strict.BooleanField(help_text="true 通过；false 退回")
    note = strict.CharField(
        max_length=NOTE_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="核实意见：退回时必填；记录有异常标记时必填（说明核查情况）",
    )
    hours = HoursInputSerializer(
        many=True,
        required=False,
        default=list,
        max_length=MAX_SLOTS,
        help_text="通过时可确认或更正各参与人的服务时长；未列出的参与人按签到签退时长确认",
    )


class RevokeInputSerializer(strict.Serializer):
    """POST ``records/{id}/revoke/``: why the verification is taken back."""

    reason = strict.CharField(max_length=REASON_LENGTH, help_text="撤销原因（必填）")


# ---------------------------------------------------------------- output


class PersonRefSerializer(strict.Serializer):
    """``{id, name}`` of a member, the name masked unless the viewer may see it (members.pii)."""

    id = strict.IntegerField()
    name = NameField()


@extend_schema_field(NamedRefSerializer(allow_null=True))
class UserRefField(serializers.Field):
    """``{id, name}`` of an account (submitter, reviewer), masked like members' names."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, user):
        name = user.name or user.username
        return {"id": user.pk, "name": shown_name(context_viewer(self.context), user.pk, name)}


class RecordRequestSerializer(strict.Serializer):
    id = strict.IntegerField()
    title = strict.CharField()
    status = strict.ChoiceField(choices=ServiceRequest.Status.choices)
    starts_at = strict.DateTimeField()
    ends_at = strict.DateTimeField()


class ParticipantSerializer(strict.ModelSerializer):
    """A participating claim: who, with which team, where and when they checked in."""

    claim = strict.IntegerField(source="id")
    member = PersonRefSerializer()
    team = NamedRefSerializer(allow_null=True)

    class Meta:
        model = Claim
        fields = [
            "claim",
            "member",
            "team",
            "status",
            "checked_in_at",
            "check_in_distance_m",
            "checked_out_at",
            "duration_minutes",
            "auto_checked_out",
        ]
        read_only_fields = fields


class HoursEntrySerializer(strict.ModelSerializer):
    """One participant's hours entry on a verified record (a correction keeps the original,
    ``current`` false)."""

    claim = strict.IntegerField(source="claim_id")
    member = strict.IntegerField(source="member_id")
    entered_by = UserRefField(allow_null=True)
    hours = HoursField(source="minutes", help_text="服务时长（小时，保留一位小数）")

    class Meta:
        model = ServiceHours
        fields = [
            "id",
            "claim",
            "member",
            "minutes",
            "hours",
            "source",
            "reason",
            "current",
            "counted",
            "entered_by",
            "created_at",
        ]
        read_only_fields = fields


class FlagSerializer(strict.Serializer):
    """One anomaly flag."""

    code = strict.ChoiceField(choices=[(c, c) for c in anomalies.ALL_CODES])
    detail = strict.CharField()
    data = serializers.DictField(help_text="机器可读的细节（人数、距离、其他需求 ID 等）")


class RatingSerializer(strict.Serializer):
    """A resident's rating of the service (no word about who the resident is)."""

    score = strict.IntegerField(help_text="评分 1–5")
    comment = strict.CharField(help_text="群众意见")
    created_at = strict.DateTimeField(help_text="评价时间")
    updated_at = strict.DateTimeField(help_text="最后修改时间")


class RecordSerializer(strict.ModelSerializer):
    """A service record as its viewer may see it."""

    request = RecordRequestSerializer()
    participants = ParticipantSerializer(many=True)
    flags = FlagSerializer(many=True)
    submitted_by = UserRefField(allow_null=True)
    verified_by = UserRefField(allow_null=True, help_text="核实人（通过或退回）")
    station = NamedRefSerializer()
    town = NamedRefSerializer()
    campaign = CampaignRefSerializer()
    points_awarded = serializers.SerializerMethodField(help_text="该记录产生的净积分")
    hours = HoursEntrySerializer(many=True, help_text="核实时写入的各参与人服务时长（含更正）")
    service_hours = HoursField(source="service_minutes")
    ratings = RatingSerializer(many=True, help_text="群众评单（该记录所办群众点单的评价）")

    class Meta:
        model = ServiceRecord
        fields = [
            "id",
            "request",
            "version",
            "status",
            "people_served",
            "enterprises_served",
            "households_visited",
            "summary",
            "participants",
            "participants_count",
            "flags",
            "flag_count",
            "submitted_by",
            "submitted_at",
            "verified_by",
            "verified_at",
            "note",
            "revoked_at",
            "revoke_reason",
            "points_awarded",
            "service_minutes",
            "service_hours",
            "hours",
            "station",
            "town",
            "campaign",
            "campaign_kind",
            "service_date",
            "ratings",
        ]
        read_only_fields = fields

    def get_points_awarded(self, record: ServiceRecord) -> int:
        return int(getattr(record, "points_awarded", None) or 0)


class PointRuleSerializer(strict.ModelSerializer):
    """A row of the scoring table (积分规则)."""

    class Meta:
        model = PointRule
        fields = ["id", "code", "kind", "name", "points", "active"]
        read_only_fields = fields


class PointEntryRequestSerializer(strict.Serializer):
    id = strict.IntegerField()
    title = strict.CharField()


class PointEntrySerializer(strict.ModelSerializer):
    """One line of a member's own ledger (award or reversal)."""

    rule = strict.ChoiceField(source="rule.kind", choices=PointRule.Kind.choices)
    request = PointEntryRequestSerializer(source="record.request")

    class Meta:
        model = PointEntry
        fields = [
            "id",
            "points",
            "award",
            "rule",
            "reason",
            "record",
            "request",
            "service_date",
            "created_at",
        ]
        read_only_fields = fields


class MePointsSectionSerializer(strict.Serializer):
    """Duty points' part of ``GET me/`` (``services.records.points.me_section``)."""

    points_total = strict.IntegerField(help_text="履职积分合计")
    points_recent = PointEntrySerializer(many=True, help_text="最近的积分流水（新的在前）")


class LeaderboardQuerySerializer(strict.Serializer):
    """``?from=&to=&team=&limit=``: the period (service days, Asia/Shanghai) and the size."""

    # "from" is a Python keyword: the field is declared through the class namespace.
    vars()["from"] = strict.DateField(
        required=False, help_text="开始日期（含，YYYY-MM-DD），默认 to 所在年的 1 月 1 日"
    )
    to = strict.DateField(required=False, help_text="结束日期（含），默认今天")
    team = strict.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="只计该团队名下获得的积分"
    )
    limit = strict.IntegerField(
        required=False,
        min_value=1,
        validators=[strict.setting_max("POINTS_LEADERBOARD_MAX_LIMIT", _CAP_MESSAGE)],
        help_text="返回前几名，默认 20，最大见设置 POINTS_LEADERBOARD_MAX_LIMIT",
    )


class LeaderRowSerializer(HoursFiguresSerializer):
    """One member on the leaderboard."""

    rank = strict.IntegerField(help_text="名次（同分同名次）")
    member = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField(help_text="委员当前所在团队")
    points = strict.IntegerField(help_text="期间净积分")
    participations = strict.IntegerField(help_text="期间核实通过的参与次数")

    @extend_schema_field(NamedRefSerializer)
    def get_member(self, row) -> dict:
        return {"id": row.member_id, "name": row.name}

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_team(self, row) -> dict | None:
        return {"id": row.team_id, "name": row.team_name} if row.team_id else None


class LeaderboardSerializer(strict.Serializer):
    """The period asked for and the ranked rows."""

    vars()["from"] = strict.DateField()
    to = strict.DateField()
    team = strict.IntegerField(allow_null=True)
    results = LeaderRowSerializer(many=True)
