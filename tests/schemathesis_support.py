"""The data and personas schemathesis runs against (tests/test_schemathesis.py).

A ``Stage`` is the ``world`` personas plus one of each object the API can address by id: a
campaign, requests in several states, claims of alice (claimed, checked in), a submitted and a
verified record, a notification, a station API key. Each operation is called as the persona
that may use it, so examples reach the code behind the permission checks, not only the 403.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import openpyxl
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Notification
from members.writes import member_issue_activation
from services.certificates.writes import issue_certificate
from services.enterprises.writes import create_enterprise
from services.ical.feeds import issue_feed
from services.intake.codes import code_for
from services.intake.writes import submit_intake
from services.models import (
    Assignment,
    Claim,
    EnterpriseAppeal,
    EnterpriseLiaison,
    ServiceHours,
    ServiceRecord,
    ServiceRequest,
)
from services.records import hours
from services.series.writes import create_series
from stations.api_keys import api_key_issue
from stations.geo import CHINA_MAX_LAT, CHINA_MAX_LNG, CHINA_MIN_LAT, CHINA_MIN_LNG, GCJ02, Point
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
    r"^/api/v1/series/\{id\}/claims/$",
    r"^/api/v1/assignments/",
    r"^/api/v1/auth/logout/$",
]
# Public operations: no token at all.
_PUBLIC_PATHS = [
    r"^/api/v1/auth/token/",
    r"^/api/v1/auth/wechat/$",
    r"^/api/v1/members/activate/$",
    r"^/open311/",
    r"^/api/v1/verify/",
]


@dataclass
class Stage:
    """Personas, their tokens, and the ids each path parameter may point at."""

    world: World
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[int]] = field(default_factory=dict)
    api_key: str = ""
    now: datetime = field(default_factory=timezone.now)
    # Start of each request the stage made, and the checked-in claims of each.
    starts: dict[int, datetime] = field(default_factory=dict)
    checked_in: dict[int, list[int]] = field(default_factory=dict)
    # The station serving each village; the Open311 service codes; an .xlsx roster.
    village_stations: dict[int, int] = field(default_factory=dict)
    service_codes: list[str] = field(default_factory=list)
    roster: bytes = b""
    # charlie's phone and a fresh one-time activation code.
    activation: tuple[str, str] = ("", "")
    # alice's certificate's verification code, and the day of the service it lists.
    certificate_code: str = ""
    service_day: date | None = None
    # alice's calendar feed path (its secret token inside).
    calendar_path: str = ""
    # The intake code of world.village's poster and the stage intake's ticket.
    intake_code: Any = None
    ticket: str = ""
    # The stage enterprise's desk code (暖企): its 诉求 are reached through it; a workbook of
    # one more enterprise of the stage's town.
    desk: str = ""
    enterprise_workbook: bytes = b""

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


def _roster_file() -> bytes:
    """A one-member .xlsx roster, as staff would upload it."""
    book = openpyxl.Workbook()
    book.active.append(["姓名", "手机号", "界别"])
    book.active.append(["周舟", "13900000001", "经济界"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _enterprise_file(world: World) -> bytes:
    """A one-enterprise .xlsx workbook, as staff would upload it."""
    book = openpyxl.Workbook()
    book.active.append(["企业名称", "统一社会信用代码", "镇/街道", "服务驿站", "纬度", "经度"])
    book.active.append(["示例港航物流有限公司", "91310000MA1FL1MMXL", world.town.name,
                        world.station.name, 30.03, 122.11])  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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
    # alice served on the verified record (counted hours) and holds a certificate of that day.
    done = ClaimFactory(
        request=verified.request,
        member=world.alice,
        status=Claim.Status.DONE,
        checked_in_at=verified.request.starts_at,
    )
    verified.participants.set([done])
    ServiceHours.objects.bulk_create(hours.bulk_entries(verified, [done], [90]))
    certificate = issue_certificate(
        user=world.alice.user, date_from=verified.service_date, date_to=verified.service_date
    )
    notice = Notification.objects.create(user=world.alice.user, kind="test", title="测试通知")
    # The law team (led by bob) invited; bob has asked alice to take a place (派单).
    invited = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        slots=5,
        starts_at=now + timedelta(days=5),
        ends_at=now + timedelta(days=5, hours=2),
        invited_team=world.team,
        invite_until=now + timedelta(days=1),
    )
    assignment = Assignment.objects.create(
        request=invited, member=world.alice, team=world.team, assigned_by=world.bob.user
    )
    # A weekly service of this station, two occurrences from ten days on.
    series = create_series(
        actor=world.mary,
        campaign=campaign,
        title="每周法律咨询",
        frequency="weekly",
        weekdays=[(now + timedelta(days=10)).weekday()],
        starts_on=timezone.localdate() + timedelta(days=10),
        start_time=time(9, 0),
        duration_minutes=120,
        slots=5,
        count=2,
        station=world.station,
    )
    key = api_key_issue(station=world.station, name="12345 热线", created_by=world.sam)

    stage = Stage(world=world, api_key=key.key, now=now)
    _, calendar_token = issue_feed(user=world.alice.user)
    stage.calendar_path = f"/api/v1/calendar/{calendar_token}.ics"
    stage.starts = {r.pk: r.starts_at for r in (open_request, running, other_request)}
    stage.checked_in = {running.pk: [checked_in.pk]}
    stage.village_stations = {
        world.village.pk: world.station.pk,
        world.other_village.pk: world.other_station.pk,
    }
    stage.service_codes = [world.law.code, world.medical.code, "general"]
    stage.roster = _roster_file()
    issued = member_issue_activation(actor=world.sam, member=world.charlie)
    stage.activation = (world.charlie.phone, issued.code)
    stage.tokens = {"member": bearer(world.alice.user), "staff": bearer(world.sam)}
    stage.certificate_code = certificate.code
    stage.service_day = verified.service_date
    # A resident's intake at this station's village (群众点单), new, and its ticket.
    stage.intake_code = code_for(actor=world.mary, station=world.station, village=world.village)
    intake = submit_intake(
        code=stage.intake_code, description="村口路灯坏了，晚上出行不便", phone="13900001111"
    )
    stage.ticket = intake.ticket
    # An enterprise this station serves, alice its lead 专员, with one accepted 诉求.
    enterprise = create_enterprise(
        actor=world.sam,
        name="舟山示例船舶修造有限公司",
        credit_code="91350100M000100Y43",
        town=world.town,
        station=world.station,
        point=Point(lat=world.station.lat, lng=world.station.lng),
        contact_phone="13900001234",
    )
    EnterpriseLiaison.objects.create(
        enterprise=enterprise,
        member=world.alice,
        role=EnterpriseLiaison.Role.LEAD,
        starts_on=now.date() - timedelta(days=1),
    )
    appeal = EnterpriseAppeal.objects.create(
        enterprise=enterprise,
        source=EnterpriseAppeal.Source.VISIT,
        ticket="stage-appeal",
        description="希望协调码头用电增容",
        created_at=now,
    )
    stage.desk = enterprise.desk_ticket
    stage.enterprise_workbook = _enterprise_file(world)
    stage.ids = {
        "enterprises": [enterprise.pk],
        "appeals": [appeal.pk],
        "assignments": [assignment.pk],
        "intake": [intake.pk],
        "campaigns": [campaign.pk],
        "claims": [claim.pk, checked_in.pk, done.pk],
        "certificates": [certificate.pk],
        "invited_requests": [invited.pk],
        "series": [series.pk],
        "notifications": [notice.pk],
        "members": [world.alice.pk, world.charlie.pk],
        "records": [submitted.pk, verified.pk],
        "requests": [open_request.pk, running.pk, other_request.pk, submitted.request_id],
        "specialties": [world.law.pk, world.medical.pk],
        "stations": [world.station.pk, world.other_station.pk],
        "teams": [world.team.pk, world.other_team.pk],
        "towns": [world.town.pk, world.other_town.pk],
        "users": [world.alice.user.pk, world.bob.user.pk, world.mary.pk, world.lily.pk],
        "member_users": [world.alice.user.pk, world.bob.user.pk, world.charlie.user.pk],
        "villages": [world.village.pk, world.other_village.pk],
    }
    return stage


# ---------------------------------------------------------------- valid positive cases
#
# openapi.yaml states every rule a schema can state (types, ranges, patterns, lengths, enums).
# What it cannot state, it says in words: ids that must name an existing row, rules between
# fields (ends_on ≥ starts_on, lat with lng, a gcj02 point inside China), and rules against the
# clock or stored data (a start in the future, a check-in at the request's place). A
# schemathesis "positive" case is only schema-valid, so it breaks those rules by chance and
# gets the documented 400. ``make_valid`` moves the generated values of positive cases onto
# valid ones — as ``_point_at_stage`` already does for path ids — deterministically, derived
# from the generated values so the examples still vary. Negative cases are left alone, and
# each rule's violation has its own unit tests (docs/hardening.md, Schemathesis).

Json = dict[str, Any]

# Body and query fields naming a row, and the stage ids they are mapped onto.
_REFERENCES = {
    "campaign": "campaigns",
    "station": "stations",
    "village": "villages",
    "town": "towns",
    "home_town": "towns",
    "team": "teams",
    "invited_team": "teams",
    "specialties": "specialties",
    "leader": "member_users",
    "managers": "users",
    "liaisons": "users",
}
# (lat, lng) pairs: both or neither.
_POINTS = [("lat", "lng"), ("home_lat", "home_lng")]


def _spread(value: Any, span: int) -> int:
    """A stable number in [0, span) derived from ``value``."""
    return int(hashlib.sha256(repr(value).encode()).hexdigest()[:12], 16) % span


def _pick(value: int, ids: list[int]) -> int:
    return ids[value % len(ids)]


def _reference(value: Any, ids: list[int]) -> Any:
    """An id (an integer in a body, digits in a query) moved onto one of ``ids``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _pick(value, ids)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return str(_pick(int(value), ids))
    return value


