"""Every endpoint × every persona → expected status, in one table (docs/architecture.md#quality-bars, OWASP API1/3/5).

``MATRIX`` is the table. ``test_every_route_is_in_the_matrix`` walks the URL conf and fails when
a route/method under /api/v1/, /open311/, /dashboard/, /console/, /healthz, /api/schema or /api/docs is
missing from it (or the table names one that no longer exists). ``test_matrix`` calls each
entry as each persona, each call in its own rolled-back savepoint so one persona's write never
changes what the next one sees. The objects are "this" station's (mary manages it, lily is the
liaison of its village, alice holds the claim): see tests/schemathesis_support.py.

Statuses: 2xx where the persona may act; 400/409/422 where it passed the permission gate and
the body or state refused it; 401 anonymous; 403 signed in but not allowed; 404 where the
object is invisible to the persona (no existence leak); 302 the dashboard's and the console's
login redirect; 303 a console action done (Post/Redirect/Get).
HEAD and OPTIONS follow GET and are not listed.
"""

# ruff: noqa: E501 - one table row per line reads better than wrapped ones
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.schemathesis_support import Stage, build_stage

PERSONAS = (
    "anon",
    "member",  # alice: holds the claim on the request
    "teammate",  # bob, alice's team leader
    "other_member",  # charlie, another team
    "manager",  # mary, this station
    "other_manager",  # oscar, another station
    "liaison",  # lily, a village of this station
    "other_liaison",  # leo, a village elsewhere
    "staff",  # sam
)

