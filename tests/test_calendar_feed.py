"""The member's calendar feed: a secret URL (shown once, revocable) serving RFC 5545 through
the icalendar library; parsed back here with the same library to check what a phone sees."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from icalendar import Calendar

from accounts.models import Event
from services import errors
from services.ical.feeds import token_hash
from services.models import CalendarFeed, Claim, ServiceRequest
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.test_errors import assert_error

campaign = services_fixtures.campaign

MINE = "/api/v1/me/calendar/"


def issue(client) -> str:
    response = client.post(MINE)
    assert response.status_code == 201, response.content
    return response.json()["url"]


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


def parse(response) -> Calendar:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events(calendar: Calendar) -> list:
    return list(calendar.walk("VEVENT"))


def test_a_member_subscribes_to_their_upcoming_tasks(world, client_for, anon, campaign):
    starts = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    mine = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        title="新螺头村法律咨询",
        address="新螺头村党群服务中心",
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        slots=1,
    )
    claim = ClaimFactory(request=mine, member=world.alice)
    full = ServiceRequestFactory(campaign=campaign, slots=1, starts_at=starts + timedelta(days=2))
    ClaimFactory(request=full)
    waiting = ClaimFactory(request=full, member=world.alice, status=Claim.Status.WAITLISTED)
    ClaimFactory(
        request=ServiceRequestFactory(campaign=campaign, starts_at=starts + timedelta(days=4)),
        member=world.alice,
        status=Claim.Status.CANCELLED,
    )
    ClaimFactory(request=full, member=world.bob, status=Claim.Status.WAITLISTED)

    url = issue(client_for(world.alice.user))
    assert url.startswith("http://testserver/api/v1/calendar/") and url.endswith(".ics")
    response = anon.get(path_of(url))  # the URL alone: phones send no token
    calendar = parse(response)
    assert str(calendar["VERSION"]) == "2.0"
    assert "我为群众办一事" in str(calendar["PRODID"])
    first, second = events(calendar)
    assert str(first["UID"]) == f"claim-{claim.pk}@wwqz.tasks"
    assert first.decoded("DTSTART") == starts.astimezone(UTC)
    assert first.decoded("DTEND") == (starts + timedelta(hours=3)).astimezone(UTC)
    assert str(first["SUMMARY"]) == "新螺头村法律咨询"
    assert str(first["LOCATION"]) == "新螺头村党群服务中心"
    assert (first["GEO"].latitude, first["GEO"].longitude) == (mine.lat, mine.lng)
    assert str(first["STATUS"]) == "CONFIRMED"
    description = str(first["DESCRIPTION"])
    assert "驿站：昌国协商驿站" in description and "村/社区：新螺头村" in description
    assert "签到时间：" in description
    assert mine.contact_phone not in response.content.decode()  # no resident PII in a feed
    assert str(second["UID"]) == f"claim-{waiting.pk}@wwqz.tasks"
    assert str(second["SUMMARY"]).endswith("（候补）")
    assert str(second["STATUS"]) == "TENTATIVE"
    assert "候补第 1 位" in str(second["DESCRIPTION"])


def test_the_url_is_shown_once_and_only_its_hash_is_kept(world, client_for):
    client = client_for(world.alice.user)
    assert client.get(MINE).json() == {"active": False, "created_at": None}
    url = issue(client)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    feed = CalendarFeed.objects.get(member=world.alice)
    assert feed.token_hash == token_hash(token) and token not in feed.token_hash
    state = client.get(MINE).json()
    assert state["active"] is True and "url" not in state
    assert Event.objects.filter(verb="calendar_issued").count() == 1


def test_a_revoked_or_replaced_url_answers_410_and_writes_nothing(world, client_for, anon):
    client = client_for(world.alice.user)
    old = issue(client)
    new = issue(client)  # a new URL replaces the old one
    assert_error(anon.get(path_of(old)), 410, errors.CALENDAR_REVOKED)
    assert anon.get(path_of(new)).status_code == 200
    assert client.delete(MINE).status_code == 204
    events_before = Event.objects.count()
    assert_error(anon.get(path_of(new)), 410, errors.CALENDAR_REVOKED)
    assert Event.objects.count() == events_before
    assert client.get(MINE).json()["active"] is False
    assert_error(client.delete(MINE), 404, errors.CALENDAR_NOT_ISSUED)
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/calendar/" + "A" * 43 + ".ics",  # well formed, no such feed
        "/api/v1/calendar/short.ics",
        "/api/v1/calendar/" + "A" * 44 + ".ics",
        "/api/v1/calendar/" + "A" * 42 + "!.ics",
    ],
)
def test_an_unknown_or_malformed_url_is_404(anon, db, path):
    response = anon.get(path)
    assert response.status_code == 404
    assert response.json()["code"] in (errors.CALENDAR_NOT_FOUND, "not_found")


def test_a_member_who_left_the_roster_has_no_feed(world, client_for, anon):
    url = issue(client_for(world.alice.user))
    world.alice.active = False
    world.alice.save(update_fields=["active"])
    assert_error(anon.get(path_of(url)), 410, errors.CALENDAR_REVOKED)


def test_only_members_issue_feeds_and_one_stays_live(world, client_for, anon):
    assert anon.post(MINE).status_code == 401
    for user in (world.mary, world.sam):
        assert client_for(user).post(MINE).status_code == 403
    client = client_for(world.alice.user)
    for _ in range(3):
        issue(client)
    assert CalendarFeed.objects.filter(member=world.alice, revoked_at__isnull=True).count() == 1
    assert CalendarFeed.objects.filter(member=world.alice).count() == 3


def test_an_edit_moves_the_event_in_place(world, client_for, anon, campaign):
    service_request = ServiceRequestFactory(station=world.station, campaign=campaign)
    ClaimFactory(request=service_request, member=world.alice)
    url = issue(client_for(world.alice.user))
    start = (timezone.now() + timedelta(days=6)).replace(microsecond=0)
    moved = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    client_for(world.mary).patch(f"/api/v1/requests/{service_request.pk}/", moved, format="json")
    (event,) = events(parse(anon.get(path_of(url))))
    assert event.decoded("DTSTART") == start.astimezone(UTC)
    ServiceRequest.objects.filter(pk=service_request.pk).update(status="cancelled")
    Claim.objects.filter(request=service_request).update(status="cancelled")
    assert events(parse(anon.get(path_of(url)))) == []
