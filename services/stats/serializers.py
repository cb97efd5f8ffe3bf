"""Input and output serializers of statistics, the follow-up list and exports."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from accounts import fields as strict
from services.api import HoursFiguresSerializer, IdRelatedField, NamedRefSerializer
from services.models import Campaign, ServiceRequest
from services.stats import exports
from services.stats import selectors as stats
from stations.models import Town

DATE_ERRORS = {
    "invalid": "日期格式应为 YYYY-MM-DD。",
    "datetime": "应为日期（YYYY-MM-DD），不是日期时间。",
}


def _renamed(fields: dict, **names: str) -> dict:
    """Rename serializer fields whose public name is a Python keyword (``from``)."""
    for public, attribute in names.items():
        fields[public] = fields.pop(attribute)
    return fields


class StatsQuerySerializer(strict.Serializer):
    """Filters every statistics endpoint takes (all optional; the default period is this
    calendar year, Asia/Shanghai)."""

    date_from = strict.DateField(
        source="date_from",
        required=False,
        input_formats=["iso-8601"],
        error_messages=DATE_ERRORS,
        help_text="开始日期（含，Asia/Shanghai），默认今年 1 月 1 日",
    )
    to = strict.DateField(
        source="date_to",
        required=False,
        input_formats=["iso-8601"],
        error_messages=DATE_ERRORS,
        help_text=(
            "结束日期（含），默认今年 12 月 31 日；早于开始日期 → 400 invalid_date_range；"
            "区间最长 STATS_MAX_RANGE_DAYS 天（默认 3660）→ 否则 400 date_range_too_long"
        ),
    )
    town = IdRelatedField(
        queryset=Town.objects.all(),
        required=False,
        help_text="镇/街道 ID；驿站管理员只能选所管驿站所在镇街（否则 403 town_out_of_scope）",
    )
    campaign_kind = strict.ChoiceField(
        choices=Campaign.Kind.choices, required=False, help_text="三暖类型"
    )

    def get_fields(self):
        return _renamed(super().get_fields(), **{"from": "date_from"})


class BreakdownQuerySerializer(StatsQuerySerializer):
    """GET stats/breakdown/: the filters and which breakdown."""

    by = strict.ChoiceField(
        choices=stats.BREAKDOWN_CHOICES, help_text="town | station | team | campaign_kind | month"
    )


class ExportQuerySerializer(StatsQuerySerializer):
    """GET stats/export/: the filters, the file type and (for CSV) which table."""

    format = strict.ChoiceField(
        choices=exports.FORMAT_CHOICES, required=False, default=exports.XLSX, help_text="xlsx | csv"
    )
    sheet = strict.ChoiceField(
        choices=exports.SHEET_CHOICES,
        required=False,
        default=exports.SUMMARY,
        help_text="CSV 导出哪张表：summary | town | station | team | campaign_kind | month",
    )


class UnclaimedQuerySerializer(strict.Serializer):
    """GET stats/unclaimed/: how long without a claim, and optional town and kind."""

    hours = strict.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 366,
        help_text="发布超过多少小时仍无人认领（默认 STATS_UNCLAIMED_HOURS）",
    )
    town = IdRelatedField(queryset=Town.objects.all(), required=False, help_text="镇/街道 ID")
    campaign_kind = strict.ChoiceField(
        choices=Campaign.Kind.choices, required=False, help_text="三暖类型"
    )

    def validate(self, attrs):
        attrs.setdefault("hours", settings.STATS_UNCLAIMED_HOURS)
        return attrs


# ---------------------------------------------------------------- output


class KindFiguresSerializer(HoursFiguresSerializer):
    """The figures of one 三暖 kind."""

    kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    label = strict.CharField()
    records = strict.IntegerField()
    people_served = strict.IntegerField()
    enterprises_served = strict.IntegerField()
    households_visited = strict.IntegerField()
    participations = strict.IntegerField()


class CampaignProgressSerializer(strict.Serializer):
    """A campaign's people served in the filters against its target."""

    id = strict.IntegerField()
    name = strict.CharField()
    kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    starts_on = strict.DateField()
    ends_on = strict.DateField()
    target_served = strict.IntegerField()
    people_served = strict.IntegerField()
    progress = strict.FloatField(
        allow_null=True, help_text="people_served / target_served（目标为 0 时为 null）"
    )


