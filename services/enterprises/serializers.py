"""暖企 input and output. The enterprise's contact is personal data: in full to staff (each
look at someone else's full number leaves a ``pii_viewed`` Event, as members' phones do) and to
the enterprise's current 专员 (who call it); masked as members.pii masks for everyone else."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.pii_audit import note_view
from members.models import Member
from members.pii import context_viewer, mask_name, mask_phone
from services.api import IdRelatedField, PointInputMixin
from services.enterprises import figures
from services.intake.serializers import ResidentPhoneField
from services.models import Campaign, Enterprise, EnterpriseAppeal, EnterpriseLiaison
from services.stats.serializers import StatsQuerySerializer
from stations.models import Station, Town


def _sees_contact(field: serializers.Field, enterprise: Enterprise) -> bool:
    viewer = context_viewer(field.context)
    return viewer.staff or enterprise.pk in field.context.get("liaison_of", set())


@extend_schema_field(OpenApiTypes.STR)
class ContactNameField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, enterprise):
        shown = _sees_contact(self, enterprise) or context_viewer(self.context).manager
        return enterprise.contact_name if shown else mask_name(enterprise.contact_name)


@extend_schema_field(OpenApiTypes.STR)
class ContactPhoneField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, enterprise):
        if not _sees_contact(self, enterprise):
            return mask_phone(enterprise.contact_phone)
        viewer = context_viewer(self.context)
        if enterprise.contact_phone and viewer.staff:
            note_view(actor_id=viewer.user_id, obj=enterprise, field_name="contact_phone")
        return enterprise.contact_phone


class CreditCodeField(strict.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault(
            "help_text",
            "统一社会信用代码（18 位，GB 32100-2015，校验位不符 → 400 credit_code_invalid）",
        )
        super().__init__(**kwargs)


class EnterpriseInputSerializer(PointInputMixin):
    """POST enterprises/: staff enter one enterprise."""

    name = strict.CharField(max_length=100)
    credit_code = CreditCodeField()
    town = IdRelatedField(queryset=Town.objects.filter(active=True))
    station = IdRelatedField(
        queryset=Station.objects.filter(active=True), help_text="服务驿站（须在该镇/街道）"
    )
    address = strict.CharField(max_length=200, required=False, allow_blank=True, default="")
    industry = strict.CharField(max_length=50, required=False, allow_blank=True, default="")
    key_project = strict.BooleanField(required=False, default=False, help_text="重点项目企业")
    contact_name = strict.CharField(max_length=50, required=False, allow_blank=True, default="")
    contact_phone = ResidentPhoneField(help_text="企业联系人手机号（可选）")

    def validate(self, attrs):
        attrs = self.pop_point(attrs)
        if "point" not in attrs:
            message = "请提供企业位置（纬度和经度）。"
            raise serializers.ValidationError({"lat": [message]})
        return attrs


class LiaisonSerializer(strict.Serializer):
    id = strict.IntegerField()
    member = strict.IntegerField(source="member_id")
    member_name = serializers.CharField(source="member.name")
    role = strict.ChoiceField(choices=EnterpriseLiaison.Role.choices)
    starts_on = strict.DateField()
    ends_on = strict.DateField(allow_null=True)
    ended_at = strict.DateTimeField(allow_null=True, help_text="被重新指派替换的时间（历史）")


class EnterpriseSerializer(strict.Serializer):
    id = strict.IntegerField()
    name = strict.CharField()
    credit_code = strict.CharField()
    town = strict.IntegerField(source="town_id")
    town_name = serializers.CharField(source="town.name")
    station = strict.IntegerField(source="station_id")
    station_name = serializers.CharField(source="station.name")
    address = strict.CharField()
    lat = strict.FloatField()
    lng = strict.FloatField()
    industry = strict.CharField()
    key_project = strict.BooleanField()
    contact_name = ContactNameField()
    contact_phone = ContactPhoneField()
    active = strict.BooleanField()
    deactivated_at = strict.DateTimeField(allow_null=True)
    deactivate_reason = strict.CharField()
    liaisons = serializers.SerializerMethodField(help_text="当前暖企专员（牵头在前）")

    @extend_schema_field(LiaisonSerializer(many=True))
    def get_liaisons(self, enterprise):
        from services.enterprises.selectors import current_liaisons

        return LiaisonSerializer(current_liaisons(enterprise.pk), many=True).data


class MyEnterpriseSerializer(EnterpriseSerializer):
    last_visit_at = strict.DateTimeField(allow_null=True, help_text="最近一次走访（任何人）")
    open_appeals = strict.IntegerField(help_text="未办结诉求数")


class DeactivateInputSerializer(strict.Serializer):
    reason = strict.CharField(max_length=200)


class LiaisonAssignInputSerializer(strict.Serializer):
    lead = IdRelatedField(queryset=Member.objects.all(), help_text="牵头专员（委员 ID）")
    deputies = serializers.ListField(
        child=IdRelatedField(queryset=Member.objects.all()),
        required=False,
        default=list,
        max_length=5,
        help_text="协助专员（委员 ID，最多 5 位）",
    )
    starts_on = strict.DateField(input_formats=["iso-8601"])
    ends_on = strict.DateField(input_formats=["iso-8601"], required=False, allow_null=True)


class VisitInputSerializer(PointInputMixin):
    """POST enterprises/{id}/visits/: the 专员 at the enterprise, after the visit."""

    started_at = strict.DateTimeField(help_text="走访开始时间")
    duration_minutes = strict.IntegerField(min_value=10)
    discussed = strict.CharField(max_length=2000, help_text="走访内容")
    people_met = strict.IntegerField(min_value=1, max_value=100, required=False, default=1)
    issues = serializers.ListField(
        child=strict.CharField(max_length=1000),
        required=False,
        default=list,
        max_length=10,
        help_text="企业提出的诉求（每条登记为已受理）",
    )
    requested_by_enterprise = strict.BooleanField(
        required=False, default=False, help_text="企业邀约（不受每月走访上限限制）"
    )
    campaign = IdRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True, help_text="暖企活动"
    )

    def validate(self, attrs):
        longest = settings.ENTERPRISE_VISIT_MAX_MINUTES
        if attrs["duration_minutes"] > longest:
            raise serializers.ValidationError(
                {"duration_minutes": [f"走访时长不能超过 {longest} 分钟。"]}
            )
        attrs = self.pop_point(attrs)
        if "point" not in attrs:
            raise serializers.ValidationError({"lat": ["请提供签到位置（纬度和经度）。"]})
        return attrs


class VisitSerializer(strict.Serializer):
    id = strict.IntegerField()
    enterprise = strict.IntegerField(source="enterprise_id")
    member = strict.IntegerField(source="member_id")
    member_name = serializers.CharField(source="member.name")
    request = strict.IntegerField(source="request_id")
    visited_at = strict.DateTimeField()
    duration_minutes = strict.IntegerField()
    distance_m = strict.FloatField()
    discussed = strict.CharField()
    requested_by_enterprise = strict.BooleanField()
    quiet_warning = strict.BooleanField()


class WarningSerializer(strict.Serializer):
    code = strict.CharField()
    detail = strict.CharField()
    last_visit_at = strict.CharField()


class AppealSerializer(strict.Serializer):
    id = strict.IntegerField()
    enterprise = strict.IntegerField(source="enterprise_id")
    visit = strict.IntegerField(source="visit_id", allow_null=True)
    source = strict.ChoiceField(choices=EnterpriseAppeal.Source.choices)
    description = strict.CharField()
    status = strict.ChoiceField(choices=EnterpriseAppeal.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    department = strict.CharField()
    asked = strict.CharField()
    due_on = strict.DateField(allow_null=True)
    outcome = strict.CharField()
    reason = strict.CharField()
    score = strict.IntegerField(allow_null=True)
    rating_comment = strict.CharField()
    created_at = strict.DateTimeField()
    referred_at = strict.DateTimeField(allow_null=True)
    started_at = strict.DateTimeField(allow_null=True)
    resolved_at = strict.DateTimeField(allow_null=True)
    rejected_at = strict.DateTimeField(allow_null=True)
    rated_at = strict.DateTimeField(allow_null=True)


class VisitResultSerializer(strict.Serializer):
    visit = VisitSerializer()
    record = strict.IntegerField(source="record_id", help_text="服务记录 ID（待第二方核实）")
    appeals = AppealSerializer(many=True)
    warnings = WarningSerializer(many=True, help_text="无事不扰提醒（不阻止登记）")


class NoInputSerializer(strict.Serializer):
    """No body (an empty JSON object)."""


class AppealInputSerializer(strict.Serializer):
    description = strict.CharField(max_length=1000)


class DeskAppealInputSerializer(AppealInputSerializer):
    wechat_code = strict.CharField(
        max_length=128, required=False, help_text="小程序提交时附 wx.login 的 code"
    )


class AppealReferInputSerializer(strict.Serializer):
    department = strict.CharField(max_length=100, help_text="承办部门")
    asked = strict.CharField(max_length=500, help_text="转办事项")
    due_on = strict.DateField(input_formats=["iso-8601"], help_text="办理时限")


class ResolveInputSerializer(strict.Serializer):
    outcome = strict.CharField(max_length=1000, help_text="办理结果（必填）")


class RejectInputSerializer(strict.Serializer):
    reason = strict.CharField(max_length=200)


class AppealRatingInputSerializer(strict.Serializer):
    score = strict.IntegerField(min_value=1, max_value=5)
    comment = strict.CharField(max_length=300, required=False, allow_blank=True, default="")
    wechat_code = strict.CharField(
        max_length=128, required=False, help_text="小程序提交的诉求须附同一微信用户的 code"
    )


class DeskAppealSerializer(strict.Serializer):
    """What the enterprise reads of its own 诉求: no member names, no phones."""

    id = strict.IntegerField()
    source = strict.ChoiceField(choices=EnterpriseAppeal.Source.choices)
    description = strict.CharField()
    status = strict.ChoiceField(choices=EnterpriseAppeal.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    department = strict.CharField()
    due_on = strict.DateField(allow_null=True)
    outcome = strict.CharField()
    reason = strict.CharField()
    score = strict.IntegerField(allow_null=True)
    rating_comment = strict.CharField()
    created_at = strict.DateTimeField()
    resolved_at = strict.DateTimeField(allow_null=True)


class DeskSerializer(strict.Serializer):
    name = strict.CharField()
    appeals = DeskAppealSerializer(many=True)


class DeskCodeSerializer(strict.Serializer):
    desk_url = strict.CharField(help_text="企业服务码打开的地址（含企业服务码，勿公开张贴）")
    qr_png = strict.CharField(help_text="二维码 PNG（data URL）")


class ImportUploadSerializer(strict.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text=".xlsx 企业名单")


class ImportResultSerializer(strict.Serializer):
    created = strict.IntegerField()
    enterprises = serializers.ListField(child=strict.IntegerField(), help_text="新建企业 ID")


class PeriodQuerySerializer(StatsQuerySerializer):
    """The statistics filters without the 三暖 kind (every visit is 暖企): period and town."""

    campaign_kind = None


class FiguresQuerySerializer(PeriodQuerySerializer):
    """The period, the town and the grouping."""

    by = strict.ChoiceField(
        choices=figures.BY_CHOICES, help_text="town | industry | key_project | month"
    )


class FiguresRowSerializer(strict.Serializer):
    key = strict.CharField()
    label = strict.CharField()
    enterprises = strict.IntegerField(help_text="在册企业数（按月份分组时为 0）")
    covered = strict.IntegerField(help_text="期间内至少走访一次的企业数")
    visits = strict.IntegerField()
    verified_visits = strict.IntegerField(help_text="服务记录已核实的走访")
    appeals = strict.IntegerField(help_text="期间内提出的诉求")
    resolved = strict.IntegerField(help_text="其中已办结（含已评价）")
    resolution_rate = strict.FloatField(allow_null=True, help_text="办结率")
    median_hours_to_resolve = strict.FloatField(allow_null=True, help_text="办结用时中位数（小时）")
    overdue = strict.IntegerField(help_text="超过办理时限仍未办结")
    ratings = strict.IntegerField()
    satisfaction = strict.FloatField(allow_null=True, help_text="企业评价平均分（1–5）")
