"""GET me/tasks/: the member's claims with place, contact, check-in window, waitlist place and
the next thing to do; one query per page whatever its size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from services.models import Claim, ServiceRequest
from services.notifications import iso
from services.records.writes import submit_record
from tests import services_fixtures
from tests.factories import ClaimFactory, MemberFactory, ServiceRequestFactory
from tests.services_fixtures import request_url
from tests.test_errors import assert_error

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

URL = "/api/v1/me/tasks/"


def _request(world, campaign, *, hours: float, **kwargs) -> ServiceRequest:
    starts = timezone.now() + timedelta(hours=hours)
    defaults = {
        "station": world.station,
        "village": world.village,
        "campaign": campaign,
        "lat": world.village.lat,
        "lng": world.village.lng,
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "created_by": world.mary,
    }
    return ServiceRequestFactory(**{**defaults, **kwargs})


def test_it_lists_my_upcoming_tasks_soonest_first_with_what_the_screen_shows(
    world, client_for, campaign
):
    later = _request(world, campaign, hours=72, title="后天的法律咨询")
    sooner = _request(world, campaign, hours=30, title="明天的普法讲座", address="新螺头村文化礼堂")
    mine_later = ClaimFactory(request=later, member=world.alice)
    mine_sooner = ClaimFactory(request=sooner, member=world.alice)
    ClaimFactory(request=sooner, member=world.bob)  # someone else's: not mine

    response = client_for(world.alice.user).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert [first["id"], second["id"]] == [mine_sooner.pk, mine_later.pk]
    assert first["request"]["title"] == "明天的普法讲座"
    assert first["request"]["starts_at"] == iso(sooner.starts_at)
    assert first["place"] == {
        "address": "新螺头村文化礼堂",
        "lat": world.village.lat,
        "lng": world.village.lng,
        "station": {"id": world.station.pk, "name": "昌国协商驿站"},
        "town": {"id": world.town.pk, "name": "昌国街道"},
        "village": {"id": world.village.pk, "name": "新螺头村"},
    }
    assert first["contact"] == {"name": sooner.contact_name, "phone": sooner.contact_phone}
    opens = sooner.starts_at - timedelta(minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES)
    keep = sooner.starts_at + timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    assert first["check_in_window"] == {
        "opens_at": iso(opens),
        "closes_at": iso(sooner.ends_at),
        "keep_until": iso(keep),
    }
    assert first["waitlist_position"] is None
    assert first["next_action"] == "check_in"


def test_a_waitlisted_task_shows_its_place_in_line_and_no_contact(world, client_for, campaign):
    full = _request(world, campaign, hours=30, slots=1)
    ClaimFactory(request=full)
    for _ in range(2):
        ClaimFactory(request=full, status=Claim.Status.WAITLISTED)
    mine = ClaimFactory(request=full, member=world.alice, status=Claim.Status.WAITLISTED)

    (task,) = client_for(world.alice.user).get(URL).json()["results"]
    assert task["id"] == mine.pk
    assert task["waitlist_position"] == 3
    assert task["contact"] is None
    assert task["next_action"] == "none"
    assert task["check_in_window"]["keep_until"] is None


def test_the_next_action_follows_check_in_check_out_and_the_record(world, client_for, campaign):
    now = timezone.now()
    service_request = _request(world, campaign, hours=-1, status=ServiceRequest.Status.IN_PROGRESS)
    claim = ClaimFactory(
        request=service_request,
        member=world.alice,
        status=Claim.Status.CHECKED_IN,
        checked_in_at=now - timedelta(minutes=50),
    )
    client = client_for(world.alice.user)
    assert client.get(URL).json()["results"][0]["next_action"] == "check_out"

    Claim.objects.filter(pk=claim.pk).update(checked_out_at=now, duration_minutes=50)
    assert client.get(URL).json()["results"][0]["next_action"] == "submit_record"

    submit_record(
        user=world.alice.user,
        request_id=service_request.pk,
        people_served=12,
        summary="讲解了土地承包法律问题。",
        participants=[claim.pk],
    )
    assert client.get(URL).json()["count"] == 0  # waiting for verification: nothing to do
    (past,) = client.get(URL, {"when": "past"}).json()["results"]
    assert past["id"] == claim.pk
    assert past["next_action"] == "none"


def test_past_tasks_are_latest_first_and_show_no_contact_once_the_place_is_gone(
    world, client_for, campaign
):
    older = _request(world, campaign, hours=20)
    newer = _request(world, campaign, hours=40)
    cancelled = ClaimFactory(
        request=older,
        member=world.alice,
        status=Claim.Status.CANCELLED,
        cancelled_at=timezone.now(),
        cancel_reason="临时有事",
    )
    rejected = ClaimFactory(
        request=newer, member=world.alice, status=Claim.Status.REJECTED, reject_reason="人员已满"
    )
    body = client_for(world.alice.user).get(URL, {"when": "past"}).json()
    assert [row["id"] for row in body["results"]] == [rejected.pk, cancelled.pk]
    assert all(row["contact"] is None for row in body["results"])
    assert all(row["next_action"] == "none" for row in body["results"])


def test_an_overdue_claim_is_expired_before_the_list_is_read(world, client_for, campaign):
    started = _request(world, campaign, hours=-2)
    claim = ClaimFactory(
        request=started,
        member=world.alice,
        claimed_at=started.starts_at - timedelta(days=1),
        check_in_by=started.starts_at,
    )
    client = client_for(world.alice.user)
    assert client.get(URL).json()["count"] == 0
    (past,) = client.get(URL, {"when": "past"}).json()["results"]
    assert past["id"] == claim.pk and past["status"] == "expired"


@pytest.mark.parametrize("when", ["soon", "", "UPCOMING", "upcoming,past"])
def test_an_unknown_when_is_400(world, client_for, when):
    response = client_for(world.alice.user).get(URL, {"when": when})
    body = assert_error(response, 400, "validation_error")
    assert "when" in body["fields"]


def test_only_members_have_tasks(world, client_for, anon):
    assert anon.get(URL).status_code == 401
    for user in (world.mary, world.sam, world.lily):
        assert_error(client_for(user).get(URL), 403, "permission_denied")
    assert client_for(world.charlie.user).get(URL).json()["count"] == 0


def test_a_page_is_one_query_whatever_its_size(world, client_for, campaign):
    for hours in range(30, 30 + 24):
        service_request = _request(world, campaign, hours=hours, slots=2)
        if hours % 3 == 0:
            ClaimFactory(request=service_request)
            ClaimFactory(request=service_request)
            ClaimFactory(request=service_request, status=Claim.Status.WAITLISTED)
            status = Claim.Status.WAITLISTED
        else:
            status = Claim.Status.CLAIMED
        ClaimFactory(request=service_request, member=world.alice, status=status)
    client = client_for(world.alice.user)
    client.get(URL)  # warm: the first request of a process loads things once

    counts = {}
    for size in (2, 20):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"page_size": size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        pages = [
            q["sql"]
            for q in queries
            if q["sql"].startswith("SELECT")
            and "LIMIT" in q["sql"]
            and '"services_claim"."id"' in q["sql"].split("FROM")[0]
        ]
        assert len(pages) == 1, pages
        counts[size] = len(queries)
    assert counts[2] == counts[20], counts


def test_the_claim_view_and_tasks_agree_on_the_waitlist_place(world, client_for, open_request):
    for _ in range(open_request.slots):
        ClaimFactory(request=open_request)
    ClaimFactory(request=open_request, status=Claim.Status.WAITLISTED)
    client = client_for(world.alice.user)
    joined = client.post(request_url(open_request, "claims/?waitlist=1"), format="json").json()
    (task,) = client.get(URL).json()["results"]
    assert task["waitlist_position"] == joined["waitlist_position"] == 2


def test_a_member_who_is_not_the_claimant_never_sees_the_task(world, client_for, campaign):
    ClaimFactory(request=_request(world, campaign, hours=30), member=world.alice)
    other = MemberFactory(team=world.other_team)
    assert client_for(other.user).get(URL).json()["count"] == 0
