"""Input and output of recurring services (周期服务)."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from members.models import Specialty
from services.api import IdRelatedField, NamedRefSerializer, PointInputMixin
from services.models import MAX_SLOTS, MIN_SLOTS, Campaign, ServiceRequest, ServiceSeries
from services.requests.serializers import MAX_SPECIALTIES
from stations.models import Station, Village

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


@extend_schema_field({"type": "string", "pattern": TIME_PATTERN, "example": "09:00"})
class LocalTimeField(strict.StrictFieldMixin, serializers.TimeField):
    """A local (Asia/Shanghai) time of day as ``HH:MM``, a string."""

    default_error_messages = {"strict_type": "请填写 HH:MM 格式的时刻，例如 09:00。"}

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)

    def accepts(self, data) -> bool:
        return isinstance(data, str)

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(TIME_PATTERN, data):
            self.fail("strict_type")
        return super().to_internal_value(data)


# The longest one occurrence may last (a day's service; longer needs are ordinary requests).
MAX_DURATION_MINUTES = 24 * 60


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 6},
        "minItems": 1,
        "maxItems": 7,
        "uniqueItems": True,
    }
)
class WeekdaysField(serializers.ListField):
    """Weekdays, Monday 0 … Sunday 6: at least one, no repeats."""

    def __init__(self, **kwargs):
        super().__init__(
            child=strict.IntegerField(min_value=0, max_value=6),
            min_length=1,
            max_length=7,
            help_text="星期几（0=周一 … 6=周日），至少一个，不重复",
            **kwargs,
        )

    def to_internal_value(self, data):
        days = super().to_internal_value(data)
        if len(set(days)) != len(days):
            raise serializers.ValidationError("星期不能重复。")
        return sorted(days)


class SeriesInputSerializer(PointInputMixin):
    """POST ``series/``: the occurrences' request fields, and when they recur."""

    shown_model = ServiceSeries

    station = IdRelatedField(
        queryset=Station.objects.all(), required=False, allow_null=True, help_text="驿站 ID"
    )
    village = IdRelatedField(
        queryset=Village.objects.select_related("station"),
        required=False,
        allow_null=True,
        help_text="村/社区 ID（驿站与村/社区至少给一个，规则同发布需求）",
    )
    campaign = IdRelatedField(queryset=Campaign.objects.all(), help_text="活动 ID")
    title = strict.CharField(max_length=100)
    description = strict.CharField(max_length=2000, required=False, allow_blank=True)
    specialties = IdRelatedField(
        queryset=Specialty.objects.filter(active=True),
        many=True,
        required=False,
        max_length=MAX_SPECIALTIES,
    )
    address = strict.CharField(max_length=200, required=False, allow_blank=True)
    slots = strict.IntegerField(min_value=MIN_SLOTS, max_value=MAX_SLOTS)
    contact_name = strict.CharField(max_length=50, required=False, allow_blank=True)
    contact_phone = strict.RegexField(
        r"^[0-9+\- ]{3,20}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "联系电话只能包含数字、空格、+ 和 -（3 到 20 位）。"},
    )
    frequency = strict.ChoiceField(choices=ServiceSeries.Frequency.choices)
    weekdays = WeekdaysField()
    week_of_month = strict.IntegerField(
        required=False,
        allow_null=True,
        min_value=-1,
        max_value=5,
        help_text="每月第几个该星期（1–5，-1=最后一个；仅 monthly，默认取首次日期所在的第几周）",
    )
    starts_on = strict.DateField(help_text="首次日期（此日或之后第一个符合的日期开始）")
    start_time = LocalTimeField(help_text="每场开始时刻（北京时间，HH:MM）")
    duration_minutes = strict.IntegerField(
        min_value=15, max_value=MAX_DURATION_MINUTES, help_text="每场时长（分钟）"
    )
    until = strict.DateField(required=False, allow_null=True, help_text="截止日期（含）")
    count = strict.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        validators=[
            strict.setting_max(
                "SERIES_MAX_OCCURRENCES", "最多 %(limit_value)s 次（SERIES_MAX_OCCURRENCES）。"
            )
        ],
        help_text="次数（与截止日期二选一；最多 SERIES_MAX_OCCURRENCES 次）",
    )

    def validate_specialties(self, value):
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        attrs = self.pop_point(attrs)
        problems: dict[str, list[str]] = {}
        until, count = attrs.get("until"), attrs.get("count")
        if (until is None) == (count is None):
            problems["until"] = ["截止日期（until）与次数（count）须给且只给一个。"]
        if until is not None and until < attrs["starts_on"]:
            problems["until"] = ["截止日期不能早于首次日期。"]
        week = attrs.get("week_of_month")
        if week is not None:
            if attrs["frequency"] != ServiceSeries.Frequency.MONTHLY:
                problems["week_of_month"] = ["仅每月重复时可以指定第几周。"]
            elif week == 0:
                problems["week_of_month"] = ["第几周为 1–5 或 -1（最后一个）。"]
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class SeriesUpdateSerializer(PointInputMixin):
    """PATCH ``series/{id}/``: any of these, applied to every future occurrence."""

    shown_model = ServiceSeries

    title = strict.CharField(max_length=100, required=False)
    description = strict.CharField(max_length=2000, required=False, allow_blank=True)
    address = strict.CharField(max_length=200, required=False, allow_blank=True)
    slots = strict.IntegerField(min_value=MIN_SLOTS, max_value=MAX_SLOTS, required=False)
    contact_name = strict.CharField(max_length=50, required=False, allow_blank=True)
    contact_phone = strict.RegexField(
        r"^[0-9+\- ]{3,20}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "联系电话只能包含数字、空格、+ 和 -（3 到 20 位）。"},
    )
    start_time = LocalTimeField(required=False, help_text="新的开始时刻（每场当天）")
    duration_minutes = strict.IntegerField(
        min_value=15, max_value=MAX_DURATION_MINUTES, required=False
    )

    def validate(self, attrs):
        return self.pop_point(attrs)


