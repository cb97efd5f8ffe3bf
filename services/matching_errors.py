"""Errors of matching, the member feed and the map; tests import the code constants.

Bad coordinates, radii, bounding boxes and coordinate types reuse ``stations.errors``
(``invalid_coordinates``, ``invalid_radius``, ``invalid_bbox``, ``unknown_coord_type``), so a
client sees one code per kind of mistake across the API.
"""

from __future__ import annotations

from accounts.errors import InvalidInput

LOCATION_REQUIRED = "location_required"


class LocationRequired(InvalidInput):
    """400: the feed needs a point: ``lat``/``lng`` in the query or the member's home."""

    default_code = LOCATION_REQUIRED
    default_detail = "请提供当前位置（lat、lng），或先在个人资料中设置常住地。"
