"""Output of attachments: the facts kept and two signed URLs (original and thumbnail)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import fields as strict
from services.attachments import storage as files
from services.models import Attachment


class AttachmentSerializer(strict.ModelSerializer):
    """One attachment. Context: ``request``, and ``staff`` (links issued to staff still work
    once the attachment is withheld). The GPS position itself is never shown: only whether one
    was read, and the owner's flags say how far it was."""

    url = serializers.SerializerMethodField(help_text="原图（已去除 EXIF 等元数据）的限时签名链接")
    thumbnail_url = serializers.SerializerMethodField(help_text="缩略图的限时签名链接")
    urls_expire_at = serializers.SerializerMethodField(help_text="两个链接的失效时间")
    has_location = serializers.SerializerMethodField(help_text="上传时照片是否带拍摄位置")
    purged = serializers.SerializerMethodField(help_text="文件已按保存期限清除")
    withheld = serializers.SerializerMethodField(help_text="已停止向非工作人员提供（记录被撤销）")

    class Meta:
        model = Attachment
        fields = [
            "id",
            "content_type",
            "size_bytes",
            "width",
            "height",
            "taken_at",
            "has_location",
            "uploaded_by",
            "uploaded_at",
            "url",
            "thumbnail_url",
            "urls_expire_at",
            "purged",
            "withheld",
        ]
        read_only_fields = fields

    def _links(self, obj: Attachment) -> dict:
        cache = self.context.setdefault("_attachment_links", {})
        if obj.pk not in cache:
            if not obj.file_name:
                cache[obj.pk] = {"url": None, "thumbnail_url": None, "urls_expire_at": None}
            else:
                staff = bool(self.context.get("staff"))
                request = self.context.get("request")
                url, expires = files.signed_url(
                    attachment_id=obj.pk,
                    name=obj.file_name,
                    variant=files.ORIGINAL,
                    staff=staff,
                    request=request,
                )
                thumb, _ = files.signed_url(
                    attachment_id=obj.pk,
                    name=obj.thumbnail_name,
                    variant=files.THUMBNAIL,
                    staff=staff,
                    request=request,
                )
                cache[obj.pk] = {"url": url, "thumbnail_url": thumb, "urls_expire_at": expires}
        return cache[obj.pk]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, obj: Attachment) -> str | None:
        return self._links(obj)["url"]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, obj: Attachment) -> str | None:
        return self._links(obj)["thumbnail_url"]

    @extend_schema_field(strict.DateTimeField(allow_null=True))
    def get_urls_expire_at(self, obj: Attachment):
        expires = self._links(obj)["urls_expire_at"]
        return strict.DateTimeField().to_representation(expires) if expires else None

    def get_has_location(self, obj: Attachment) -> bool:
        return obj.taken_lat is not None

    def get_purged(self, obj: Attachment) -> bool:
        return obj.purged_at is not None

    def get_withheld(self, obj: Attachment) -> bool:
        return obj.withheld_at is not None