def _references(data: Json, stage: Stage) -> None:
    """Ids in ``data`` moved onto the stage's rows of the kind each field names."""
    for name, resource in _REFERENCES.items():
        if name in data:
            value, ids = data[name], stage.ids[resource]
            if isinstance(value, list):
                data[name] = [_reference(item, ids) for item in value]
            else:
                data[name] = _reference(value, ids)


def _within(value: Any, low: float, high: float) -> float:
    """``value`` if it is a number in [low, high], else one derived from it that is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high:
        return value
    return low + _spread(value, 10_000) / 10_000 * (high - low)


def _ranges(gcj02: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lat range, lng range) of valid points: China's box for gcj02, the globe otherwise."""
    if gcj02:
        return (CHINA_MIN_LAT, CHINA_MAX_LAT), (CHINA_MIN_LNG, CHINA_MAX_LNG)
    return (-90.0, 90.0), (-180.0, 180.0)


def _points(data: Json) -> None:
    """Both coordinates of a pair or neither; a gcj02 point inside China's box."""
    gcj02 = data.get("coord_type") == GCJ02
    for lat, lng in _POINTS:
        if lat not in data and lng not in data:
            continue
        if data.get(lat) is None and data.get(lng) is None:
            if lat in data and lng in data:
                continue
            data.pop(lat, None)
            data.pop(lng, None)
            continue
        lat_range, lng_range = _ranges(gcj02)
        data[lat] = _within(data.get(lat), *lat_range)
        data[lng] = _within(data.get(lng), *lng_range)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _future(value: Any, stage: Stage, *, after: datetime | None = None, days: int) -> datetime:
    """A moment after ``after`` (default now) and less than ``days`` later."""
    start = after or stage.now
    return start + timedelta(minutes=5 + _spread(value, days * 24 * 60 - 10))