class PeriodSerializer(strict.Serializer):
    """The filters a figure was computed for, defaults filled in."""

    date_from = strict.DateField(source="filters.date_from")
    to = strict.DateField(source="filters.date_to")
    town = strict.IntegerField(source="filters.town_id", allow_null=True)
    campaign_kind = strict.ChoiceField(
        source="filters.campaign_kind", choices=Campaign.Kind.choices, allow_null=True
    )

    def get_fields(self):
        return _renamed(super().get_fields(), **{"from": "date_from"})


class SatisfactionSerializer(strict.Serializer):
    """Residents' ratings (评单) of verified services."""

    ratings = strict.IntegerField(help_text="评价数")
    mean = strict.FloatField(allow_null=True, help_text="平均评分（1–5，两位小数）")
    share_4_5 = strict.FloatField(allow_null=True, help_text="4–5 分占比（满意率）")


class SummarySerializer(PeriodSerializer, HoursFiguresSerializer):
    """GET stats/summary/."""

    people_served = strict.IntegerField(help_text="服务群众人次")
    enterprises_served = strict.IntegerField(help_text="服务企业数")
    households_visited = strict.IntegerField(help_text="走访户数")
    records_verified = strict.IntegerField(help_text="已核实服务记录数")
    participations = strict.IntegerField(help_text="委员参与人次")
    active_members = strict.IntegerField(help_text="参与服务的委员人数（去重）")
    requests_posted = strict.IntegerField(help_text="期内开展的需求数（按开始日期）")
    requests_completed = strict.IntegerField(help_text="其中已完成（含已核实）")
    requests_verified = strict.IntegerField(help_text="其中已核实")
    requests_cancelled = strict.IntegerField(help_text="其中已取消")
    requests_expired = strict.IntegerField(help_text="其中无人认领过期")
    completion_rate = strict.FloatField(
        allow_null=True, help_text="完成率 = 已完成 / (需求数 − 已取消)"
    )
    median_hours_to_claim = strict.FloatField(
        allow_null=True, help_text="发布到首次认领的中位时长（小时）"
    )
    median_hours_to_verify = strict.FloatField(
        allow_null=True, help_text="提交记录到核实的中位时长（小时）"
    )
    by_kind = KindFiguresSerializer(many=True)
    campaigns = CampaignProgressSerializer(many=True)
    satisfaction = SatisfactionSerializer(help_text="群众评单满意度")
    people_served_confirmed = strict.IntegerField(
        help_text="群众确认的服务人次：群众已评价的已核实记录的服务人次"
    )


class BreakdownRowSerializer(HoursFiguresSerializer):
    """One row of a breakdown."""

    key = strict.CharField(
        help_text="镇街/驿站/团队/委员 ID（无团队为 none）、三暖类型或月份 YYYY-MM"
    )
    label = strict.CharField()
    records = strict.IntegerField()
    people_served = strict.IntegerField(
        help_text=(
            "按团队或委员时为其参与者所占份额：每条记录的人次按认领顺序整数分给参与人"
            "（各得 人次 ÷ 人数 的整数部分，余数依次多分 1），各组相加等于总数"
        )
    )
    enterprises_served = strict.IntegerField()
    households_visited = strict.IntegerField()
    participations = strict.IntegerField()
    satisfaction = SatisfactionSerializer(
        allow_null=True, help_text="群众评单满意度（按委员时为 null）"
    )


class BreakdownSerializer(PeriodSerializer):
    """GET stats/breakdown/."""

    by = strict.ChoiceField(choices=stats.BREAKDOWN_CHOICES)
    rows = BreakdownRowSerializer(many=True)


class UnclaimedRequestSerializer(strict.ModelSerializer):
    """An open request nobody has claimed yet."""

    station = NamedRefSerializer()
    town = NamedRefSerializer(source="station.town")
    village = strict.CharField(source="village.name", allow_null=True, default=None)
    campaign_kind = strict.ChoiceField(source="campaign.kind", choices=Campaign.Kind.choices)
    # Declared: a model PositiveSmallIntegerField's bounds differ per database in the schema.
    slots = strict.IntegerField(help_text="名额")
    hours_waiting = serializers.SerializerMethodField(help_text="发布至今的小时数")

    class Meta:
        model = ServiceRequest
        fields = [
            "id",
            "title",
            "station",
            "town",
            "village",
            "campaign_kind",
            "slots",
            "starts_at",
            "created_at",
            "hours_waiting",
        ]

    def get_hours_waiting(self, obj: ServiceRequest) -> float:
        return round((self.context["now"] - obj.created_at).total_seconds() / 3600, 1)
