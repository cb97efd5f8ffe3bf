"""Errors of image evidence; tests import the code constants."""

from __future__ import annotations

from rest_framework import status

from accounts.errors import ApplicationError, Conflict, Forbidden, InvalidInput

ATTACHMENT_TYPE_UNSUPPORTED = "attachment_type_unsupported"
ATTACHMENT_UNREADABLE = "attachment_unreadable"
ATTACHMENT_TOO_LARGE = "attachment_too_large"
ATTACHMENT_TOO_MANY_PIXELS = "attachment_too_many_pixels"
TOO_MANY_ATTACHMENTS = "too_many_attachments"
ATTACHMENTS_CLOSED = "attachments_closed"
NOT_ATTACHMENT_UPLOADER = "not_attachment_uploader"
ATTACHMENT_LINK_INVALID = "attachment_link_invalid"
ATTACHMENT_LINK_EXPIRED = "attachment_link_expired"
ATTACHMENT_GONE = "attachment_gone"


class AttachmentTypeUnsupported(ApplicationError):
    """415: the bytes are not a JPEG, PNG or WebP image, whatever the file is named."""

    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = ATTACHMENT_TYPE_UNSUPPORTED
    default_detail = "只接受 JPEG、PNG 或 WebP 图片（按文件内容识别，不看文件名）。"


class AttachmentUnreadable(InvalidInput):
    """400: the header says image, but the image cannot be decoded (truncated, corrupt)."""

    default_code = ATTACHMENT_UNREADABLE
    default_detail = "图片已损坏或不完整，无法读取。"


class AttachmentTooLarge(ApplicationError):
    """413: the file is larger than ATTACHMENTS_MAX_BYTES."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ATTACHMENT_TOO_LARGE
    default_detail = "图片文件过大。"


class AttachmentTooManyPixels(ApplicationError):
    """413: the image declares more pixels than ATTACHMENTS_MAX_PIXELS (a decompression bomb)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ATTACHMENT_TOO_MANY_PIXELS
    default_detail = "图片像素过多。"


class TooManyAttachments(Conflict):
    """409: the owner already holds as many attachments as it may."""

    default_code = TOO_MANY_ATTACHMENTS
    default_detail = "照片数量已达上限。"


class AttachmentsClosed(Conflict):
    """409: the owner takes no more changes to its attachments (e.g. a reviewed record)."""

    default_code = ATTACHMENTS_CLOSED
    default_detail = "当前状态不能再添加或删除照片。"


class NotAttachmentUploader(Forbidden):
    """403: this user may not add (or remove) these attachments."""

    default_code = NOT_ATTACHMENT_UPLOADER
    default_detail = "您不能为此添加或删除照片。"


class AttachmentLinkInvalid(Forbidden):
    """403: the signed link was altered or was never issued."""

    default_code = ATTACHMENT_LINK_INVALID
    default_detail = "照片链接无效。"


class AttachmentLinkExpired(Forbidden):
    """403: the signed link is older than ATTACHMENTS_URL_SECONDS; ask for a new one."""

    default_code = ATTACHMENT_LINK_EXPIRED
    default_detail = "照片链接已过期，请刷新后重试。"


class AttachmentGone(ApplicationError):
    """404: the attachment was removed, purged after the retention period, or withheld."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = ATTACHMENT_GONE
    default_detail = "照片不存在或已不再提供。"
