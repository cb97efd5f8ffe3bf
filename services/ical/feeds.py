"""日历订阅: a member's secret calendar URL (issue, revoke) and the iCalendar it serves.

The calendar is RFC 5545, written by the ``icalendar`` library (docs/series-and-calendar.md
says why): one VEVENT per upcoming task — the same tasks as ``GET me/tasks/?when=upcoming`` —
in UTC, with a stable UID per claim so a phone's calendar updates an event instead of adding
a second one. Only a sha256 of the token is stored; the URL is shown once, when issued.
Issuing a new URL revokes the old one; a revoked URL answers 410 ``calendar_revoked``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from icalendar import Calendar, Event

from accounts.audit import record_event
from accounts.models import User
from members.models import Member
from services import errors
from services.me import selectors as tasks
from services.models import CalendarFeed, Claim
from services.requests.claims import lock_member
from services.requests.expiry import expire_overdue
from services.requests.transitions import member_of, resolve_now

# 32 random bytes, URL-safe base64: 43 characters.
TOKEN_BYTES = 32
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # noqa: S105 - the shape of a token, not one
PRODID = "-//我为群众办一事//委员任务日历//ZH"
UID_DOMAIN = "wwqz.tasks"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_feed(*, user: User, now: datetime | None = None) -> tuple[CalendarFeed, str]:
    """A new secret URL for ``user``'s calendar (the old one, if any, stops working)."""
    now = resolve_now(now)
    member = member_of(user)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        lock_member(member)  # parallel issues queue, so one feed stays live
        revoked = _revoke_live(member, now=now)
        feed = CalendarFeed.objects.create(member=member, token_hash=token_hash(token))
        record_event(actor=user, verb="calendar_issued", obj=feed, payload={"revoked": revoked})
    return feed, token


def revoke_feed(*, user: User, now: datetime | None = None) -> int:
    """Revoke ``user``'s live calendar URL; 404 when there is none."""
    now = resolve_now(now)
    member = member_of(user)
    with transaction.atomic():
        lock_member(member)
        revoked = _revoke_live(member, now=now)
        if not revoked:
            raise errors.CalendarNotIssued()
        record_event(
            actor=user,
            verb="calendar_revoked",
            obj=CalendarFeed.objects.get(pk=revoked[0]),
            payload={},
        )
    return revoked[0]


def _revoke_live(member: Member, *, now: datetime) -> list[int]:
    live = list(
        CalendarFeed.objects.filter(member=member, revoked_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    CalendarFeed.objects.filter(pk__in=live).update(revoked_at=now)
    return live


def live_feed(member: Member | None) -> CalendarFeed | None:
    if member is None:
        return None
    return CalendarFeed.objects.filter(member=member, revoked_at__isnull=True).first()


def feed_for_token(token: str) -> CalendarFeed:
    """The live feed a URL's token names: 404 unknown, 410 ``calendar_revoked`` (reads only)."""
    feed = (
        CalendarFeed.objects.filter(token_hash=token_hash(token))
        .select_related("member__user")
        .first()
    )
    if feed is None:
        raise errors.CalendarNotFound()
    if feed.revoked_at is not None or not feed.member.active:
        raise errors.CalendarRevoked()
    return feed


def _description(claim: Claim) -> str:
    service_request = claim.request
    window = tasks.check_in_window(claim)
    lines = [f"驿站：{service_request.station.name}"]
    if service_request.village is not None:
        lines.append(f"村/社区：{service_request.village.name}")
    local = timezone.localtime
    if claim.status == Claim.Status.WAITLISTED:
        lines.append(f"候补第 {claim.waitlist_ahead + 1} 位，转正后会收到通知。")
    else:
        lines.append(
            f"签到时间：{local(window.opens_at):%m月%d日 %H:%M} 至 "
            f"{local(window.closes_at):%m月%d日 %H:%M}"
        )
    lines.append("详情与联系人请在小程序“我的任务”中查看。")
    return "\n".join(lines)


def calendar_for(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    """The member's upcoming tasks as an RFC 5545 VCALENDAR."""
    now = resolve_now(now)
    expire_overdue(now=now)
    user = feed.member.user
    claims = list(tasks.my_tasks(user, when=tasks.UPCOMING)[: settings.CALENDAR_FEED_MAX_EVENTS])
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "我的服务任务")
    calendar.add("x-wr-timezone", settings.TIME_ZONE)
    # RFC 7986: how often a subscribing client should fetch again.
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for claim in claims:
        service_request = claim.request
        event = Event()
        event.add("uid", f"claim-{claim.pk}@{UID_DOMAIN}")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", service_request.starts_at.astimezone(UTC))
        event.add("dtend", service_request.ends_at.astimezone(UTC))
        event.add("last-modified", service_request.updated_at.astimezone(UTC))
        waiting = claim.status == Claim.Status.WAITLISTED
        event.add("summary", service_request.title + ("（候补）" if waiting else ""))
        event.add("location", service_request.address or service_request.station.name)
        event.add("geo", (service_request.lat, service_request.lng))
        event.add("description", _description(claim))
        event.add("status", "TENTATIVE" if waiting else "CONFIRMED")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return calendar.to_ical()