def _dates(data: Json, first: str, last: str) -> None:
    """``first`` ≤ ``last`` when both are given (swapped otherwise)."""
    both = isinstance(data.get(first), str) and isinstance(data.get(last), str)
    if both and data[first] > data[last]:
        data[first], data[last] = data[last], data[first]


def _campaign(case, stage: Stage) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    _dates(body, "starts_on", "ends_on")
    # A PATCH of one end is checked against the stored other end (a year either side of today).
    today = timezone.localdate()
    if case.method == "PATCH" and ("starts_on" in body) != ("ends_on" in body):
        if isinstance(body.get("starts_on"), str):
            body["starts_on"] = min(body["starts_on"], str(today))
        if isinstance(body.get("ends_on"), str):
            body["ends_on"] = max(body["ends_on"], str(today))


def _request(case, stage: Stage) -> None:
    """Times in the future and in order, invitation pair, station matching its village."""
    body = case.body
    if not isinstance(body, dict):
        return
    _references(body, stage)
    _points(body)
    starts = _future(body.get("starts_at"), stage, days=300)
    if "starts_at" in body or case.method == "POST":
        body["starts_at"] = _iso(starts)
    elif "ends_at" in body or "invite_until" in body:
        starts = stage.starts.get(int(case.path_parameters.get("id", 0)), starts)
    if "ends_at" in body:
        body["ends_at"] = _iso(_future(body["ends_at"], stage, after=starts, days=92))
    elif case.method == "PATCH" and "starts_at" in body:
        # A new start is checked against the stored end, which may come sooner: move both.
        body["ends_at"] = _iso(_future(body["starts_at"], stage, after=starts, days=92))
    team, until = body.get("invited_team"), body.get("invite_until")
    if (team is None) != (until is None):
        body["invited_team"] = team if team is not None else stage.ids["teams"][0]
    if body.get("invited_team") is not None:
        moment = _future(until, stage, days=1)
        body["invite_until"] = _iso(min(moment, starts - timedelta(minutes=1)))
    if case.method == "POST":
        village = body.get("village")
        if village is not None:
            body["station"] = stage.village_stations[village]
        elif body.get("station") is None:
            body["station"] = stage.ids["stations"][0]


