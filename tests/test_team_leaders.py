"""Team leaders: the team's claims, invited requests and figures; 派单 assign → accept or
decline, where a claim counts only once accepted and every claim rule holds. A leader of
another team can do none of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Event, Notification
from members.models import Member
from services import errors
from services.models import Assignment, Claim, ServiceRequest
from services.notifications import span
from services.records.writes import submit_record, verify_record
from tests import records_fixtures, services_fixtures
from tests.factories import ClaimFactory, MemberFactory, ServiceRequestFactory, UserFactory
from tests.services_fixtures import assert_consistent, request_url
from tests.test_errors import assert_error

campaign = services_fixtures.campaign
rules = records_fixtures.rules

ASSIGNMENTS = "/api/v1/assignments/"


@pytest.fixture
def invited(world, campaign) -> ServiceRequest:
    """Three places at the village, the law team (led by bob) invited until tomorrow."""
    starts = timezone.now() + timedelta(days=2)
    return ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        title="新螺头村法律咨询",
        lat=world.village.lat,
        lng=world.village.lng,
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        slots=3,
        invited_team=world.team,
        invite_until=timezone.now() + timedelta(days=1),
        created_by=world.mary,
    )


@pytest.fixture
def rival(world):
    """charlie leads the other team."""
    world.other_team.leader = world.charlie.user
    world.other_team.save(update_fields=["leader"])
    return world.charlie.user


def assign(client, service_request, member, **extra):
    body = {"member": member if isinstance(member, int) else member.pk, **extra}
    return client.post(request_url(service_request, "assignments/"), body, format="json")


def answer(client, assignment_id, verb, **body):
    return client.post(f"{ASSIGNMENTS}{assignment_id}/{verb}/", body, format="json")


def test_a_leader_assigns_and_the_claim_counts_once_accepted(world, client_for, invited):
    leader = client_for(world.bob.user)
    response = assign(leader, invited, world.alice, note="你熟悉土地法")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["claim"] is None
    assert body["member"] == {"id": world.alice.pk, "name": "王*"}
    invited.refresh_from_db()
    assert invited.claimed == 0  # an assignment holds no slot
    assert not Claim.objects.filter(request=invited).exists()
    notice = Notification.objects.get(user=world.alice.user, kind="assignment_created")
    assert notice.title == "团队派单：新螺头村法律咨询"
    assert notice.body == (
        "“法律服务团”负责人请您承接需求“新螺头村法律咨询”。"
        f"时间：{span(invited.starts_at, invited.ends_at)}；地点：定海区测试路 2 号。"
        "请在小程序中接单或拒绝，接单后才算认领。说明：你熟悉土地法"
    )

    member = client_for(world.alice.user)
    mine = member.get(ASSIGNMENTS, {"status": "pending"}).json()["results"]
    assert [row["id"] for row in mine] == [body["id"]]
    accepted = answer(member, body["id"], "accept")
    assert accepted.status_code == 200, accepted.content
    claim = Claim.objects.get(pk=accepted.json()["claim"])
    assert (claim.member, claim.status, claim.team) == (world.alice, "claimed", world.team)
    assert assert_consistent(invited).claimed == 1
    told = Notification.objects.get(user=world.bob.user, kind="assignment_answered")
    assert told.body == "王* 已接单：需求“新螺头村法律咨询”，已为其认领名额。"
    assert Notification.objects.filter(user=world.alice.user, kind="claim_confirmed").exists()
    assert set(Event.objects.values_list("verb", flat=True)) >= {
        "assignment_created",
        "assignment_accepted",
        "claim_created",
    }
    assert_error(answer(member, body["id"], "accept"), 409, errors.ASSIGNMENT_NOT_PENDING)


def test_a_declined_assignment_tells_the_leader_why_and_claims_nothing(world, client_for, invited):
    made = assign(client_for(world.bob.user), invited, world.alice).json()
    response = answer(client_for(world.alice.user), made["id"], "decline", reason="那天出差")
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert response.json()["decline_reason"] == "那天出差"
    told = Notification.objects.get(user=world.bob.user, kind="assignment_answered")
    assert told.body == "王* 拒绝了需求“新螺头村法律咨询”的派单。原因：那天出差"
    assert not Claim.objects.filter(request=invited).exists()
    # Declined, the leader may ask again.
    assert assign(client_for(world.bob.user), invited, world.alice).status_code == 201


def test_accepting_holds_every_claim_rule_and_a_refusal_leaves_it_pending(
    world, client_for, invited, campaign
):
    leader = client_for(world.bob.user)
    member = client_for(world.alice.user)
    made = assign(leader, invited, world.alice).json()

    # Slots: the request filled up meanwhile.
    fillers = [ClaimFactory(request=invited, member=MemberFactory(team=world.team)) for _ in "abc"]
    assert_error(answer(member, made["id"], "accept"), 409, errors.REQUEST_FULL)
    assert Assignment.objects.get(pk=made["id"]).status == "pending"
    Claim.objects.filter(pk=fillers[0].pk).update(status=Claim.Status.CANCELLED)
    ServiceRequest.objects.filter(pk=invited.pk).update(claimed=2, status="open")

    # Time conflict with another task of alice's.
    other = ServiceRequestFactory(
        campaign=campaign, starts_at=invited.starts_at, ends_at=invited.ends_at
    )
    clash = ClaimFactory(request=other, member=world.alice)
    body = assert_error(answer(member, made["id"], "accept"), 409, errors.TIME_CONFLICT)
    assert body["conflicting_request"] == other.pk
    Claim.objects.filter(pk=clash.pk).update(status=Claim.Status.CANCELLED)

    # The invite window: alice left the team before answering.
    Member.objects.filter(pk=world.alice.pk).update(team=world.other_team)
    assert_error(answer(member, made["id"], "accept"), 403, errors.INVITE_WINDOW)
    Member.objects.filter(pk=world.alice.pk).update(team=world.team)

    assert answer(member, made["id"], "accept").status_code == 200
    assert_consistent(invited)


def test_a_leader_of_another_team_can_do_none_of_it(world, client_for, invited, rival):
    made = assign(client_for(world.bob.user), invited, world.alice).json()
    charlie = client_for(rival)
    team = world.team.pk
    for path in ("claims/", "requests/", "summary/"):
        assert_error(charlie.get(f"/api/v1/teams/{team}/{path}"), 403, errors.NOT_TEAM_LEADER)
    assert_error(assign(charlie, invited, world.alice), 403, errors.TEAM_NOT_INVITED)
    assert_error(assign(charlie, invited, world.charlie), 403, errors.TEAM_NOT_INVITED)
    assert_error(answer(charlie, made["id"], "accept"), 403, errors.NOT_ASSIGNEE)
    assert_error(answer(charlie, made["id"], "decline", reason="不行"), 403, errors.NOT_ASSIGNEE)
    assert charlie.get(ASSIGNMENTS).json()["count"] == 0
    assert Assignment.objects.get(pk=made["id"]).status == "pending"
    # Nor does a teammate who is not the leader, nor a station manager.
    for user in (world.alice.user, world.mary):
        assert_error(
            client_for(user).get(f"/api/v1/teams/{team}/summary/"), 403, errors.NOT_TEAM_LEADER
        )
    assert_error(assign(client_for(world.alice.user), invited, world.bob), 403, "not_team_leader")
    assert_error(assign(client_for(world.mary), invited, world.alice), 403, "not_team_leader")


def test_bad_assignments_are_refused_and_write_nothing(world, client_for, invited, campaign):
    leader = client_for(world.bob.user)
    gone = MemberFactory(team=world.team, active=False)
    not_invited = ServiceRequestFactory(campaign=campaign, station=world.station)
    other_invited = ServiceRequestFactory(
        campaign=campaign,
        station=world.station,
        invited_team=world.other_team,
        invite_until=timezone.now() + timedelta(hours=5),
    )
    events = Event.objects.count()
    body = assert_error(assign(leader, invited, world.charlie), 400, errors.ASSIGNEE_NOT_IN_TEAM)
    assert "member" in body["fields"]
    assert_error(assign(leader, invited, gone), 400, errors.ASSIGNEE_INACTIVE)
    assert_error(assign(leader, not_invited, world.alice), 403, errors.TEAM_NOT_INVITED)
    assert_error(assign(leader, other_invited, world.alice), 403, errors.TEAM_NOT_INVITED)
    assert_error(assign(leader, invited, 10**9), 400, "validation_error")
    assert_error(assign(leader, invited, world.alice, team=1), 400, "unknown_field")
    assert_error(
        leader.post(request_url(invited, "assignments/"), {"member": "x"}, format="json"),
        400,
        "validation_error",
    )
    assert_error(
        leader.post(request_url(invited, "assignments/"), {}, format="json"),
        400,
        "validation_error",
    )
    assert_error(assign(leader, invited, world.alice, note="长" * 201), 400, "validation_error")
    assert leader.post(request_url(10**6, "assignments/"), {"member": world.alice.pk},
                       format="json").status_code == 404  # fmt: skip
    assert not Assignment.objects.exists()
    assert not Notification.objects.exists()
    assert Event.objects.count() == events

    assert assign(leader, invited, world.alice).status_code == 201
    assert_error(assign(leader, invited, world.alice), 409, errors.ALREADY_ASSIGNED)
    ClaimFactory(request=invited, member=world.bob)
    assert_error(assign(leader, invited, world.bob), 409, errors.ALREADY_CLAIMED)
    ServiceRequest.objects.filter(pk=invited.pk).update(status="cancelled")
    assert_error(assign(leader, invited, MemberFactory(team=world.team)), 409, "request_not_open")


def test_decline_needs_a_reason_and_only_members_answer(world, client_for, invited):
    made = assign(client_for(world.bob.user), invited, world.alice).json()
    member = client_for(world.alice.user)
    assert_error(answer(member, made["id"], "decline"), 400, "validation_error")
    assert_error(answer(member, made["id"], "decline", reason="x", why=1), 400, "unknown_field")
    assert_error(answer(client_for(world.mary), made["id"], "accept"), 403, "permission_denied")
    assert answer(member, 10**6, "accept").status_code == 404
    assert Assignment.objects.get(pk=made["id"]).status == "pending"


def test_the_leader_sees_the_teams_claims_requests_and_figures(
    world, client_for, invited, campaign, rules
):
    done_request = ServiceRequestFactory(
        campaign=campaign,
        station=world.station,
        starts_at=timezone.now() - timedelta(hours=5),
        ends_at=timezone.now() - timedelta(hours=2),
        status=ServiceRequest.Status.IN_PROGRESS,
    )
    claims = []
    for member in (world.alice, world.bob):
        claim = records_fixtures.checked_in(done_request, member)
        Claim.objects.filter(pk=claim.pk).update(
            checked_out_at=done_request.ends_at, duration_minutes=90
        )
        claims.append(claim)
    record = submit_record(
        user=world.alice.user,
        request_id=done_request.pk,
        people_served=40,
        summary="普法讲座",
        participants=[c.pk for c in claims],
    )
    verify_record(actor=world.mary, record_id=record.pk, approved=True, note="属实")
    upcoming = ClaimFactory(request=invited, member=world.alice)
    ClaimFactory(request=invited, member=world.charlie)  # another team's

    leader = client_for(world.bob.user)
    summary = leader.get(f"/api/v1/teams/{world.team.pk}/summary/").json()
    assert summary == {
        "team": {"id": world.team.pk, "name": "法律服务团"},
        "hours": 3.0,
        "services": 2,
        "people_served": 40,
        "points": 2 * rules["participation"].points + rules["team_leader"].points,
        "upcoming_claims": 1,
        "invited_requests": 1,
    }

    rows = leader.get(f"/api/v1/teams/{world.team.pk}/claims/").json()["results"]
    assert [row["id"] for row in rows] == [upcoming.pk]
    assert rows[0]["member"] == {"id": world.alice.pk, "name": "王*"}
    past = leader.get(f"/api/v1/teams/{world.team.pk}/claims/", {"when": "past"}).json()
    assert {row["id"] for row in past["results"]} == {c.pk for c in claims}
    assert_error(
        leader.get(f"/api/v1/teams/{world.team.pk}/claims/", {"when": "later"}),
        400,
        "validation_error",
    )

    (row,) = leader.get(f"/api/v1/teams/{world.team.pk}/requests/").json()["results"]
    assert (row["id"], row["team_claims"], row["available"]) == (invited.pk, 1, 1)
    assign(leader, invited, MemberFactory(team=world.team, user=UserFactory(is_member=True)))
    (row,) = leader.get(f"/api/v1/teams/{world.team.pk}/requests/").json()["results"]
    assert row["pending_assignments"] == 1
    # Staff read the same; an unknown team is 404.
    assert client_for(world.sam).get(f"/api/v1/teams/{world.team.pk}/summary/").status_code == 200
    assert leader.get("/api/v1/teams/999999/summary/").status_code == 404
