"""A service record's photos over HTTP: parse, call one function, serialize."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.errors import error_codes
from accounts.fields import MAX_ID
from accounts.throttles import ScopedThrottle
from services.api import CONFLICT, url_pk
from services.attachments import errors as attachment_errors
from services.models import ServiceRecord
from services.records import attachments
from services.records import selectors as records
from services.records.attachment_serializers import (
    AttachmentUploadSerializer,
    RecordAttachmentSerializer,
    attachment_context,
)

RECORDS = "records"


class _RecordMixin:
    """The record in the URL, if the user may see it (else 404)."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ServiceRecord.objects.none()
        return records.visible_records(self.request.user)

    def get_record(self) -> ServiceRecord:
        return generics.get_object_or_404(self.get_queryset(), pk=url_pk(self))


def _list_body(record: ServiceRecord, request) -> list:
    rows = attachments.visible_attachments(record, request.user).select_related("uploaded_by")
    return RecordAttachmentSerializer(rows, many=True, context=attachment_context(request)).data


@extend_schema(tags=[RECORDS])
class RecordAttachmentsView(_RecordMixin, generics.GenericAPIView):
    """List a record's photos, or add some."""

    permission_classes = [IsAuthenticated]
    serializer_class = RecordAttachmentSerializer
    # A handful of photos (ATTACHMENTS_MAX_PER_RECORD): one page, no pagination.
    pagination_class = None
    # The API is JSON only; this one endpoint takes files, and lifts the body limit for POST
    # (backend.middleware.body_limit).
    parser_classes = [MultiPartParser]
    body_limit_setting = "ATTACHMENTS_MAX_UPLOAD_BYTES"
    body_limit_methods = ("POST",)
    # Uploads count with record submissions, per user (THROTTLE_RECORDS); reading does not.
    throttle_classes = [ScopedThrottle]
    throttle_scope = "records"

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        summary="服务记录的照片",
        extensions=error_codes(),
        description=(
            "能看到该记录的人可见（同记录列表的可见范围）。每张照片给出原图和缩略图的限时签名链接"
            "（ATTACHMENTS_URL_SECONDS 秒内有效），已去除 EXIF 等元数据；拍摄位置不返回，只返回"
            "是否带位置。记录被撤销核实后，照片只对机关工作人员提供。"
        ),
        responses={200: RecordAttachmentSerializer(many=True)},
    )
    def get(self, request, *args, **kwargs):
        return Response(_list_body(self.get_record(), request))

    @extend_schema(
        summary="为服务记录添加照片",
        extensions=error_codes(
            attachment_errors.NotAttachmentUploader,
            attachment_errors.AttachmentsClosed,
            attachment_errors.TooManyAttachments,
            attachment_errors.AttachmentTooLarge,
            attachment_errors.AttachmentTooManyPixels,
            attachment_errors.AttachmentTypeUnsupported,
            attachment_errors.AttachmentUnreadable,
        ),
        description=(
            "`multipart/form-data`，字段 `files` 可重复。记录提交人、参与委员或该驿站管理员"
            "（否则 403 `not_attachment_uploader`），记录须待核实（已核实、已退回、已撤销 → 409 "
            "`attachments_closed`）。只接受 JPEG、PNG、WebP（按内容识别，否则 415 "
            "`attachment_type_unsupported`）；每张最多 ATTACHMENTS_MAX_BYTES 字节（413 "
            "`attachment_too_large`）、ATTACHMENTS_MAX_PIXELS 像素（413 "
            "`attachment_too_many_pixels`）；无法解码 → 400 `attachment_unreadable`；每条记录最多 "
            "ATTACHMENTS_MAX_PER_RECORD 张（409 `too_many_attachments`）；整个请求体最多 "
            "ATTACHMENTS_MAX_UPLOAD_BYTES（413 `request_too_large`）。任一张不合格则全部不保存。"
            "保存前去除 EXIF 等全部元数据，先读取拍摄时间和位置：离服务地点超过 "
            "ATTACHMENTS_FLAG_DISTANCE_KM 公里或不在服务时段（前后放宽 "
            "ATTACHMENTS_FLAG_GRACE_MINUTES 分钟）内时，记录增加异常标记。返回该记录的全部照片。"
        ),
        request=OpenApiRequest(
            AttachmentUploadSerializer,
            encoding={"files": {"contentType": "image/jpeg, image/png, image/webp"}},
        ),
        responses={201: RecordAttachmentSerializer(many=True), 409: CONFLICT},
    )
    def post(self, request, *args, **kwargs):
        record = self.get_record()
        # Who may add, before the body (up to ATTACHMENTS_MAX_UPLOAD_BYTES) is parsed.
        attachments.check_upload(record=record, user=request.user)
        data = AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attachments.add_attachments(
            user=request.user, record_id=record.pk, uploads=data.validated_data["files"]
        )
        return Response(_list_body(record, request), status=status.HTTP_201_CREATED)


@extend_schema(tags=[RECORDS])
class RecordAttachmentDetailView(_RecordMixin, generics.GenericAPIView):
    """The uploader takes one photo back."""

    permission_classes = [IsAuthenticated]
    serializer_class = RecordAttachmentSerializer

    @extend_schema(
        summary="删除服务记录的照片",
        extensions=error_codes(
            attachment_errors.NotAttachmentUploader, attachment_errors.AttachmentsClosed
        ),
        description=(
            "仅上传人（否则 403 `not_attachment_uploader`），且记录仍待核实（否则 409 "
            "`attachments_closed`）。文件和缩略图一并删除，异常标记重新计算。"
        ),
        responses={204: None, 409: CONFLICT},
    )
    def delete(self, request, *args, **kwargs):
        record = self.get_record()
        attachment_id = int(self.kwargs["attachment"])
        if not 1 <= attachment_id <= MAX_ID:
            raise Http404
        attachments.remove_attachment(
            user=request.user, record_id=record.pk, attachment_id=attachment_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