def _invite(case, stage: Stage) -> None:
    body = case.body
    if isinstance(body, dict):
        _references(body, stage)
        starts = stage.starts.get(int(case.path_parameters.get("id", 0)), stage.now)
        moment = _future(body.get("until"), stage, days=1)
        body["until"] = _iso(min(moment, starts - timedelta(minutes=1)))


def _assign(case, stage: Stage) -> None:
    if isinstance(case.body, dict) and "member" in case.body:
        case.body["member"] = _reference(case.body["member"], stage.ids["members"])


def _series(case, stage: Stage) -> None:
    """A plan that keeps the rules stated in words: one of until/count, a start in the next
    weeks (inside the stage's campaign), week_of_month only monthly and never 0, at most the
    cap's worth of dates."""
    body = case.body
    if not isinstance(body, dict):
        return
    _references(body, stage)
    _points(body)
    # The station serving the village, as for a single request.
    village = body.get("village")
    if village is not None:
        body["station"] = stage.village_stations[village]
    elif body.get("station") is None:
        body["station"] = stage.ids["stations"][0]
    first = stage.now.date() + timedelta(days=1 + _spread(body.get("starts_on"), 60))
    body["starts_on"] = first.isoformat()
    if body.get("count") is None:
        body.pop("count", None)
        # No more dates than the cap: whole weeks of the chosen weekdays (monthly: any span).
        weekdays = body.get("weekdays") if isinstance(body.get("weekdays"), list) else [0]
        per_week = max(1, len(set(weekdays)))
        span = 120 if body.get("frequency") == "monthly" else (52 // per_week) * 7
        body["until"] = (first + timedelta(days=_spread(body.get("until"), span))).isoformat()
    else:
        body.pop("until", None)
        # Within the year a request may be posted ahead (and the stage's campaign).
        most = 10 if body.get("frequency") == "monthly" else 40
        if isinstance(body["count"], int) and body["count"] > most:
            body["count"] = most
    if body.get("frequency") != "monthly" or body.get("week_of_month") == 0:
        body.pop("week_of_month", None)
    if isinstance(body.get("weekdays"), list):
        body["weekdays"] = sorted(set(body["weekdays"])) or [0]


def _series_edit(case, stage: Stage) -> None:
    if isinstance(case.body, dict):
        _points(case.body)


def _record(case, stage: Stage) -> None:
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("participants"), list):
        request_id = int(case.path_parameters.get("id", 0))
        body["participants"] = stage.checked_in.get(request_id, body["participants"])


def _verify(case, stage: Stage) -> None:
    body = case.body
    # A rejection says what to fix.
    rejected = isinstance(body, dict) and body.get("approved") is False
    if rejected and not str(body.get("note", "")).strip():
        body["note"] = "请补充服务照片"
    # Hours name the record's participants (claims the generator cannot know) and go with an
    # approval only: tests/test_hours.py walks them; here the recorded hours are confirmed.
    if isinstance(body, dict):
        body.pop("hours", None)


def _wechat(case, stage: Stage) -> None:
    body = case.body
    # username and password go together.
    if isinstance(body, dict) and ("username" in body) != ("password" in body):
        body.pop("username", None)
        body.pop("password", None)


def _period(query: Json, first: str, last: str, *, days: int) -> None:
    """An ordered period of at most ``days`` days, both ends given."""
    start = date.fromordinal(date(2000, 1, 1).toordinal() + _spread(query.get(first), 365 * 40))
    query[first] = str(start)
    query[last] = str(start + timedelta(days=_spread(query.get(last), days)))


