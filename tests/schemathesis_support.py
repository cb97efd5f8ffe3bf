"""The data and personas schemathesis runs against (tests/test_schemathesis.py).

A ``Stage`` is the ``world`` personas plus one of each object the API can address by id: a
campaign, requests in several states, claims of alice (claimed, checked in), a submitted and a
verified record, a notification, a station API key. Each operation is called as the persona
that may use it, so examples reach the code behind the permission checks, not only the 403.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from accounts.models import Notification
from services.models import Claim, ServiceRecord, ServiceRequest
from stations.api_keys import api_key_issue
from tests.conftest import World, bearer
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    ServiceRecordFactory,
    ServiceRequestFactory,
)

# Operations a member uses (their own claims, the feed, their notices); everything else that
# needs a token is called as staff, who may do the most.
_MEMBER_PATHS = [
    r"^/api/v1/me/",
    r"^/api/v1/claims/",
    r"^/api/v1/requests/recommended/$",
    r"^/api/v1/requests/\{id\}/claims/$",
    r"^/api/v1/requests/\{id\}/record/$",
    r"^/api/v1/auth/logout/$",
]
# Public operations: no token at all.
_PUBLIC_PATHS = [
    r"^/api/v1/auth/token/",
    r"^/api/v1/auth/wechat/$",
    r"^/api/v1/members/activate/$",
    r"^/open311/",
]


@dataclass
class Stage:
    """Personas, their tokens, and the ids each path parameter may point at."""

    world: World
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[int]] = field(default_factory=dict)
    api_key: str = ""

    def persona(self, path: str) -> str | None:
        """Which persona calls ``path`` (``None``: anonymous)."""
        if any(re.search(p, path) for p in _PUBLIC_PATHS):
            return None
        if any(re.search(p, path) for p in _MEMBER_PATHS):
            return "member"
        return "staff"

    def ids_for(self, path: str) -> list[int]:
        """Existing ids for the ``{id}`` of ``path`` (by the path's first segment)."""
        resource = path.removeprefix("/api/v1/").removeprefix("/open311/v2/").split("/")[0]
        if path.startswith("/api/v1/me/notifications/"):
            resource = "notifications"
        return self.ids.get(resource.removesuffix(".json"), [])


def build_stage(world: World) -> Stage:
    """The world plus one object of each kind the API addresses by id."""
    now = timezone.now()
    campaign = CampaignFactory()
    open_request = ServiceRequestFactory(
        station=world.station, village=world.village, campaign=campaign, slots=50
    )
    other_request = ServiceRequestFactory(station=world.other_station, campaign=campaign)
    # Started an hour ago, still running: alice is checked in and may report a record.
    running = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        slots=3,
    )
    claim = ClaimFactory(request=open_request, member=world.alice)
    checked_in = ClaimFactory(
        request=running,
        member=world.alice,
        status=Claim.Status.CHECKED_IN,
        checked_in_at=now - timedelta(minutes=50),
        check_in_lat=running.lat,
        check_in_lng=running.lng,
        check_in_distance_m=20.0,
    )
    ServiceRequest.objects.filter(pk=running.pk).update(status=ServiceRequest.Status.IN_PROGRESS)
    submitted = ServiceRecordFactory(
        request__station=world.station,
        request__campaign=campaign,
        request__status=ServiceRequest.Status.COMPLETED,
        status=ServiceRecord.Status.SUBMITTED,
        submitted_by=world.alice.user,
    )
    verified = ServiceRecordFactory(request__station=world.station, request__campaign=campaign)
    notice = Notification.objects.create(user=world.alice.user, kind="test", title="测试通知")
    key = api_key_issue(station=world.station, name="12345 热线", created_by=world.sam)

    stage = Stage(world=world, api_key=key.key)
    stage.tokens = {"member": bearer(world.alice.user), "staff": bearer(world.sam)}
    stage.ids = {
        "campaigns": [campaign.pk],
        "claims": [claim.pk, checked_in.pk],
        "notifications": [notice.pk],
        "members": [world.alice.pk, world.charlie.pk],
        "records": [submitted.pk, verified.pk],
        "requests": [open_request.pk, running.pk, other_request.pk, submitted.request_id],
        "specialties": [world.law.pk, world.medical.pk],
        "stations": [world.station.pk, world.other_station.pk],
        "teams": [world.team.pk, world.other_team.pk],
        "towns": [world.town.pk, world.other_town.pk],
        "villages": [world.village.pk, world.other_village.pk],
    }
    return stage
