"""Input and output of the service archive: the period, a page of services, the totals."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from members.pii import NameField
from services.api import HoursField, NamedRefSerializer
from services.models import Campaign, ServiceHours

DATE_ERRORS = {
    "invalid": "日期格式应为 YYYY-MM-DD。",
    "datetime": "应为日期（YYYY-MM-DD），不是日期时间。",
}


# The years the archive takes (a schema bound: any year in it is valid, a future one is empty).
FIRST_YEAR = 2000
LAST_YEAR = 2100
YEAR_ERRORS = {
    "invalid": "年份应为整数。",
    "min_value": f"年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间。",
    "max_value": f"年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间。",
}


class HistoryQuerySerializer(strict.Serializer):
    """``?year=`` or ``?from=&to=`` (service days, Asia/Shanghai); nothing: the whole history."""

    year = strict.IntegerField(
        required=False,
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        error_messages=YEAR_ERRORS,
        help_text="年度（与 from/to 二选一）",
    )
    vars()["from"] = strict.DateField(
        required=False,
        input_formats=["iso-8601"],
        error_messages=DATE_ERRORS,
        help_text="开始日期（含，YYYY-MM-DD）",
    )
    to = strict.DateField(
        required=False,
        input_formats=["iso-8601"],
        error_messages=DATE_ERRORS,
        help_text="结束日期（含）；早于 from → 400 invalid_period",
    )


class AnnualExportQuerySerializer(strict.Serializer):
    """``?year=`` (default this year)."""

    year = strict.IntegerField(
        required=False,
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        error_messages=YEAR_ERRORS,
        help_text="年度，默认今年",
    )


class ArchiveFiguresSerializer(strict.Serializer):
    """Services, verified time, people served and points of a set of services."""

    services = strict.IntegerField(help_text="已核实服务次数")
    service_minutes = strict.IntegerField(help_text="核实服务时长（分钟，精确值）")
    service_hours = HoursField(source="service_minutes")
    people_served = strict.IntegerField(help_text="所参与服务的服务群众人次之和")
    points = strict.IntegerField(help_text="履职积分（净值）")


class ArchiveYearSerializer(ArchiveFiguresSerializer):
    year = strict.IntegerField()


class ArchiveKindSerializer(ArchiveFiguresSerializer):
    campaign_kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    label = strict.CharField()


class HistoryMemberSerializer(strict.Serializer):
    id = strict.IntegerField()
    name = NameField()


class ServiceRowSerializer(strict.Serializer):
    """One verified service of the member: the record's day, place, request and content, the
    member's verified minutes and the points the member earned on it."""

    record = strict.IntegerField(source="record_id")
    service_date = strict.DateField()
    campaign_kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    station = NamedRefSerializer()
    town = NamedRefSerializer()
    village = serializers.SerializerMethodField()
    request = serializers.SerializerMethodField()
    summary = strict.CharField(source="record.summary", help_text="服务内容")
    service_minutes = strict.IntegerField(source="minutes", help_text="本人核实服务时长（分钟）")
    service_hours = HoursField(source="minutes")
    corrected = serializers.SerializerMethodField(help_text="核实时是否更正过时长")
    people_served = strict.IntegerField(source="record.people_served", help_text="该次服务群众人次")
    points = strict.IntegerField(help_text="本人在该记录上获得的履职积分")

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_village(self, entry: ServiceHours) -> dict | None:
        village = entry.record.request.village
        return {"id": village.pk, "name": village.name} if village else None

    @extend_schema_field(
        {"type": "object", "properties": {"id": {"type": "integer"}, "title": {"type": "string"}}}
    )
    def get_request(self, entry: ServiceHours) -> dict:
        return {"id": entry.record.request_id, "title": entry.record.request.title}

    def get_corrected(self, entry: ServiceHours) -> bool:
        return entry.source == ServiceHours.Source.CORRECTED


class ServiceHistorySerializer(strict.Serializer):
    """A page of the member's services with the period's totals (``count/next/previous/results``
    as every list pages)."""

    member = HistoryMemberSerializer()
    year = strict.IntegerField(allow_null=True)
    vars()["from"] = strict.DateField(allow_null=True)
    to = strict.DateField(allow_null=True)
    totals = ArchiveFiguresSerializer()
    by_year = ArchiveYearSerializer(many=True)
    by_kind = ArchiveKindSerializer(many=True)
    count = strict.IntegerField()
    next = strict.URLField(allow_null=True)
    previous = strict.URLField(allow_null=True)
    results = ServiceRowSerializer(many=True)
