"""Input and output of certificates: the period asked for, the certificate as its owner (or
staff) sees it, and what the public verification shows."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from members.pii import mask_name
from services.api import HoursField
from services.archive.serializers import DATE_ERRORS
from services.certificates import codes
from services.models import Campaign, Certificate


class CertificateInputSerializer(strict.Serializer):
    """``{from, to}``: the service days (Asia/Shanghai, inclusive) the certificate covers."""

    vars()["from"] = strict.DateField(
        input_formats=["iso-8601"], error_messages=DATE_ERRORS, help_text="开始日期（含）"
    )
    to = strict.DateField(
        input_formats=["iso-8601"],
        error_messages=DATE_ERRORS,
        help_text="结束日期（含）；最长 CERTIFICATE_MAX_DAYS 天（默认 366）",
    )


class FrozenServiceSerializer(strict.Serializer):
    """One service as the certificate states it (frozen at issue)."""

    date = strict.DateField()
    campaign_kind = strict.ChoiceField(choices=Campaign.Kind.choices)
    place = strict.CharField()
    title = strict.CharField()
    content = strict.CharField()
    service_minutes = strict.IntegerField(source="minutes")
    service_hours = HoursField(source="minutes")
    people_served = strict.IntegerField()


class _CertificateFields(strict.Serializer):
    serial = strict.CharField(help_text="证明编号，如 WWQZ-2026-000123")
    status = strict.ChoiceField(choices=Certificate.Status.choices)
    status_label = strict.CharField(source="get_status_display")
    issuer = strict.CharField()
    vars()["from"] = strict.DateField(source="date_from")
    to = strict.DateField(source="date_to")
    issued_on = strict.DateField(help_text="出具日期（Asia/Shanghai）")
    service_count = strict.IntegerField()
    service_minutes = strict.IntegerField()
    service_hours = HoursField(source="service_minutes")
    people_served = strict.IntegerField()
    services = FrozenServiceSerializer(many=True)
    revoked_on = serializers.SerializerMethodField(help_text="撤销日期（有效时为 null）")

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_revoked_on(self, certificate: Certificate):
        if certificate.revoked_at is None:
            return None
        return timezone.localdate(certificate.revoked_at).isoformat()


class CertificateSerializer(_CertificateFields):
    """The certificate to its member (and staff): everything it states, the code, the files."""

    id = strict.IntegerField()
    member = strict.IntegerField(source="member_id")
    member_name = strict.CharField()
    code = strict.CharField(help_text="验证码（16 位）")
    verify_url = serializers.SerializerMethodField(help_text="公开核验页面（二维码指向这里）")
    pdf_url = serializers.SerializerMethodField()
    issued_at = strict.DateTimeField()
    revoked_at = strict.DateTimeField(allow_null=True)

    def get_verify_url(self, certificate: Certificate) -> str:
        return codes.verify_url(certificate.code)

    def get_pdf_url(self, certificate: Certificate) -> str:
        path = reverse("certificate-pdf", kwargs={"pk": certificate.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class PublicCertificateSerializer(_CertificateFields):
    """What anyone with the code sees: the statement, the name masked, valid or revoked."""

    member_name = serializers.SerializerMethodField(help_text="委员姓名（打码）")
    valid = serializers.SerializerMethodField()

    def get_member_name(self, certificate: Certificate) -> str:
        return mask_name(certificate.member_name)

    def get_valid(self, certificate: Certificate) -> bool:
        return certificate.status == Certificate.Status.VALID
