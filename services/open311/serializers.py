"""Open311 input and output, with GeoReport v2's field names.

Times are W3C datetimes (``2026-05-01T09:00:00+08:00``): inputs without an offset are taken
as Asia/Shanghai, a bare date as its local midnight; outputs are local time with the offset.
"""

from __future__ import annotations

import re
from datetime import datetime, time

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from services.models import MAX_SLOTS, MIN_SLOTS, Campaign, ServiceRequest
from services.open311 import selectors
from stations.errors import InvalidCoordinates
from stations.filters import NUMBER_PATTERN
from stations.geo import WGS84, validate_point

# The contact phone rule of the JSON API (services.requests.serializers.RequestInputSerializer).
PHONE_REGEX = r"^[0-9+\- ]{3,20}$"
MAX_DESCRIPTION = 2000  # the JSON API's limit; GeoReport allows up to 4,000
# Comma lists as the schema states them (no spaces, no empty items). Ids have at most 18
# digits, so every id the pattern admits is below 2^63.
ID_LIST_PATTERN = r"^[1-9][0-9]{0,17}(?:,[1-9][0-9]{0,17})*$"
STATUS_LIST_PATTERN = r"^(?:open|closed)(?:,(?:open|closed))*$"
# A campaign id, or a kind by value or label (open311.writes.choose_campaign).
_KIND_NAMES = "|".join(
    re.escape(str(name)) for kind in Campaign.Kind for name in (kind.value, kind.label)
)
CAMPAIGN_PATTERN = rf"^(?:[0-9]{{1,18}}|{_KIND_NAMES})$"
ATTRIBUTES = ("campaign", "starts_at", "ends_at", "slots", "title")


@extend_schema_field(OpenApiTypes.DATETIME)
class W3CDateTimeField(strict.StrictFieldMixin, serializers.Field):
    """A W3C datetime in and out (seconds, with the offset); ``?start_date=`` is an error."""

    default_error_messages = {
        "invalid": "时间格式应为 W3C 格式，如 2026-05-01T09:00:00+08:00。",
        "strict_type": "时间格式应为 W3C 格式，如 2026-05-01T09:00:00+08:00。",
    }

    def accepts(self, data) -> bool:
        return isinstance(data, str)

    def to_internal_value(self, data) -> datetime:
        text = data.strip() if isinstance(data, str) else ""
        try:
            value = parse_datetime(text)
            if value is None:
                day = parse_date(text)
                value = datetime.combine(day, time()) if day else None
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value

    def to_representation(self, value: datetime) -> str:
        return timezone.localtime(value).replace(microsecond=0).isoformat()


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class Open311QuerySerializer(strict.Serializer):
    """GET requests.json arguments (all optional; comma lists where the spec allows several)."""

    # Free text: "?service_code=" is no filter, as for every text parameter.
    jurisdiction_id = strict.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="可省略；本服务只有一个辖区（定海区），忽略其值",
    )
    service_request_id = strict.RegexField(
        ID_LIST_PATTERN,
        required=False,
        trim_whitespace=False,
        blank_text_is_missing=False,
        max_length=20000,
        help_text="逗号分隔的需求 ID（最多 OPEN311_MAX_REQUESTS 个）；给出时忽略其他参数",
        error_messages={"invalid": "service_request_id 须为逗号分隔的数字 ID。"},
    )
    service_code = strict.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="逗号分隔的 service_code"
    )
    start_date = W3CDateTimeField(required=False, help_text="requested_datetime 不早于此时间")
    end_date = W3CDateTimeField(required=False, help_text="requested_datetime 不晚于此时间")
    status = strict.RegexField(
        STATUS_LIST_PATTERN,
        required=False,
        trim_whitespace=False,
        blank_text_is_missing=False,
        max_length=20,
        help_text="open、closed 或 open,closed",
        error_messages={"invalid": "status 只能是 open、closed 或 open,closed。"},
    )

    def validate_service_request_id(self, value: str) -> list[int]:
        # fullmatch: the validator's "$" would also take a trailing newline.
        if not re.fullmatch(ID_LIST_PATTERN, value):
            raise serializers.ValidationError("service_request_id 须为逗号分隔的数字 ID。")
        unique = list(dict.fromkeys(int(part) for part in value.split(",")))
        if len(unique) > settings.OPEN311_MAX_REQUESTS:
            raise serializers.ValidationError(
                f"service_request_id 一次最多 {settings.OPEN311_MAX_REQUESTS} 个。"
            )
        return unique

    def validate_service_code(self, value: str) -> list[str]:
        return list(dict.fromkeys(_split(value)))

    def validate_status(self, value: str) -> list[str]:
        if not re.fullmatch(STATUS_LIST_PATTERN, value):
            raise serializers.ValidationError("status 只能是 open、closed 或 open,closed。")
        return list(dict.fromkeys(value.split(",")))

    def to_query(self) -> selectors.RequestQuery:
        """The validated arguments as a RequestQuery."""
        data = self.validated_data
        return selectors.RequestQuery(
            ids=data.get("service_request_id", ()),
            service_codes=data.get("service_code", ()),
            start=data.get("start_date"),
            end=data.get("end_date"),
            statuses=data.get("status", ()),
        )