def _stats(case, stage: Stage) -> None:
    query = case.query
    if isinstance(query, dict):
        _references(query, stage)
        if "from" in query or "to" in query:
            _period(query, "from", "to", days=settings.STATS_MAX_RANGE_DAYS)


def _leaderboard(case, stage: Stage) -> None:
    query = case.query
    # Any length, but from ≤ to (to defaults to today).
    if isinstance(query, dict) and ("from" in query or "to" in query):
        _period(query, "from", "to", days=366 * 20)


def _history(case, stage: Stage) -> None:
    query = case.query
    if not isinstance(query, dict):
        return
    # year or from/to, not both; from ≤ to.
    if "year" in query:
        query.pop("from", None)
        query.pop("to", None)
    _dates(query, "from", "to")


def _certificate(case, stage: Stage) -> None:
    """A period around the day of alice's verified service, at most CERTIFICATE_MAX_DAYS."""
    body = case.body
    if isinstance(body, dict) and stage.service_day is not None:
        longest = settings.CERTIFICATE_MAX_DAYS
        before = _spread(body.get("from"), longest)
        after = _spread(body.get("to"), longest - before)
        body["from"] = str(stage.service_day - timedelta(days=before))
        body["to"] = str(stage.service_day + timedelta(days=after))


def _requests_list(case, stage: Stage) -> None:
    query = case.query
    if not isinstance(query, dict):
        return
    near = query.get("near")
    if isinstance(near, str):
        lat, lng = (_number(part) for part in near.split(","))
        query["near"] = f"{_within(lat, -90, 90)},{_within(lng, -180, 180)}"
    elif "radius_km" in query:
        del query["radius_km"]  # a radius goes with near


def _recommended(case, stage: Stage) -> None:
    if isinstance(case.query, dict):
        _points(case.query)


def _map(case, stage: Stage) -> None:
    """A box in order, no larger than allowed (in China when drawn in gcj02)."""
    query = case.query
    if not isinstance(query, dict):
        return
    bbox = query.get("bbox")
    (min_lat, max_lat), (min_lng, max_lng) = _ranges(query.get("coord_type") == GCJ02)
    side = math.sqrt(settings.MATCHING_MAP_MAX_BBOX_DEG2) * _spread(bbox, 100) / 100
    lng = _within(bbox, min_lng, max_lng - 1)
    lat = _within(f"{bbox}:lat", min_lat, max_lat - 1)
    query["bbox"] = f"{lng},{lat},{lng + side},{lat + side}"


def _open311_list(case, stage: Stage) -> None:
    query = case.query
    if isinstance(query, dict) and "start_date" in query and "end_date" in query:
        start = _future(query["start_date"], stage, after=stage.now - timedelta(days=400), days=300)
        query["start_date"] = _iso(start)
        query["end_date"] = _iso(
            _future(query["end_date"], stage, after=start, days=settings.OPEN311_MAX_DAYS)
        )


def _open311_post(case, stage: Stage) -> None:
    """A place (lat/long or an address), a service the catalogue has, a campaign that exists."""
    body = case.body
    if not isinstance(body, dict):
        return
    codes = sorted(stage.service_codes)
    if isinstance(body.get("service_code"), str):
        body["service_code"] = codes[_spread(body["service_code"], len(codes))]
    if "lat" in body or "long" in body:
        (min_lat, max_lat), (min_lng, max_lng) = _ranges(gcj02=False)
        body["lat"] = str(_within(_number(body.get("lat")), min_lat, max_lat))
        body["long"] = str(_within(_number(body.get("long")), min_lng, max_lng))
    elif not str(body.get("address_string", "")).strip():
        body["address_string"] = "定海区昌国街道"
    if "attribute[campaign]" in body:
        body["attribute[campaign]"] = str(stage.ids["campaigns"][0])
    if "attribute[starts_at]" in body or "attribute[ends_at]" in body:
        starts = _future(body.get("attribute[starts_at]"), stage, days=300)
        body["attribute[starts_at]"] = _iso(starts)
        body["attribute[ends_at]"] = _iso(
            _future(body.get("attribute[ends_at]"), stage, after=starts, days=92)
        )


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _activate(case, stage: Stage) -> None:
    """A phone with an issued code, and a password the password validators accept."""
    body = case.body
    if not isinstance(body, dict):
        return
    if "phone" in body or "code" in body:
        body["phone"], body["code"] = stage.activation
    password = body.get("password")
    if isinstance(password, str):
        try:
            validate_password(password)
        except ValidationError:
            body["password"] = f"Haishang-{_spread(password, 10**8)}"


