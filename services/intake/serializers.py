"""Intake input and output (docs/intake.md): strict input, the resident's phone in full only
on the manager-side endpoints (which only the station's managers and staff can reach)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.pii_audit import note_view
from members.models import Specialty
from members.phones import normalize_phone
from members.pii import context_viewer
from services.api import IdRelatedField
from services.attachments.serializers import AttachmentSerializer
from services.models import Campaign, Intake, ServiceRequest
from stations.models import Station, Village

PHONE_MESSAGE = "请填写有效的中国大陆手机号码（11 位）。"


class ResidentPhoneField(strict.CharField):
    """An optional mainland mobile number, stored in its 11-digit form."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", "联系电话（可选，中国大陆手机号）")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value:
            return ""
        phone = normalize_phone(value)
        if phone is None:
            raise serializers.ValidationError(PHONE_MESSAGE)
        return phone


def _description_field() -> strict.CharField:
    return strict.CharField(
        max_length=settings.INTAKE_MAX_DESCRIPTION,
        help_text="发生了什么、需要什么帮助（不对外公开）",
    )


class IntakeFormSerializer(strict.Serializer):
    """What the poster's page takes (the code comes from the address)."""

    specialty = IdRelatedField(
        queryset=Specialty.objects.filter(active=True),
        required=False,
        allow_null=True,
        help_text="需求类型（专长 ID，可选）",
    )
    village = IdRelatedField(
        queryset=Village.objects.filter(active=True),
        required=False,
        allow_null=True,
        help_text="村/社区 ID（村/社区二维码已预设）",
    )
    description = strict.CharField(max_length=1000)
    phone = ResidentPhoneField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["description"] = _description_field()


class IntakeInputSerializer(IntakeFormSerializer):
    """POST intake/: the mini-program's form, with the poster's code and a WeChat login code."""

    shown_model = Intake

    code = strict.CharField(max_length=16, help_text="二维码中的入口码")
    wechat_code = strict.CharField(
        max_length=128,
        required=False,
        help_text="wx.login 的 code（可选）：以 openid 识别群众，各环节推送订阅消息",
    )


class IntakePhotoUploadSerializer(strict.Serializer):
    """``multipart/form-data`` of POST intake/tickets/{ticket}/photos/: ``files`` (repeatable;
    ``wx.uploadFile`` sends one per call) and, for a mini-program intake, ``wechat_code``."""

    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        min_length=1,
        help_text="照片，可重复（JPEG、PNG、WebP，按内容识别）；每条诉求最多 INTAKE_MAX_PHOTOS 张",
    )
    wechat_code = strict.CharField(
        max_length=128,
        required=False,
        help_text="wx.login 的 code：小程序提交的点单须由同一微信用户上传",
    )

    def to_internal_value(self, data):
        # A form, not JSON: a mistyped part name is 400 unknown_field, not silently dropped.
        strict.check_keys(self, data)
        return super().to_internal_value(data)


class IntakePhotosReceiptSerializer(strict.Serializer):
    """How many photos the intake carries now, of how many it may."""

    photos = strict.IntegerField()
    max_photos = strict.IntegerField()


class IntakeReceiptSerializer(strict.Serializer):
    """What the resident gets back: the ticket and its page."""

    ticket = strict.CharField(help_text="回执码（查看进度、评价时使用，请妥善保存）")
    ticket_url = strict.CharField(help_text="进度页面地址")
    status = strict.ChoiceField(choices=Intake.Status.choices)


@extend_schema_field(OpenApiTypes.STR)
class IntakePhoneField(serializers.Field):
    """The resident's phone in full (the endpoints are the station's managers' and staff's);
    staff reads leave a pii_viewed Event, as every full number shown to staff does."""

    def __init__(self, **kwargs):
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, intake: Intake) -> str:
        viewer = context_viewer(self.context)
        if intake.phone and viewer.staff:
            note_view(actor_id=viewer.user_id, obj=intake, field_name="phone")
        return intake.phone