class Open311PostInputSerializer(strict.Serializer):
    """POST requests.json (``application/x-www-form-urlencoded``).

    Besides GeoReport's arguments it takes ``attribute[campaign]``, ``attribute[starts_at]``,
    ``attribute[ends_at]``, ``attribute[slots]`` and ``attribute[title]``; other
    ``attribute[...]`` keys are refused so a typo does not pass unnoticed."""

    api_key = strict.CharField(max_length=200, help_text="驿站的 Open311 API 密钥")
    jurisdiction_id = strict.CharField(
        required=False, allow_blank=True, max_length=100, help_text="忽略"
    )
    service_code = strict.CharField(max_length=50, help_text="services.json 中的 service_code")
    lat = strict.RegexField(
        rf"^{NUMBER_PATTERN}$",
        required=False,
        max_length=40,
        trim_whitespace=False,
        help_text="WGS-84 纬度（-90～90，与 long 同时提供）",
    )
    long = strict.RegexField(
        rf"^{NUMBER_PATTERN}$",
        required=False,
        max_length=40,
        trim_whitespace=False,
        help_text="WGS-84 经度（-180～180，与 lat 同时提供）",
    )
    address_string = strict.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="地址；无 lat/long 时必填，坐标取驿站的",
    )
    address_id = strict.CharField(
        required=False, allow_blank=True, max_length=100, help_text="不支持（忽略）"
    )
    description = strict.CharField(
        required=False, allow_blank=True, max_length=MAX_DESCRIPTION, help_text="需求说明"
    )
    first_name = strict.CharField(
        required=False, allow_blank=True, max_length=25, help_text="群众联系人名（不公开）"
    )
    last_name = strict.CharField(
        required=False, allow_blank=True, max_length=25, help_text="群众联系人姓（不公开）"
    )
    phone = strict.RegexField(
        PHONE_REGEX,
        required=False,
        allow_blank=True,
        help_text="群众联系电话（不公开）",
        error_messages={"invalid": "联系电话只能包含数字、空格、+ 和 -（3 到 20 位）。"},
    )
    email = strict.CharField(
        required=False, allow_blank=True, max_length=254, help_text="忽略（不保存）"
    )
    device_id = strict.CharField(required=False, allow_blank=True, max_length=100, help_text="忽略")
    account_id = strict.CharField(
        required=False, allow_blank=True, max_length=100, help_text="忽略"
    )
    media_url = strict.CharField(
        required=False, allow_blank=True, max_length=500, help_text="忽略（不保存）"
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["attribute[campaign]"] = strict.RegexField(
            CAMPAIGN_PATTERN,
            required=False,
            max_length=30,
            trim_whitespace=False,
            help_text=(
                "扩展：已有活动的 ID，或类型 warm_enterprise / warm_village / warm_heart"
                "（或其中文名，取该类型进行中的活动）"
            ),
        )
        fields["attribute[starts_at]"] = W3CDateTimeField(
            required=False,
            help_text="扩展：开始时间（默认明天 9:00）；晚于当前时间，一年以内，在活动期间内",
        )
        fields["attribute[ends_at]"] = W3CDateTimeField(
            required=False,
            help_text="扩展：结束时间（默认开始后 8 小时）；晚于开始时间，最长 92 天",
        )
        fields["attribute[slots]"] = strict.IntegerField(
            required=False,
            min_value=MIN_SLOTS,
            max_value=MAX_SLOTS,
            help_text="扩展：名额（默认 1）",
        )
        fields["attribute[title]"] = strict.CharField(
            required=False, max_length=100, help_text="扩展：标题（默认取说明的第一行）"
        )
        return fields

    def validate(self, attrs):
        unknown = sorted(
            key
            for key in self.initial_data
            if key.startswith("attribute[") and key[len("attribute[") : -1] not in ATTRIBUTES
        )
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["不支持的属性。"]})
        lat, lng = attrs.get("lat"), attrs.get("long")
        if lat is None and lng is None:
            if not attrs.get("address_string"):
                raise serializers.ValidationError(
                    {"lat": ["请提供 lat 和 long，或 address_string（不支持 address_id）。"]}
                )
            attrs["point"] = None
        elif lat is None or lng is None:
            raise serializers.ValidationError(
                {"long" if lng is None else "lat": ["纬度和经度需同时提供。"]}
            )
        else:
            try:
                attrs["point"] = validate_point(lat, lng, coord_type=WGS84)
            except InvalidCoordinates as exc:
                fields = exc.fields or {"lat": [str(exc.detail)]}
                raise serializers.ValidationError(
                    {("long" if name == "lng" else name): msgs for name, msgs in fields.items()}
                ) from None
        return attrs

    def workflow_arguments(self) -> dict:
        """Keyword arguments of services.open311.writes.request_post."""
        data = self.validated_data
        first, last = data.get("first_name", "").strip(), data.get("last_name", "").strip()
        # Chinese names are family name first, with no space; Latin ones given name first.
        if (first + last).isascii():
            contact_name = " ".join(part for part in (first, last) if part)
        else:
            contact_name = last + first
        return {
            "service_code": data["service_code"],
            "point": data["point"],
            "address": data.get("address_string", ""),
            "description": data.get("description", ""),
            "contact_name": contact_name,
            "contact_phone": data.get("phone", ""),
            "campaign": data.get("attribute[campaign]"),
            "starts_at": data.get("attribute[starts_at]"),
            "ends_at": data.get("attribute[ends_at]"),
            "slots": data.get("attribute[slots]"),
            "title": data.get("attribute[title]"),
        }