def _roster(case, stage: Stage) -> None:
    """The upload is an .xlsx roster (any bytes are schema-valid for format: binary)."""
    if isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = stage.roster


def _intake(case, stage: Stage) -> None:
    """The poster's code, a mainland mobile, a village and specialty of the stage, a WeChat
    code the fake server knows."""
    body = case.body
    if not isinstance(body, dict):
        return
    body["code"] = stage.intake_code.code
    if body.get("phone"):
        body["phone"] = "139" + str(_spread(body["phone"], 10**8)).zfill(8)
    if body.get("village") is not None:
        body["village"] = stage.world.village.pk
    if body.get("specialty") is not None:
        body["specialty"] = stage.ids["specialties"][0]
    if body.get("wechat_code"):
        body["wechat_code"] = "ok:o-" + str(_spread(body["wechat_code"], 10**6))


def _ticket(case, stage: Stage) -> None:
    """The stage intake's ticket (it is not an id, so the generic mapping leaves it)."""
    case.path_parameters["ticket"] = stage.ticket


def _intake_accept(case, stage: Stage) -> None:
    """A plan the request rules take: the stage's campaign, future times in order."""
    body = case.body
    if not isinstance(body, dict):
        return
    _references(body, stage)
    body["campaign"] = stage.ids["campaigns"][0]
    starts = _future(body.get("starts_at"), stage, days=300)
    body["starts_at"] = _iso(starts)
    body["ends_at"] = _iso(_future(body.get("ends_at"), stage, after=starts, days=92))


def _intake_merge(case, stage: Stage) -> None:
    if isinstance(case.body, dict):
        case.body["request"] = stage.ids["requests"][0]


def _intake_refer(case, stage: Stage) -> None:
    """Exactly one of another station and the office."""
    body = case.body
    if not isinstance(body, dict):
        return
    if body.get("office"):
        body.pop("station", None)
    else:
        body.pop("office", None)
        body["station"] = stage.world.other_station.pk


def _check_in(case, stage: Stage) -> None:
    if isinstance(case.body, dict):
        _points(case.body)


def _places(case, stage: Stage) -> None:
    if isinstance(case.body, dict):
        _references(case.body, stage)
        _points(case.body)


def _enterprise(case, stage: Stage) -> None:
    """A new enterprise: a valid credit code nobody has, the stage's town and its station, a
    point, a mainland mobile."""
    body = case.body
    if not isinstance(body, dict):
        return
    body["credit_code"] = "91110000600037341L"
    body["town"], body["station"] = stage.world.town.pk, stage.world.station.pk
    body.setdefault("lat", 30.03)
    body.setdefault("lng", 122.11)
    if body["lat"] is None or body["lng"] is None:
        body["lat"], body["lng"] = 30.03, 122.11
    _points(body)
    if body.get("contact_phone"):
        body["contact_phone"] = "139" + str(_spread(body["contact_phone"], 10**8)).zfill(8)


def _liaisons(case, stage: Stage) -> None:
    """Members of the stage, none twice; a period in order."""
    body = case.body
    if not isinstance(body, dict):
        return
    body["lead"] = stage.world.alice.pk
    if "deputies" in body:
        body["deputies"] = [stage.world.bob.pk] if body["deputies"] else []
    _dates(body, "starts_on", "ends_on")


def _appeal_refer(case, stage: Stage) -> None:
    """A due date from today on."""
    body = case.body
    if isinstance(body, dict) and "due_on" in body:
        body["due_on"] = str(timezone.localdate() + timedelta(days=_spread(body["due_on"], 3650)))


def _desk(case, stage: Stage) -> None:
    """The stage enterprise's desk code (not an id); a WeChat code the fake server knows."""
    case.path_parameters["ticket"] = stage.desk
    if "id" in case.path_parameters:
        case.path_parameters["id"] = stage.ids["appeals"][0]
    body = case.body
    if isinstance(body, dict) and body.get("wechat_code"):
        body["wechat_code"] = "ok:o-" + str(_spread(body["wechat_code"], 10**6))


def _enterprise_workbook(case, stage: Stage) -> None:
    """The upload is an enterprise workbook (any bytes are schema-valid for format: binary)."""
    if isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = stage.enterprise_workbook