class OccurrenceSerializer(strict.ModelSerializer):
    class Meta:
        model = ServiceRequest
        fields = ["id", "status", "starts_at", "ends_at", "slots", "claimed"]
        read_only_fields = fields


class SeriesSerializer(strict.ModelSerializer):
    """A recurring service and its occurrences (ordinary requests), in time order."""

    start_time = LocalTimeField()
    station = NamedRefSerializer()
    village = NamedRefSerializer(allow_null=True)
    campaign = NamedRefSerializer()
    weekdays = serializers.ListField(child=strict.IntegerField())
    occurrences = serializers.SerializerMethodField()

    class Meta:
        model = ServiceSeries
        fields = [
            "id",
            "title",
            "station",
            "village",
            "campaign",
            "frequency",
            "weekdays",
            "week_of_month",
            "starts_on",
            "start_time",
            "duration_minutes",
            "until",
            "count",
            "created_at",
            "occurrences",
        ]
        read_only_fields = fields

    @extend_schema_field(OccurrenceSerializer(many=True))
    def get_occurrences(self, series: ServiceSeries) -> list:
        rows = series.occurrences.order_by("starts_at", "id")
        return OccurrenceSerializer(rows, many=True).data


class SkippedSerializer(strict.Serializer):
    request = strict.IntegerField()
    starts_at = strict.DateTimeField()
    code = strict.CharField(help_text="未认领的原因代码（request_full、time_conflict …）")
    detail = strict.CharField()


class SeriesClaimsSerializer(strict.Serializer):
    """Claiming every future occurrence: the places taken and the ones skipped, with why."""

    claimed = serializers.ListField(child=strict.IntegerField(), help_text="新认领的 ID")
    claimed_requests = serializers.ListField(
        child=strict.IntegerField(), help_text="认领成功的场次（需求 ID）"
    )
    skipped = SkippedSerializer(many=True)