class Open311ServiceSerializer(strict.Serializer):
    """One service of services.json."""

    service_code = strict.CharField()
    service_name = strict.CharField()
    description = strict.CharField()
    metadata = strict.BooleanField(help_text="恒为 false：没有服务定义（扩展属性见文档）")
    type = strict.ChoiceField(choices=["realtime"], help_text="恒为 realtime")
    keywords = strict.CharField(help_text="逗号分隔")
    group = strict.CharField(help_text="三暖类别（暖企、暖岙、暖心）或“服务需求”")


class Open311RequestSerializer(strict.Serializer):
    """One service request as the public sees it: no contact, poster or member data."""

    service_request_id = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    status_notes = serializers.SerializerMethodField()
    service_name = serializers.SerializerMethodField()
    service_code = serializers.SerializerMethodField()
    description = strict.CharField()
    agency_responsible = strict.CharField(source="station.name", help_text="负责的驿站")
    service_notice = serializers.SerializerMethodField()
    requested_datetime = W3CDateTimeField(source="created_at")
    updated_datetime = W3CDateTimeField(source="updated_at")
    expected_datetime = W3CDateTimeField(source="starts_at", help_text="服务开始时间")
    address = strict.CharField()
    address_id = serializers.SerializerMethodField()
    zipcode = serializers.SerializerMethodField()
    lat = strict.FloatField(help_text="WGS-84")
    long = strict.FloatField(source="lng", help_text="WGS-84")
    media_url = serializers.SerializerMethodField()

    def _state(self, obj: ServiceRequest) -> tuple[str, str]:
        return selectors.open311_status(obj, now=self.context["now"])

    def _service(self, obj: ServiceRequest) -> selectors.Service:
        return self.context["services"].get(obj.primary_specialty_id, selectors.GENERAL_SERVICE)

    def get_service_request_id(self, obj: ServiceRequest) -> str:
        return str(obj.pk)

    @extend_schema_field(strict.ChoiceField(choices=list(selectors.STATUS_CHOICES)))
    def get_status(self, obj: ServiceRequest) -> str:
        return self._state(obj)[0]

    def get_status_notes(self, obj: ServiceRequest) -> str:
        # The state's name only: reasons typed by people (cancel reasons) may name residents.
        return ServiceRequest.Status(self._state(obj)[1]).label

    def get_service_name(self, obj: ServiceRequest) -> str:
        return self._service(obj).service_name

    def get_service_code(self, obj: ServiceRequest) -> str:
        return self._service(obj).service_code

    def get_service_notice(self, obj: ServiceRequest) -> str:
        return f"名额 {obj.slots}，已认领 {obj.claimed}。"

    @extend_schema_field(strict.CharField(allow_null=True))
    def get_address_id(self, obj: ServiceRequest) -> None:
        return None

    @extend_schema_field(strict.CharField(allow_null=True))
    def get_zipcode(self, obj: ServiceRequest) -> None:
        return None

    @extend_schema_field(strict.CharField(allow_null=True))
    def get_media_url(self, obj: ServiceRequest) -> None:
        return None


class Open311PostedSerializer(strict.Serializer):
    """The answer to a post: ``[{service_request_id, service_notice, account_id}]``."""

    service_request_id = strict.CharField()
    service_notice = strict.CharField()
    account_id = strict.CharField(allow_null=True, help_text="恒为 null")