PREFIXES = (
    "/api/v1/",
    "/open311/",
    "/dashboard/",
    "/console/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/schema",
    "/api/docs",
    "/verify/",
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def row(
    anon, member, teammate, other_member, manager, other_manager, liaison, other_liaison, staff
):
    return dict(zip(PERSONAS, (anon, member, teammate, other_member, manager, other_manager,
                               liaison, other_liaison, staff), strict=True))  # fmt: skip


def same(status: int, *, anon: int = 401) -> dict[str, int]:
    """Every signed-in persona gets ``status``; anonymous gets ``anon``."""
    return row(anon, *([status] * 8))


# (method, route as in the URL conf) → persona → status.
# Columns: anon, member, teammate, other_member, manager, other_manager, liaison,
# other_liaison, staff.
# fmt: off
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/api/docs/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/schema/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/auth/logout/"): row(401, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/api/v1/auth/token/"): row(400, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/api/v1/auth/token/refresh/"): row(400, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/api/v1/auth/wechat/"): row(400, 400, 400, 400, 400, 400, 400, 400, 400),
    # The link is the credential (no sign-in): a token that is no signed link is 403 for all.
    ("GET", "/api/v1/attachments/<str:token>/"): row(403, 403, 403, 403, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/assignments/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/assignments/<int:pk>/accept/"): row(401, 200, 403, 403, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/assignments/<int:pk>/decline/"): row(401, 200, 403, 403, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/calendar/(?P<token>[A-Za-z0-9_-]{43})\\.ics"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/campaigns/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/campaigns/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/campaigns/<int:pk>/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/campaigns/<int:pk>/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/archive/annual-export/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/certificates/<int:pk>/pdf/"): row(401, 200, 404, 404, 404, 404, 404, 404, 200),
    ("GET", "/api/v1/claims/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/claims/<int:pk>/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    ("POST", "/api/v1/claims/<int:pk>/cancel/"): row(401, 200, 404, 404, 403, 404, 404, 404, 403),
    ("POST", "/api/v1/claims/<int:pk>/check-in/"): row(401, 400, 404, 404, 403, 404, 404, 404, 403),
    ("POST", "/api/v1/claims/<int:pk>/check-out/"): row(401, 409, 404, 404, 403, 404, 404, 404, 403),
    ("POST", "/api/v1/claims/<int:pk>/reject/"): row(401, 403, 404, 404, 200, 404, 404, 404, 200),
    ("GET", "/api/v1/intake/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("POST", "/api/v1/intake/"): row(201, 201, 201, 201, 201, 201, 201, 201, 201),
    ("GET", "/api/v1/intake/<int:pk>/"): row(401, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/api/v1/intake/<int:pk>/accept/"): row(401, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/api/v1/intake/<int:pk>/decline/"): row(401, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/api/v1/intake/<int:pk>/merge/"): row(401, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/api/v1/intake/<int:pk>/refer/"): row(401, 403, 403, 403, 200, 404, 403, 403, 200),
    ("GET", "/api/v1/intake/tickets/<str:ticket>/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    # Multipart only: the matrix's JSON body is 415 to everyone (the ticket is the credential;
    # tests/test_intake_photos.py has the uploads).
    ("POST", "/api/v1/intake/tickets/<str:ticket>/photos/"): row(415, 415, 415, 415, 415, 415, 415, 415, 415),
    ("POST", "/api/v1/intake/tickets/<str:ticket>/rating/"): row(409, 409, 409, 409, 409, 409, 409, 409, 409),
    ("PUT", "/api/v1/intake/tickets/<str:ticket>/rating/"): row(409, 409, 409, 409, 409, 409, 409, 409, 409),
    ("GET", "/api/v1/me/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/me/certificates/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/certificates/"): row(401, 201, 422, 422, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/calendar/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/me/calendar/"): row(401, 201, 201, 201, 403, 403, 403, 403, 403),
    ("DELETE", "/api/v1/me/calendar/"): row(401, 204, 404, 404, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/tasks/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/me/notifications/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/me/notifications/<int:pk>/read/"): row(401, 200, 404, 404, 404, 404, 404, 404, 404),
    ("POST", "/api/v1/me/notifications/read-all/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/me/service-history/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/members/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/members/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/members/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/members/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/members/(?P<pk>[0-9]+)/activation-code/"): row(401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", "/api/v1/members/<int:pk>/service-history/"): row(401, 200, 200, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/members/activate/"): row(400, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/api/v1/members/import/"): row(401, 403, 403, 403, 403, 403, 403, 403, 415),
    ("GET", "/api/v1/members/import/template/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/points/leaderboard/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/points/rules/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/records/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/records/<int:pk>/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    ("GET", "/api/v1/records/<int:pk>/attachments/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    # JSON is no form of files: 415 once past the gate (submitter, manager); staff may not add.
    ("POST", "/api/v1/records/<int:pk>/attachments/"): row(401, 415, 404, 404, 415, 404, 404, 404, 403),
    # The stage's record has no photos: 404 to whoever may see it (tests/test_attachments.py).
    ("DELETE", "/api/v1/records/<int:pk>/attachments/<int:attachment>/"): row(401, 404, 404, 404, 404, 404, 404, 404, 404),
    ("POST", "/api/v1/records/<int:pk>/revoke/"): row(401, 403, 403, 403, 403, 403, 403, 403, 409),
    ("POST", "/api/v1/records/<int:pk>/verify/"): row(401, 403, 404, 404, 200, 404, 404, 404, 200),
    ("GET", "/api/v1/requests/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/requests/"): row(401, 403, 403, 403, 201, 403, 201, 403, 201),
    ("GET", "/api/v1/requests/<int:pk>/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/requests/<int:pk>/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/requests/<int:pk>/cancel/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/requests/<int:pk>/claims/"): row(401, 409, 201, 201, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/requests/<int:pk>/assignments/"): row(401, 403, 201, 403, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/requests/<int:pk>/events/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/requests/<int:pk>/invite/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("GET", "/api/v1/requests/<int:pk>/matches/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/requests/<int:pk>/record/"): row(401, 403, 403, 403, 409, 403, 403, 403, 409),
    ("GET", "/api/v1/requests/map/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/requests/recommended/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/series/"): row(401, 403, 403, 403, 201, 403, 201, 403, 201),
    ("GET", "/api/v1/series/<int:pk>/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/series/<int:pk>/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/series/<int:pk>/cancel/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/series/<int:pk>/claims/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/specialties/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/specialties/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/specialties/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/specialties/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/stations/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/stations/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/stations/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/stations/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("GET", "/api/v1/stations/<int:pk>/qr/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/stations/<int:pk>/qr/retire/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("GET", "/api/v1/stats/breakdown/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/export/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/intake/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/summary/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/unclaimed/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/untriaged/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/teams/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/teams/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/teams/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/teams/<int:pk>/claims/"): row(401, 403, 200, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/teams/<int:pk>/requests/"): row(401, 403, 200, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/teams/<int:pk>/summary/"): row(401, 403, 200, 403, 403, 403, 403, 403, 200),
    ("PATCH", "/api/v1/teams/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/towns/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/towns/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/towns/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/towns/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/verify/<str:code>/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/villages/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/villages/"): row(401, 403, 403, 403, 403, 403, 403, 403, 400),
    ("GET", "/api/v1/villages/(?P<pk>[0-9]+)/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "/api/v1/villages/(?P<pk>[0-9]+)/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/villages/<int:pk>/qr/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("POST", "/api/v1/villages/<int:pk>/qr/retire/"): row(401, 403, 403, 403, 200, 403, 403, 403, 200),
    ("GET", "/dashboard/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/dashboard/export/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/dashboard/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/dashboard/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("PUT", "/dashboard/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/dashboard/logout/"): row(302, 302, 302, 302, 302, 302, 302, 302, 302),
    # The managers' console (docs/console.md): the API's gates, in pages.
    ("GET", "/console/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/console/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/console/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("PUT", "/console/login/"): row(200, 302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/console/logout/"): row(302, 302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/console/needs/new/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("POST", "/console/needs/new/"): row(302, 403, 403, 403, 303, 403, 403, 403, 303),
    ("GET", "/console/needs/<int:pk>/"): row(302, 403, 403, 403, 200, 404, 403, 403, 200),
    ("GET", "/console/needs/<int:pk>/edit/"): row(302, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/console/needs/<int:pk>/edit/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("POST", "/console/needs/<int:pk>/invite/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("GET", "/console/records/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/console/records/<int:pk>/"): row(302, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/console/records/<int:pk>/verify/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("GET", "/console/intake/"): row(302, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/console/intake/<int:pk>/"): row(302, 403, 403, 403, 200, 404, 403, 403, 200),
    ("POST", "/console/intake/<int:pk>/accept/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("POST", "/console/intake/<int:pk>/merge/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("POST", "/console/intake/<int:pk>/refer/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("POST", "/console/intake/<int:pk>/decline/"): row(302, 403, 403, 403, 303, 404, 403, 403, 303),
    ("GET", "/healthz"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/readyz"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    # No METRICS_TOKEN in the test settings: off for everyone, signed in or not (a user's JWT is
    # never the metrics token; test_observability.py covers the token).
    ("GET", "/metrics"): row(404, 404, 404, 404, 404, 404, 404, 404, 404),
    ("GET", "/open311/v2/requests.json"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/open311/v2/requests.json"): row(201, 201, 201, 201, 201, 201, 201, 201, 201),
    ("GET", "/open311/v2/requests/<str:service_request_id>.json"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/open311/v2/services.json"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/verify/<str:code>"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    # 暖企 (docs/enterprises.md): alice is the stage enterprise's lead 专员; mary's station serves it.
    ("GET", "/api/v1/enterprise-desk/<str:ticket>/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/enterprise-desk/<str:ticket>/appeals/"): row(201, 201, 201, 201, 201, 201, 201, 201, 201),
    ("POST", "/api/v1/enterprise-desk/<str:ticket>/appeals/<int:pk>/rating/"): row(409, 409, 409, 409, 409, 409, 409, 409, 409),
    ("GET", "/api/v1/enterprises/"): row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/enterprises/"): row(401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", "/api/v1/enterprises/<int:pk>/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    ("GET", "/api/v1/enterprises/<int:pk>/appeals/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    ("POST", "/api/v1/enterprises/<int:pk>/appeals/"): row(401, 201, 404, 404, 403, 404, 404, 404, 201),
    ("POST", "/api/v1/enterprises/<int:pk>/deactivate/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/v1/enterprises/<int:pk>/desk-code/"): row(401, 200, 404, 404, 403, 404, 404, 404, 200),
    ("GET", "/api/v1/enterprises/<int:pk>/liaisons/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    ("POST", "/api/v1/enterprises/<int:pk>/liaisons/"): row(401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", "/api/v1/enterprises/<int:pk>/visits/"): row(401, 200, 404, 404, 200, 404, 404, 404, 200),
    # alice passes the gates and meets the stage's lack of a 暖企 campaign (409).
    ("POST", "/api/v1/enterprises/<int:pk>/visits/"): row(401, 409, 403, 403, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/enterprises/import/"): row(401, 403, 403, 403, 403, 403, 403, 403, 415),
    ("GET", "/api/v1/enterprises/import/template/"): row(401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", "/api/v1/appeals/<int:pk>/refer/"): row(401, 200, 404, 404, 403, 404, 404, 404, 200),
    ("POST", "/api/v1/appeals/<int:pk>/reject/"): row(401, 200, 404, 404, 403, 404, 404, 404, 200),
    ("POST", "/api/v1/appeals/<int:pk>/resolve/"): row(401, 409, 404, 404, 403, 404, 404, 404, 409),
    ("POST", "/api/v1/appeals/<int:pk>/start/"): row(401, 409, 404, 404, 403, 404, 404, 404, 409),
    ("GET", "/api/v1/me/enterprises/"): row(401, 200, 200, 200, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/stats/enterprises/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
    ("GET", "/api/v1/stats/enterprises/export/"): row(401, 403, 403, 403, 200, 200, 403, 403, 200),
}
# fmt: on


# ------------------------------------------------------------------ enumerating the URL conf


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _methods(callback) -> set[str]:
    """The HTTP methods a view answers (other than HEAD/OPTIONS)."""
    if getattr(callback, "http_methods", None):  # the console's views (services/console/access)
        return set(callback.http_methods)
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route
        return {m.upper() for m in actions} & set(METHODS)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        allowed = {m.upper() for m in cls.http_method_names}
        return {m for m in METHODS if m in allowed and hasattr(cls, m.lower())}
    # Plain function views of this project read with GET (the dashboard pages, healthz).
    return {"GET"}


def routes() -> set[tuple[str, str]]:
    """Every (method, route) under the prefixes the matrix covers."""
    found = set()
    for route, callback in _walk(get_resolver("backend.urls").url_patterns, "/"):
        route = route.replace("^", "").replace("$", "")
        if not route.startswith(PREFIXES) or (route.startswith("/api/docs") and "<" in route):
            continue
        for method in _methods(callback):
            found.add((method, route))
    return found


def test_every_route_is_in_the_matrix():
    """A new endpoint (or method) fails here until someone decides who may call it."""
    missing = sorted(routes() - set(MATRIX))
    stale = sorted(set(MATRIX) - routes())
    assert not missing, "routes missing from MATRIX:\n" + "\n".join(map(str, missing))
    assert not stale, "MATRIX names routes that no longer exist:\n" + "\n".join(map(str, stale))


# ------------------------------------------------------------------ calling every entry


def _users(stage: Stage) -> dict:
    w = stage.world
    return {
        "anon": None,
        "member": w.alice.user,
        "teammate": w.bob.user,
        "other_member": w.charlie.user,
        "manager": w.mary,
        "other_manager": w.oscar,
        "liaison": w.lily,
        "other_liaison": w.leo,
        "staff": w.sam,
    }


def _fill(route: str, stage: Stage) -> str:
    """The route with its converters replaced by the stage's objects (this station's)."""
    ids = stage.ids
    by_prefix = {
        "/api/v1/intake/tickets/": stage.ticket,
        "/console/needs/": ids["requests"][0],
        "/console/records/": ids["records"][0],
        "/console/intake/": ids["intake"][0],
        "/api/v1/enterprise-desk/": stage.desk,
        "/api/v1/enterprises/": ids["enterprises"][0],
        "/api/v1/appeals/": ids["appeals"][0],
        "/api/v1/intake/": ids["intake"][0],
        "/api/v1/me/notifications/": ids["notifications"][0],
        "/api/v1/certificates/": ids["certificates"][0],
        "/api/v1/verify/": stage.certificate_code,
        "/verify/": stage.certificate_code,
        "/api/v1/assignments/": ids["assignments"][0],
        "/api/v1/series/": ids["series"][0],
        "/api/v1/requests/<int:pk>/assignments/": ids["invited_requests"][0],
        "/api/v1/claims/": ids["claims"][0],
        "/api/v1/records/": ids["records"][0],
        "/api/v1/requests/": ids["requests"][0],
        "/api/v1/campaigns/": ids["campaigns"][0],
        "/api/v1/members/": ids["members"][0],
        "/api/v1/teams/": ids["teams"][0],
        "/api/v1/towns/": ids["towns"][0],
        "/api/v1/villages/": ids["villages"][0],
        "/api/v1/stations/": ids["stations"][0],
        "/api/v1/specialties/": ids["specialties"][0],
        "/open311/v2/requests/": ids["requests"][0],
    }
    if route.startswith("/api/v1/calendar/"):
        return stage.calendar_path
    if route.startswith("/api/v1/enterprise-desk/<str:ticket>/appeals/<int:pk>/"):
        path = route.replace("<str:ticket>", stage.desk).replace("<int:pk>", str(ids["appeals"][0]))
        return path
    value = next((v for p, v in by_prefix.items() if route.startswith(p)), 1)
    path = re.sub(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)", str(value), route)
    return path + QUERIES.get(route, "")


# Query strings a GET needs to get past validation (so the status shows the permission gate).
QUERIES = {
    "/api/v1/requests/map/": "?bbox=121.8,29.9,122.3,30.2",
    "/api/v1/stats/breakdown/": "?by=town",
    "/api/v1/stats/export/": "?format=csv",
    "/api/v1/stats/enterprises/": "?by=town",
}


def _body(method: str, route: str, stage: Stage) -> tuple[object, str]:
    """A body that an allowed persona's call can succeed with (format: json / form)."""
    w = stage.world
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    if route.startswith("/console/"):
        return _console_body(route, stage), "form"
    if route == "/open311/v2/requests.json":
        return {"api_key": stage.api_key, "service_code": "general", "lat": 30.02,
                "long": 122.10, "description": "测试"}, "form"  # fmt: skip
    bodies = {
        "/api/v1/requests/": {
            "station": w.station.pk, "village": w.village.pk, "campaign": stage.ids["campaigns"][0],
            "title": "送法律进村", "description": "法律咨询", "slots": 3,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        },
        "/api/v1/requests/<int:pk>/": {"title": "改过的标题"},
        "/api/v1/requests/<int:pk>/cancel/": {"reason": "天气原因"},
        "/api/v1/requests/<int:pk>/invite/": {
            "team": w.team.pk, "until": (timezone.now() + timedelta(days=1)).isoformat()
        },
        "/api/v1/claims/<int:pk>/cancel/": {"reason": "临时有事"},
        "/api/v1/requests/<int:pk>/assignments/": {"member": w.bob.pk},
        "/api/v1/assignments/<int:pk>/decline/": {"reason": "那天没空"},
        "/api/v1/series/": {
            "village": w.village.pk, "campaign": stage.ids["campaigns"][0], "title": "每周普法",
            "slots": 2, "frequency": "weekly", "weekdays": [start.weekday()],
            "starts_on": start.date().isoformat(), "start_time": "15:00",
            "duration_minutes": 60, "count": 2,
        },
        "/api/v1/series/<int:pk>/": {"title": "改过的标题"},
        "/api/v1/series/<int:pk>/cancel/": {"reason": "天气原因"},
        "/api/v1/intake/": {"code": stage.intake_code.code, "description": "家门口的桥需要修"},
        "/api/v1/intake/<int:pk>/accept/": {
            "campaign": stage.ids["campaigns"][0], "slots": 2,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        },
        "/api/v1/intake/<int:pk>/merge/": {"request": stage.ids["requests"][0]},
        "/api/v1/intake/<int:pk>/refer/": {"office": True, "reason": "作为社情民意报送"},
        "/api/v1/intake/<int:pk>/decline/": {"reason": "不属于服务范围"},
        "/api/v1/intake/tickets/<str:ticket>/rating/": {"score": 5},
        "/api/v1/enterprises/": {
            "name": "第二家企业", "credit_code": "91110000600037341L", "town": w.town.pk,
            "station": w.station.pk, "lat": 30.03, "lng": 122.11,
        },
        "/api/v1/enterprises/<int:pk>/deactivate/": {"reason": "企业已注销"},
        "/api/v1/enterprises/<int:pk>/liaisons/": {
            "lead": w.bob.pk, "starts_on": timezone.localdate().isoformat()
        },
        "/api/v1/enterprises/<int:pk>/visits/": {
            "lat": w.station.lat, "lng": w.station.lng, "duration_minutes": 60,
            "started_at": (timezone.now() - timedelta(hours=2)).isoformat(), "discussed": "了解用工",
        },
        "/api/v1/enterprises/<int:pk>/appeals/": {"description": "希望协调招工"},
        "/api/v1/appeals/<int:pk>/refer/": {
            "department": "区人社局", "asked": "协调招工",
            "due_on": (timezone.localdate() + timedelta(days=7)).isoformat(),
        },
        "/api/v1/appeals/<int:pk>/resolve/": {"outcome": "已解决"},
        "/api/v1/appeals/<int:pk>/reject/": {"reason": "不属于受理范围"},
        "/api/v1/enterprise-desk/<str:ticket>/appeals/": {"description": "希望协调招工"},
        "/api/v1/enterprise-desk/<str:ticket>/appeals/<int:pk>/rating/": {"score": 5},
        "/api/v1/claims/<int:pk>/reject/": {"reason": "不合适"},
        "/api/v1/records/<int:pk>/verify/": {"approved": True, "note": "核实无误"},
        "/api/v1/records/<int:pk>/revoke/": {"reason": "重复登记"},
        "/api/v1/campaigns/<int:pk>/": {"name": "改名"},
        "/api/v1/me/certificates/": {
            "from": stage.service_day.isoformat(), "to": stage.service_day.isoformat()
        },
        "/api/v1/requests/<int:pk>/record/": {
            "people_served": 5, "enterprises_served": 0, "households_visited": 1,
            "summary": "法律咨询 5 人次", "participants": [stage.ids["claims"][0]],
        },
    }  # fmt: skip
    renames = {"towns": "改名街道", "villages": "改名村", "stations": "改名驿站",
               "specialties": "改名专长", "teams": "改名团队", "members": "改名"}  # fmt: skip
    for resource, name in renames.items():
        bodies[f"/api/v1/{resource}/(?P<pk>[^/.]+)/"] = {"name": name}
    return bodies.get(route, {}), "json"


def _console_body(route: str, stage: Stage) -> dict:
    """The console's forms: HTML field values (datetime-local times, Beijing time)."""
    w = stage.world

    def local(delta: timedelta) -> str:
        return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")

    plan = {
        "campaign": stage.ids["campaigns"][0],
        "slots": 2,
        "starts_at": local(timedelta(days=3)),
        "ends_at": local(timedelta(days=3, hours=2)),
    }
    bodies = {
        "/console/needs/new/": {
            **plan,
            "station": w.station.pk,
            "village": w.village.pk,
            "title": "送法律进村",
        },
        "/console/needs/<int:pk>/edit/": {"title": "改过的标题"},
        "/console/needs/<int:pk>/invite/": {"team": w.team.pk, "until": local(timedelta(days=1))},
        "/console/records/<int:pk>/verify/": {"decision": "approve", "note": "核实无误"},
        "/console/intake/<int:pk>/accept/": plan,
        "/console/intake/<int:pk>/merge/": {"request": stage.ids["requests"][0]},
        "/console/intake/<int:pk>/refer/": {"office": "1", "reason": "作为社情民意报送"},
        "/console/intake/<int:pk>/decline/": {"reason": "不属于服务范围"},
    }
    return bodies.get(route, {})


def _call(route: str, method: str, persona: str, stage: Stage):
    user = _users(stage)[persona]
    client = APIClient()
    if user is not None:
        if route.startswith(("/dashboard/", "/console/")):
            client.force_login(user)
        else:
            client.credentials(HTTP_AUTHORIZATION=bearer(user))
    body, fmt = _body(method, route, stage)
    path = _fill(route, stage)
    cache.clear()  # throttle counters: every call starts from zero
    if method == "GET":
        return client.get(path)
    if fmt == "form":
        return client.post(path, urlencode(body), content_type="application/x-www-form-urlencoded")
    return getattr(client, method.lower())(path, body, format="json")


@pytest.fixture
def stage(world) -> Stage:
    return build_stage(world)


def observed(stage: Stage) -> dict[tuple[str, str], dict[str, int]]:
    """What each persona gets on each route, each call rolled back."""
    out = {}
    for method, route in sorted(routes()):
        statuses = {}
        for persona in PERSONAS:
            with transaction.atomic():
                statuses[persona] = _call(route, method, persona, stage).status_code
                transaction.set_rollback(True)
        out[(method, route)] = statuses
    return out


def test_matrix(stage):
    """Each persona gets exactly the table's status on each endpoint."""
    got = observed(stage)
    wrong = {
        key: {p: (MATRIX[key][p], got[key][p]) for p in PERSONAS if MATRIX[key][p] != got[key][p]}
        for key in MATRIX
        if key in got and MATRIX[key] != got[key]
    }
    assert not wrong, "persona: (expected, got)\n" + "\n".join(
        f"{k}: {v}" for k, v in wrong.items()
    )


# ------------------------------------------------------------------ rows and fields (API1/API3)


def _ids(response) -> set[int]:
    body = response.json()
    items = body["results"] if isinstance(body, dict) and "results" in body else body
    return {item["id"] for item in items}


def _as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def test_claim_lists_hold_only_what_the_persona_may_see(stage):
    w, mine = stage.world, set(stage.ids["claims"])
    assert _ids(_as(w.alice.user).get("/api/v1/claims/")) == mine
    assert _ids(_as(w.mary).get("/api/v1/claims/")) == mine
    for outsider in (w.bob.user, w.charlie.user, w.oscar, w.leo, w.lily):
        assert not _ids(_as(outsider).get("/api/v1/claims/")) & mine, outsider.username


def test_record_lists_hold_only_what_the_persona_may_see(stage):
    w, records = stage.world, set(stage.ids["records"])
    assert _ids(_as(w.mary).get("/api/v1/records/?page_size=100")) >= records
    assert _ids(_as(w.sam).get("/api/v1/records/?page_size=100")) >= records
    for outsider in (w.charlie.user, w.oscar, w.leo):
        assert not _ids(_as(outsider).get("/api/v1/records/?page_size=100")) & records


def test_unclaimed_list_of_another_station_is_empty(stage):
    w = stage.world
    theirs = _ids(_as(w.oscar).get("/api/v1/stats/unclaimed/?hours=1&page_size=100"))
    ours = set(stage.ids["requests"][:2])
    assert not theirs & ours


def test_resident_contact_is_shown_only_to_who_may_see_it(stage):
    """Managers of the station, staff and claimants see the contact; nobody else."""
    w = stage.world
    url = f"/api/v1/requests/{stage.ids['requests'][0]}/"
    for user in (w.mary, w.sam, w.alice.user):
        body = _as(user).get(url).json()
        assert body["contact_name"] == "张联系", user.username
        assert body["contact_phone"], user.username
    for user in (w.bob.user, w.charlie.user, w.oscar, w.leo):
        body = _as(user).get(url).json()
        assert body["contact_name"] is None and body["contact_phone"] is None, user.username
    # Nor through the list or the map.
    listed = _as(w.charlie.user).get("/api/v1/requests/?page_size=100").json()["results"]
    assert all(item.get("contact_phone") is None for item in listed)
    assert (
        "13900009999"
        not in _as(w.charlie.user)
        .get("/api/v1/requests/map/?bbox=121.8,29.9,122.3,30.2")
        .content.decode()
    )


def test_member_phones_are_masked_for_other_members_and_managers(stage):
    w = stage.world
    full = {"13800001111", "13800002222", "13800003333"}
    for user in (w.charlie.user, w.oscar, w.leo):
        text = _as(user).get("/api/v1/members/?page_size=100").content.decode()
        assert not any(phone in text for phone in full - {user.phone}), user.username
    assert "13800001111" in _as(w.sam).get("/api/v1/members/?page_size=100").content.decode()


def test_a_member_cannot_write_fields_they_do_not_own(stage):
    """Mass assignment (API3): read-only fields in a PATCH are ignored or refused."""
    w = stage.world
    url = f"/api/v1/requests/{stage.ids['requests'][0]}/"
    before = _as(w.mary).get(url).json()
    response = _as(w.mary).patch(
        url, {"claimed": 0, "status": "verified", "created_by": w.sam.pk}, format="json"
    )
    assert response.status_code in (200, 400)
    after = _as(w.mary).get(url).json()
    assert (after["status"], after["claimed"]) == (before["status"], before["claimed"])
