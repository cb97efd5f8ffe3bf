"""Open311 GeoReport v2 interop at ``/open311/v2/`` (JSON only).

Public reads of the service catalogue (one service per specialty) and of service requests (no
personal data), and posts of new requests by outside systems holding a station's API key.
Errors on these paths take Open311's shape ``[{"code": <HTTP status>, "description": "..."}]``
(``middleware.Open311ErrorMiddleware``); the rest of the API keeps ``{"code", "detail"}``.
"""