def _visit(case, stage: Stage) -> None:
    if isinstance(case.body, dict):
        _points(case.body)


_FIXES = {
    ("POST", "/api/v1/auth/wechat/"): _wechat,
    ("POST", "/api/v1/campaigns/"): _campaign,
    ("PATCH", "/api/v1/campaigns/{id}/"): _campaign,
    ("POST", "/api/v1/claims/{id}/check-in/"): _check_in,
    ("POST", "/api/v1/members/"): _places,
    ("PATCH", "/api/v1/members/{id}/"): _places,
    ("POST", "/api/v1/members/activate/"): _activate,
    ("POST", "/api/v1/members/import/"): _roster,
    ("GET", "/api/v1/members/{id}/service-history/"): _history,
    ("GET", "/api/v1/me/service-history/"): _history,
    ("POST", "/api/v1/me/certificates/"): _certificate,
    ("GET", "/api/v1/points/leaderboard/"): _leaderboard,
    ("POST", "/api/v1/records/{id}/verify/"): _verify,
    ("GET", "/api/v1/requests/"): _requests_list,
    ("POST", "/api/v1/requests/"): _request,
    ("PATCH", "/api/v1/requests/{id}/"): _request,
    ("POST", "/api/v1/requests/{id}/invite/"): _invite,
    ("POST", "/api/v1/requests/{id}/assignments/"): _assign,
    ("POST", "/api/v1/series/"): _series,
    ("PATCH", "/api/v1/series/{id}/"): _series_edit,
    ("POST", "/api/v1/requests/{id}/record/"): _record,
    ("GET", "/api/v1/requests/map/"): _map,
    ("GET", "/api/v1/requests/recommended/"): _recommended,
    ("POST", "/api/v1/stations/"): _places,
    ("PATCH", "/api/v1/stations/{id}/"): _places,
    ("GET", "/api/v1/stats/breakdown/"): _stats,
    ("GET", "/api/v1/stats/export/"): _stats,
    ("GET", "/api/v1/stats/summary/"): _stats,
    ("GET", "/api/v1/stats/unclaimed/"): _stats,
    ("POST", "/api/v1/teams/"): _places,
    ("PATCH", "/api/v1/teams/{id}/"): _places,
    ("POST", "/api/v1/towns/"): _places,
    ("PATCH", "/api/v1/towns/{id}/"): _places,
    ("POST", "/api/v1/villages/"): _places,
    ("PATCH", "/api/v1/villages/{id}/"): _places,
    ("POST", "/api/v1/intake/"): _intake,
    ("GET", "/api/v1/intake/"): _stats,
    ("GET", "/api/v1/stats/intake/"): _stats,
    ("POST", "/api/v1/intake/{id}/accept/"): _intake_accept,
    ("GET", "/api/v1/intake/tickets/{ticket}/"): _ticket,
    ("POST", "/api/v1/intake/tickets/{ticket}/rating/"): _ticket,
    ("PUT", "/api/v1/intake/tickets/{ticket}/rating/"): _ticket,
    ("POST", "/api/v1/intake/{id}/merge/"): _intake_merge,
    ("POST", "/api/v1/intake/{id}/refer/"): _intake_refer,
    ("POST", "/api/v1/enterprises/"): _enterprise,
    ("POST", "/api/v1/enterprises/{id}/liaisons/"): _liaisons,
    ("POST", "/api/v1/enterprises/{id}/visits/"): _visit,
    ("POST", "/api/v1/appeals/{id}/refer/"): _appeal_refer,
    ("GET", "/api/v1/enterprise-desk/{ticket}/"): _desk,
    ("POST", "/api/v1/enterprise-desk/{ticket}/appeals/"): _desk,
    ("POST", "/api/v1/enterprise-desk/{ticket}/appeals/{id}/rating/"): _desk,
    ("GET", "/api/v1/stats/enterprises/"): _stats,
    ("GET", "/api/v1/stats/enterprises/export/"): _stats,
    ("POST", "/api/v1/enterprises/import/"): _enterprise_workbook,
    ("GET", "/open311/v2/requests.json"): _open311_list,
    ("POST", "/open311/v2/requests.json"): _open311_post,
}


def make_valid(case, stage: Stage) -> None:
    """Move a positive case's values onto ones that also keep the rules stated in words."""
    fix = _FIXES.get((case.method.upper(), case.path))
    if fix is not None:
        fix(case, stage)
