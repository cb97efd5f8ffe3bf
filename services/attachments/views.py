"""The signed view that serves locally stored attachments (S3 serves its presigned URLs)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from accounts.throttles import ScopedThrottle
from services.attachments import errors
from services.attachments import storage as files
from services.attachments.images import FORMATS
from services.models import Attachment


@extend_schema(tags=["attachments"])
class AttachmentFileView(APIView):
    """The bytes of one attachment, for whoever holds an unexpired signed link.

    The link is the credential (an ``<img src>`` sends no Authorization header), so there is no
    sign-in here; links are issued only by endpoints that checked who may see the owner."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "attachments"

    @extend_schema(
        summary="照片文件（限时签名链接）",
        description=(
            "由照片列表或记录详情给出的签名链接，ATTACHMENTS_URL_SECONDS 秒内有效；过期 → 403 "
            "`attachment_link_expired`，被篡改 → 403 `attachment_link_invalid`；照片已删除、"
            "已按保存期限清除，或记录被撤销后链接不是发给机关工作人员的 → 404 `attachment_gone`。"
            "内容已去除 EXIF 等全部元数据。"
        ),
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="图片"),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="图片"),
            (200, "image/webp"): OpenApiResponse(OpenApiTypes.BINARY, description="图片"),
            403: OpenApiResponse(
                description="链接已过期（attachment_link_expired）或无效（attachment_link_invalid）"
            ),
            404: OpenApiResponse(description="照片不存在或已不再提供（attachment_gone）"),
        },
    )
    def get(self, request, token: str):
        link = files.open_link(token)
        attachment = Attachment.objects.filter(pk=link.attachment_id).first()
        if attachment is None or not attachment.file_name:
            raise errors.AttachmentGone()
        if attachment.withheld_at is not None and not link.staff:
            raise errors.AttachmentGone()
        name = attachment.file_name if link.variant == files.ORIGINAL else attachment.thumbnail_name
        storage = files.attachment_storage()
        if not storage.exists(name):
            raise errors.AttachmentGone()
        suffix = "" if link.variant == files.ORIGINAL else "_thumb"
        _, extension = FORMATS.get(attachment.content_type, ("", "bin"))
        response = FileResponse(
            storage.open(name, "rb"),
            content_type=attachment.content_type,
            as_attachment=False,
            filename=f"{attachment.pk}{suffix}.{extension}",
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Referrer-Policy"] = "no-referrer"
        return response