class IntakeSerializer(serializers.ModelSerializer):
    """One intake as its station's managers and staff see it."""

    phone = IntakePhoneField()
    age_seconds = serializers.SerializerMethodField(help_text="进入本驿站待办至今（秒）")
    station_name = serializers.CharField(source="station.name", read_only=True)
    village_name = serializers.CharField(
        source="village.name", read_only=True, default=None, allow_null=True
    )
    specialty_name = serializers.CharField(
        source="specialty.name", read_only=True, default=None, allow_null=True
    )
    photos = AttachmentSerializer(
        many=True, read_only=True, help_text="群众上传的照片（已去除元数据；限时签名链接）"
    )

    class Meta:
        model = Intake
        fields = [
            "id",
            "station",
            "station_name",
            "village",
            "village_name",
            "specialty",
            "specialty_name",
            "description",
            "phone",
            "photos",
            "source",
            "status",
            "possible_duplicates",
            "request",
            "referred_from",
            "reason",
            "queued_at",
            "created_at",
            "triaged_at",
            "triaged_by",
            "age_seconds",
        ]
        read_only_fields = fields

    def get_age_seconds(self, intake: Intake) -> int:
        now = self.context["now"]
        return max(0, int((now - intake.queued_at).total_seconds()))


class IntakeQuerySerializer(strict.Serializer):
    status = strict.ChoiceField(choices=Intake.Status.choices, required=False)
    station = IdRelatedField(queryset=Station.objects.all(), required=False)


class UntriagedQuerySerializer(strict.Serializer):
    hours = strict.IntegerField(min_value=1, max_value=24 * 365, required=False)


class AcceptInputSerializer(strict.Serializer):
    """受理: the plan of the request the intake becomes; the text comes from the intake."""

    campaign = IdRelatedField(queryset=Campaign.objects.all())
    starts_at = strict.DateTimeField()
    ends_at = strict.DateTimeField()
    slots = strict.IntegerField(min_value=1, max_value=500)
    title = strict.CharField(max_length=100, required=False, help_text="默认取诉求内容首行")
    specialties = IdRelatedField(
        queryset=Specialty.objects.filter(active=True), many=True, required=False, max_length=20
    )
    address = strict.CharField(max_length=200, required=False, allow_blank=True)
    share_phone = strict.BooleanField(
        required=False,
        help_text="把群众的联系电话填入需求联系人（认领委员可见）；默认不填",
    )


class MergeInputSerializer(strict.Serializer):
    request = IdRelatedField(queryset=ServiceRequest.objects.all(), help_text="本驿站的需求 ID")


class ReferInputSerializer(strict.Serializer):
    station = IdRelatedField(
        queryset=Station.objects.all(), required=False, help_text="转交的驿站（与 office 二选一）"
    )
    office = strict.BooleanField(required=False, help_text="转交政协机关（社情民意信息）")
    reason = strict.CharField(max_length=200)


class IntakeDeclineInputSerializer(strict.Serializer):
    reason = strict.CharField(max_length=200, help_text="不予受理的原因（群众可见）")


class TriageFiguresSerializer(strict.Serializer):
    intakes = strict.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    triaged = strict.IntegerField()
    triage_hours_median = strict.FloatField(allow_null=True)
    triage_hours_mean = strict.FloatField(allow_null=True)
    untriaged_overdue = strict.IntegerField()


class RatingInputSerializer(strict.Serializer):
    """评单: 1–5, an optional comment."""

    score = strict.IntegerField(min_value=1, max_value=5, help_text="评分 1–5")
    comment = strict.CharField(max_length=300, required=False, allow_blank=True)


class RatingApiInputSerializer(RatingInputSerializer):
    wechat_code = strict.CharField(
        max_length=128, required=False, help_text="小程序提交的点单须附 wx.login 的 code"
    )


class TicketStepSerializer(strict.Serializer):
    name = strict.CharField()
    at = strict.DateTimeField(allow_null=True)


class TicketSerializer(strict.Serializer):
    """The resident's ticket: steps and dates, nothing about the members."""

    status = strict.ChoiceField(choices=Intake.Status.choices)
    status_label = strict.CharField()
    steps = TicketStepSerializer(many=True)
    reason = strict.CharField(help_text="不予受理或转交机关的说明")
    closed = strict.BooleanField()
    can_rate = strict.BooleanField()
    score = strict.IntegerField(allow_null=True)
    comment = strict.CharField()
    rating_changeable_until = strict.DateTimeField(allow_null=True)
