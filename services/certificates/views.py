"""Certificates over HTTP: ask for one, list mine, fetch the PDF, verify a code (JSON)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttles import ScopedThrottle
from services.api import url_pk
from services.certificates import selectors as certificates
from services.certificates.pdf import render
from services.certificates.serializers import (
    CertificateInputSerializer,
    CertificateSerializer,
    PublicCertificateSerializer,
)
from services.certificates.writes import issue_certificate
from services.models import Certificate
from services.stats.views import FileNegotiation

CERTIFICATES = "certificates"
PDF_TYPE = "application/pdf"


@extend_schema(tags=[CERTIFICATES])
class MyCertificatesView(generics.ListAPIView):
    """The signed-in member's certificates; POST asks for a new one."""

    permission_classes = [IsAuthenticated]
    serializer_class = CertificateSerializer
    throttle_scope = "certificates"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Certificate.objects.none()
        return certificates.my_certificates(self.request.user)

    def get_throttles(self):
        # Issuing renders nothing yet but freezes rows: per user (THROTTLE_CERTIFICATES).
        return [ScopedThrottle()] if self.request.method == "POST" else []

    @extend_schema(summary="我的志愿服务证明", description="本人申请过的证明，新的在前。")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="申请志愿服务证明",
        description=(
            "委员本人为一段期间（服务日期，含首尾）申请：服务器把期间内本人每次已核实服务（日期、"
            "地点、内容、时长）和合计冻结进证明（出具后不再改变），给出编号（WWQZ-年份-序号）和"
            "验证码。from 晚于 to → 400 `invalid_period`；期间超过 CERTIFICATE_MAX_DAYS 天 → 400 "
            "`period_too_long`；期间内没有已核实服务 → 422 `no_verified_service`；超过 "
            "CERTIFICATE_MAX_SERVICES 次 → 422 `too_many_services`；无委员档案 → 403 "
            "`member_profile_required`。所列记录之一被撤销核实时，证明随之标记为已撤销。"
        ),
        request=CertificateInputSerializer,
        responses={201: CertificateSerializer, 422: OpenApiResponse(description="见 code")},
    )
    def post(self, request, *args, **kwargs):
        data = CertificateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        certificate = issue_certificate(
            user=request.user,
            date_from=data.validated_data["from"],
            date_to=data.validated_data["to"],
        )
        body = CertificateSerializer(certificate, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=[CERTIFICATES])
class CertificatePdfView(APIView):
    """The certificate as a PDF: its member, or staff; anyone else 404."""

    permission_classes = [IsAuthenticated]
    content_negotiation_class = FileNegotiation
    # Drawing one takes a second or two of CPU (the font's subset): per user, as asking is.
    throttle_classes = [ScopedThrottle]
    throttle_scope = "certificates"

    @extend_schema(
        summary="志愿服务证明 PDF",
        description=(
            "A4 中文 PDF：姓名、出具单位、期间内每次服务、合计、出具日期、编号、验证码及二维码。"
            "证明本人和机关工作人员可下载，其他人 → 404。"
        ),
        responses={(200, PDF_TYPE): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        certificate = certificates.fetchable(request.user).filter(pk=url_pk(self)).first()
        if certificate is None:
            raise Http404
        # A certificate never changes, so neither does its document: drawn once, then cached.
        key = f"certificate-pdf:{certificate.pk}:{certificate.serial}"
        body = cache.get(key)
        if body is None:
            body = render(certificate)
            cache.set(key, body, settings.CERTIFICATE_PDF_CACHE_SECONDS)
        response = HttpResponse(body, content_type=PDF_TYPE)
        response["Content-Disposition"] = f'inline; filename="{certificate.serial}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema(tags=[CERTIFICATES])
class VerifyView(APIView):
    """Public: what a certificate states (name masked) and whether it is still valid."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedThrottle]
    # Per client address (settings THROTTLE_CERTIFICATE_VERIFY).
    throttle_scope = "certificate_verify"

    @extend_schema(
        summary="核验志愿服务证明（公开）",
        description=(
            "无需登录，按来源地址限流。验证码（16 位，大小写、连字符不限）对应的证明：编号、出具"
            "单位、期间、每次服务、合计、出具日期，姓名打码；valid 与 status 表示是否仍有效（所列"
            "记录被撤销核实后为 revoked，revoked_on 为撤销日期）。伪造或不存在的验证码 → 404。"
            "人看的页面是 /verify/<code>。"
        ),
        responses={200: PublicCertificateSerializer},
    )
    def get(self, request, code):
        certificate = certificates.by_code(code)
        if certificate is None:
            raise Http404
        return Response(PublicCertificateSerializer(certificate).data)
