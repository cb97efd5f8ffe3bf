"""Open311 errors. They are raised in the API's one error class like every other error; the
Open311 middleware then rewrites the body of anything under /open311/ into Open311's shape."""

from __future__ import annotations

from rest_framework import status

from accounts.errors import ApplicationError, Forbidden

OPEN311_INVALID_API_KEY = "open311_invalid_api_key"
OPEN311_UNKNOWN_SERVICE = "open311_unknown_service"
OPEN311_UNKNOWN_REQUEST = "open311_unknown_request"
OPEN311_DATE_RANGE = "open311_date_range"
OPEN311_CAMPAIGN_REQUIRED = "open311_campaign_required"


class InvalidApiKey(Forbidden):
    """403: no ``api_key``, or one that is unknown, revoked, or of an inactive station."""

    default_code = OPEN311_INVALID_API_KEY
    default_detail = "缺少 api_key，或 api_key 无效、已停用。"


class UnknownService(ApplicationError):
    """404: a ``service_code`` that is not in the catalogue."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = OPEN311_UNKNOWN_SERVICE
    default_detail = "未知的 service_code。"


class UnknownRequest(ApplicationError):
    """404: no service request has this id."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = OPEN311_UNKNOWN_REQUEST
    default_detail = "未找到该服务需求。"


class DateRange(ApplicationError):
    """400: ``start_date`` after ``end_date``, or a span longer than the spec allows."""

    default_code = OPEN311_DATE_RANGE
    default_detail = "start_date 与 end_date 的范围无效。"


class CampaignRequired(ApplicationError):
    """400: no campaign could be chosen for a posted request without ``attribute[campaign]``."""

    default_code = OPEN311_CAMPAIGN_REQUIRED
    default_detail = (
        "无法确定所属活动，请用 attribute[campaign] 指定活动 ID 或类型"
        "（warm_enterprise、warm_village、warm_heart）。"
    )
