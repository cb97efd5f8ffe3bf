"""Geography errors: bad coordinates, coordinate systems, bounding boxes and radii.

Each error carries a stable ``code`` and, where one input is at fault, ``fields`` naming it
(``{"lat": ["纬度必须在 -90 到 90 之间。"]}``) so a client can mark the right form field.
"""

from __future__ import annotations

from accounts.errors import ApplicationError, Conflict, Forbidden

INVALID_COORDINATES = "invalid_coordinates"
UNKNOWN_COORD_TYPE = "unknown_coord_type"
OUTSIDE_CHINA = "outside_china"
INVALID_BBOX = "invalid_bbox"
INVALID_RADIUS = "invalid_radius"
DUPLICATE_NAME = "duplicate_name"
DUPLICATE_CODE = "duplicate_code"
STATION_FIELD_NOT_EDITABLE = "station_field_not_editable"


class InvalidCoordinates(ApplicationError):
    """400: a latitude or longitude is missing, not a finite number, or out of range."""

    default_code = INVALID_COORDINATES
    default_detail = "坐标无效。"


class UnknownCoordType(ApplicationError):
    """400: the coordinate system is neither ``wgs84`` nor ``gcj02``."""

    default_code = UNKNOWN_COORD_TYPE
    default_detail = "不支持的坐标类型，只支持 wgs84 或 gcj02。"


class OutsideChina(ApplicationError):
    """400: a GCJ-02 coordinate lies outside China, where GCJ-02 is not defined."""

    default_code = OUTSIDE_CHINA
    default_detail = "GCJ-02 坐标只适用于中国境内，该坐标超出范围。"


class InvalidBBox(ApplicationError):
    """400: a bounding box is malformed, out of range, inverted or too large."""

    default_code = INVALID_BBOX
    default_detail = "范围参数 bbox 无效。"


class InvalidRadius(ApplicationError):
    """400: a search radius is not a finite, non-negative number."""

    default_code = INVALID_RADIUS
    default_detail = "搜索半径无效。"


class DuplicateName(Conflict):
    """409: another row already has this name (in its town, for villages)."""

    default_code = DUPLICATE_NAME
    default_detail = "名称已存在。"


class DuplicateCode(Conflict):
    """409: another town already has this 行政区划代码."""

    default_code = DUPLICATE_CODE
    default_detail = "代码已存在。"


class StationFieldNotEditable(Forbidden):
    """403: a station manager tried to change a field only staff may change."""

    default_code = STATION_FIELD_NOT_EDITABLE
    default_detail = "驿站管理员只能修改地址和坐标。"
