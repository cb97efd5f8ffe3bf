"""Recurring services (周期服务): posting a series of ordinary requests, the cap and the bad
plans, editing or cancelling every future occurrence (claimants told), claiming every future
occurrence one can (each claim checked)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Event, Notification
from services import errors
from services.models import Claim, ServiceRequest, ServiceSeries
from services.notifications import span
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.services_fixtures import assert_consistent, request_url
from tests.test_errors import assert_error

campaign = services_fixtures.campaign

URL = "/api/v1/series/"


def next_weekday(weekday: int, *, after_days: int = 1) -> date:
    day = timezone.localdate() + timedelta(days=after_days)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def plan(world, campaign, **overrides) -> dict:
    body = {
        "village": world.village.pk,
        "campaign": campaign.pk,
        "title": "每周法律咨询",
        "address": "新螺头村党群服务中心",
        "slots": 2,
        "frequency": "weekly",
        "weekdays": [0, 3],
        "starts_on": next_weekday(0).isoformat(),
        "start_time": "09:00",
        "duration_minutes": 120,
        "count": 6,
    }
    return {**body, **overrides}


def post_series(client, body):
    return client.post(URL, body, format="json")


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hh, mm)))


def test_a_manager_posts_a_weekly_series_of_ordinary_requests(world, client_for, campaign):
    body = plan(world, campaign)
    response = post_series(client_for(world.mary), body)
    assert response.status_code == 201, response.content
    series = response.json()
    first = date.fromisoformat(body["starts_on"])  # a Monday
    days = [first + timedelta(days=d) for d in (0, 3, 7, 10, 14, 17)]
    assert [o["starts_at"] for o in series["occurrences"]] == [
        timezone.localtime(local(day, 9)).isoformat() for day in days
    ]
    assert series["station"] == {"id": world.station.pk, "name": "昌国协商驿站"}
    assert series["start_time"] == "09:00" and series["weekdays"] == [0, 3]
    occurrences = ServiceRequest.objects.filter(series_id=series["id"]).order_by("starts_at")
    assert occurrences.count() == 6
    for occurrence in occurrences:
        assert occurrence.title == "每周法律咨询"
        assert occurrence.village == world.village and occurrence.station == world.station
        assert occurrence.ends_at - occurrence.starts_at == timedelta(hours=2)
        assert occurrence.slots == 2 and occurrence.status == "open"
    # Each occurrence is a request like any other: listed, claimable one by one.
    detail = client_for(world.alice.user).get(request_url(occurrences[0])).json()
    assert detail["title"] == "每周法律咨询"
    assert Event.objects.filter(verb="request_created").count() == 6
    assert Event.objects.filter(verb="series_created").count() == 1


def test_a_monthly_series_falls_on_the_nth_weekday(world, client_for, campaign):
    body = plan(world, campaign, frequency="monthly", weekdays=[1], week_of_month=2, count=3)
    body["starts_on"] = timezone.localdate().replace(day=1).isoformat()
    response = post_series(client_for(world.sam), body)
    assert response.status_code == 201, response.content
    for row in response.json()["occurrences"]:
        day = datetime.fromisoformat(row["starts_at"]).date()
        assert day.weekday() == 1 and 8 <= day.day <= 14
    last = plan(world, campaign, frequency="monthly", weekdays=[4], week_of_month=-1, count=2)
    for row in post_series(client_for(world.sam), last).json()["occurrences"]:
        day = datetime.fromisoformat(row["starts_at"]).date()
        assert day.weekday() == 4 and (day + timedelta(days=7)).month != day.month


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [7]}, "weekdays"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"weekdays": "1"}, "weekdays"),
        ({"frequency": "daily"}, "frequency"),
        ({"count": None, "until": None}, "until"),
        ({"until": "2099-01-01"}, "until"),  # both until and count
        ({"count": 0}, "count"),
        ({"start_time": "9:00"}, "start_time"),
        ({"start_time": 900}, "start_time"),
        ({"start_time": "25:00"}, "start_time"),
        ({"duration_minutes": 5}, "duration_minutes"),
        ({"duration_minutes": 24 * 60 + 1}, "duration_minutes"),
        ({"week_of_month": 2}, "week_of_month"),  # weekly
        ({"slots": 0}, "slots"),
        ({"starts_on": "明天"}, "starts_on"),
    ],
)
def test_a_bad_plan_is_400_and_writes_nothing(world, client_for, campaign, overrides, field):
    body = plan(world, campaign, **overrides)
    response = post_series(client_for(world.mary), body)
    payload = assert_error(response, 400, "validation_error")
    assert any(key.split(".")[0] == field for key in payload["fields"]), payload
    assert not ServiceSeries.objects.exists() and not ServiceRequest.objects.exists()


def test_a_series_ending_before_it_starts_or_over_the_cap_is_refused(world, client_for, campaign):
    client = client_for(world.mary)
    start = date.fromisoformat(plan(world, campaign)["starts_on"])
    ends_before = plan(world, campaign, count=None, until=(start - timedelta(days=1)).isoformat())
    body = assert_error(post_series(client, ends_before), 400, "validation_error")
    assert "until" in body["fields"]
    cap = settings.SERIES_MAX_OCCURRENCES
    body = assert_error(post_series(client, plan(world, campaign, count=cap + 1)), 400,
                        "validation_error")  # fmt: skip
    assert "count" in body["fields"]
    every_day = plan(
        world, campaign, weekdays=[0, 1, 2, 3, 4, 5, 6], count=None,
        until=(start + timedelta(days=cap)).isoformat(),
    )  # fmt: skip
    body = assert_error(post_series(client, every_day), 400, errors.SERIES_TOO_LONG)
    assert body["max_occurrences"] == cap
    # A date past the campaign's period: named, and nothing is written.
    short = plan(world, campaign, count=cap)
    campaign.ends_on = start + timedelta(days=20)
    campaign.save()
    body = assert_error(post_series(client, short), 400, "validation_error")
    assert "campaign" in body["fields"] and "这一场" in body["detail"]
    assert not ServiceSeries.objects.exists() and not ServiceRequest.objects.exists()
    assert_error(
        post_series(client, {**plan(world, campaign), "colour": "红"}), 400, "unknown_field"
    )


def test_only_who_may_post_a_request_posts_a_series(world, client_for, campaign):
    for user in (world.alice.user, world.oscar, world.leo):
        assert post_series(client_for(user), plan(world, campaign)).status_code == 403
    assert post_series(client_for(world.lily), plan(world, campaign)).status_code == 201
    assert not ServiceRequest.objects.filter(station=world.other_station).exists()


@pytest.fixture
def series(world, client_for, campaign) -> dict:
    return post_series(client_for(world.mary), plan(world, campaign)).json()


def test_editing_every_future_occurrence_tells_each_claimant_from_and_to(world, client_for, series):
    ids = [o["id"] for o in series["occurrences"]]
    ClaimFactory(
        request_id=ids[0], member=world.alice, request=ServiceRequest.objects.get(pk=ids[0])
    )
    ClaimFactory(request=ServiceRequest.objects.get(pk=ids[2]), member=world.bob)
    before = {r.pk: r for r in ServiceRequest.objects.filter(pk__in=ids)}
    response = client_for(world.mary).patch(
        f"{URL}{series['id']}/",
        {"start_time": "14:30", "address": "新螺头村文化礼堂", "slots": 3},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["start_time"] == "14:30"
    for occurrence in ServiceRequest.objects.filter(pk__in=ids):
        start = timezone.localtime(occurrence.starts_at)
        assert (start.hour, start.minute) == (14, 30)
        assert start.date() == timezone.localtime(before[occurrence.pk].starts_at).date()
        assert occurrence.address == "新螺头村文化礼堂" and occurrence.slots == 3
    notice = Notification.objects.get(user=world.alice.user, kind="request_changed")
    old, new = before[ids[0]], ServiceRequest.objects.get(pk=ids[0])
    assert notice.body == (
        "您认领的需求“每周法律咨询”有变更。"
        f"时间：{span(old.starts_at, old.ends_at)} → {span(new.starts_at, new.ends_at)}；"
        "地点：新螺头村党群服务中心 → 新螺头村文化礼堂；名额：2 → 3。如新安排不便，请及时取消认领。"
    )
    assert (
        Notification.objects.get(user=world.bob.user, kind="request_changed").payload["request"]
        == ids[2]
    )
    assert Notification.objects.filter(kind="request_changed").count() == 2


def test_editing_one_occurrence_is_the_requests_own_patch(world, client_for, series):
    ids = [o["id"] for o in series["occurrences"]]
    for pk, member in ((ids[0], world.alice), (ids[1], world.bob)):
        ClaimFactory(request=ServiceRequest.objects.get(pk=pk), member=member)
    moved = {"address": "临时改到村委会"}
    assert (
        client_for(world.mary).patch(request_url(ids[1]), moved, format="json").status_code == 200
    )
    assert list(
        Notification.objects.filter(kind="request_changed").values_list("user", flat=True)
    ) == [world.bob.user_id]
    assert ServiceRequest.objects.get(pk=ids[0]).address == "新螺头村党群服务中心"


def test_a_future_edit_that_would_double_book_a_claimant_changes_nothing(
    world, client_for, series, campaign
):
    ids = [o["id"] for o in series["occurrences"]]
    third = ServiceRequest.objects.get(pk=ids[2])
    ClaimFactory(request=third, member=world.alice)
    day = timezone.localtime(third.starts_at).date()
    elsewhere = ServiceRequestFactory(
        campaign=campaign, starts_at=local(day, 15), ends_at=local(day, 17)
    )
    ClaimFactory(request=elsewhere, member=world.alice)
    response = client_for(world.mary).patch(
        f"{URL}{series['id']}/", {"start_time": "14:30", "title": "改名"}, format="json"
    )
    assert_error(response, 409, errors.REQUEST_HAS_CLAIMS)
    assert not ServiceRequest.objects.filter(series_id=series["id"], title="改名").exists()
    assert not Notification.objects.filter(kind="request_changed").exists()


def test_cancelling_every_future_occurrence_tells_their_claimants(world, client_for, series):
    ids = [o["id"] for o in series["occurrences"]]
    ClaimFactory(request=ServiceRequest.objects.get(pk=ids[3]), member=world.alice)
    response = client_for(world.mary).post(
        f"{URL}{series['id']}/cancel/", {"reason": "村委会装修"}, format="json"
    )
    assert response.status_code == 200
    assert {o["status"] for o in response.json()["occurrences"]} == {"cancelled"}
    notice = Notification.objects.get(user=world.alice.user, kind="request_cancelled")
    assert notice.body == "需求“每周法律咨询”已被取消。原因：村委会装修"
    again = client_for(world.mary).post(
        f"{URL}{series['id']}/cancel/", {"reason": "x"}, format="json"
    )
    assert_error(again, 409, errors.SERIES_ENDED)


def test_another_stations_manager_can_neither_edit_nor_cancel(world, client_for, series):
    oscar = client_for(world.oscar)
    assert oscar.patch(f"{URL}{series['id']}/", {"title": "改"}, format="json").status_code == 403
    assert (
        oscar.post(f"{URL}{series['id']}/cancel/", {"reason": "x"}, format="json").status_code
        == 403
    )
    assert client_for(world.alice.user).get(f"{URL}{series['id']}/").status_code == 200
    assert oscar.get(f"{URL}999999/").status_code == 404
    assert_error(
        client_for(world.mary).patch(f"{URL}{series['id']}/", {"weekdays": [1]}, format="json"),
        400,
        "read_only_field",  # the plan itself is fixed: post a new series
    )
    assert_error(
        client_for(world.mary).patch(f"{URL}{series['id']}/", {"colour": 1}, format="json"),
        400,
        "unknown_field",
    )


def test_a_member_claims_every_future_occurrence_that_takes_them(
    world, client_for, series, campaign
):
    ids = [o["id"] for o in series["occurrences"]]
    full = ServiceRequest.objects.get(pk=ids[1])
    for _ in range(full.slots):
        ClaimFactory(request=full)
    clashing = ServiceRequest.objects.get(pk=ids[4])
    other = ServiceRequestFactory(
        campaign=campaign, starts_at=clashing.starts_at, ends_at=clashing.ends_at
    )
    ClaimFactory(request=other, member=world.alice)

    response = client_for(world.alice.user).post(f"{URL}{series['id']}/claims/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["claimed_requests"] == [ids[0], ids[2], ids[3], ids[5]]
    assert [(s["request"], s["code"]) for s in body["skipped"]] == [
        (ids[1], errors.REQUEST_FULL),
        (ids[4], errors.TIME_CONFLICT),
    ]
    assert all(s["detail"] for s in body["skipped"])
    claims = Claim.objects.filter(member=world.alice, request__series_id=series["id"])
    assert sorted(claims.values_list("id", flat=True)) == sorted(body["claimed"])
    assert Notification.objects.filter(user=world.alice.user, kind="claim_confirmed").count() == 4
    for pk in ids:
        assert_consistent(ServiceRequest.objects.get(pk=pk))
    # Again: all already claimed (or still full / clashing), nothing new.
    again = client_for(world.alice.user).post(f"{URL}{series['id']}/claims/").json()
    assert again["claimed"] == []
    assert {s["code"] for s in again["skipped"]} == {
        errors.ALREADY_CLAIMED,
        errors.REQUEST_FULL,
        errors.TIME_CONFLICT,
    }
    # Only members claim.
    assert client_for(world.mary).post(f"{URL}{series['id']}/claims/").status_code == 403


def test_a_series_with_nothing_ahead_takes_no_claims(world, client_for, series):
    ServiceRequest.objects.filter(series_id=series["id"]).update(status="cancelled")
    response = client_for(world.alice.user).post(f"{URL}{series['id']}/claims/")
    assert_error(response, 409, errors.SERIES_ENDED)
