"""Input and output of a service record's photos (services.records.attachments)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from accounts.permissions import is_staff
from services.attachments.serializers import AttachmentSerializer
from services.records.attachments import visible_attachments
from services.records.serializers import RecordSerializer, UserRefField


class AttachmentUploadSerializer(strict.Serializer):
    """``multipart/form-data``: one or more ``files`` parts, each an image."""

    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        min_length=1,
        help_text=(
            "照片，可重复（JPEG、PNG、WebP，按内容识别）；每张最多 ATTACHMENTS_MAX_BYTES 字节，"
            "每条记录最多 ATTACHMENTS_MAX_PER_RECORD 张"
        ),
    )

    def to_internal_value(self, data):
        # A form, not JSON: the strict key check (which skips query strings) applies here too,
        # so a mistyped part name is 400 unknown_field rather than silently dropped.
        strict.check_keys(self, data)
        return super().to_internal_value(data)

    def validate_files(self, value: list) -> list:
        limit = settings.ATTACHMENTS_MAX_PER_RECORD
        if len(value) > limit:
            raise serializers.ValidationError(f"一次最多上传 {limit} 张照片。")
        return value


class RecordAttachmentSerializer(AttachmentSerializer):
    """A record's photo, its uploader named as members' names are (masked unless allowed)."""

    uploaded_by = UserRefField(allow_null=True)


def attachment_context(request) -> dict:
    return {"request": request, "staff": is_staff(request.user)}


class RecordDetailSerializer(RecordSerializer):
    """A record as the verifier reads it: the fields of the list plus its photos."""

    attachments = serializers.SerializerMethodField(help_text="照片（限时签名链接）")

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "attachments"]
        read_only_fields = fields

    @extend_schema_field(RecordAttachmentSerializer(many=True))
    def get_attachments(self, record) -> list:
        request = self.context["request"]
        rows = visible_attachments(record, request.user).select_related("uploaded_by")
        return RecordAttachmentSerializer(
            rows, many=True, context={**self.context, **attachment_context(request)}
        ).data
