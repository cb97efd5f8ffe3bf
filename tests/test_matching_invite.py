"""POST requests/{id}/invite/: reserve a request for one team and tell its members."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event, Notification
from services import errors
from services.models import ServiceRequest
from tests import services_fixtures
from tests.factories import ClaimFactory, MemberFactory, TeamFactory
from tests.services_fixtures import request_url
from tests.test_errors import assert_error

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def invite(client, service_request, **body):
    return client.post(request_url(service_request, "invite/"), body, format="json")


def until(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


def test_a_manager_invites_a_team_and_its_members_are_told(world, client_for, open_request):
    when = timezone.now() + timedelta(days=1)
    response = invite(
        client_for(world.mary), open_request, team=world.other_team.pk, until=when.isoformat()
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == open_request.pk
    assert body["invited_team"] == {"id": world.other_team.pk, "name": "医卫服务团"}
    open_request.refresh_from_db()
    assert open_request.invited_team_id == world.other_team.pk
    assert abs(open_request.invite_until - when) < timedelta(seconds=1)
    assert open_request.status == ServiceRequest.Status.OPEN

    event = Event.objects.get(verb="request_team_invited", object_id=str(open_request.pk))
    assert event.actor == world.mary
    assert event.payload["team"] == world.other_team.pk
    assert event.payload["previous_team"] is None

    notes = Notification.objects.filter(kind="team_invited")
    assert [n.user for n in notes] == [world.charlie.user]
    note = notes.get()
    assert note.payload["request"] == open_request.pk
    assert note.payload["team_name"] == "医卫服务团"
    assert note.payload["request_title"] == "新螺头村法律咨询"
    assert datetime.fromisoformat(note.payload["until"]) == when.replace(microsecond=0)
    assert "新螺头村法律咨询" in note.title
    assert "医卫服务团" in note.body


def test_staff_may_invite_and_every_active_member_is_told(world, client_for, open_request):
    MemberFactory(team=world.team, active=False)
    response = invite(client_for(world.sam), open_request, team=world.team.pk, until=until(hours=5))
    assert response.status_code == 200, response.content
    told = set(Notification.objects.filter(kind="team_invited").values_list("user", flat=True))
    assert told == {world.alice.user.pk, world.bob.user.pk}


def test_a_new_invitation_replaces_the_last_one(world, client_for, open_request):
    client = client_for(world.mary)
    assert invite(client, open_request, team=world.team.pk, until=until(hours=5)).status_code == 200
    again = invite(client, open_request, team=world.other_team.pk, until=until(hours=6))
    assert again.status_code == 200
    open_request.refresh_from_db()
    assert open_request.invited_team_id == world.other_team.pk
    last = Event.objects.filter(verb="request_team_invited").order_by("-id").first()
    assert last.payload["previous_team"] == world.team.pk
    # Inviting the same team again (a new window) tells them again.
    assert invite(client, open_request, team=world.team.pk, until=until(hours=7)).status_code == 200
    assert Notification.objects.filter(kind="team_invited", user=world.alice.user).count() == 2


def test_the_invited_team_alone_may_claim_until_then(world, client_for, open_request):
    invite(client_for(world.mary), open_request, team=world.team.pk, until=until(hours=5))
    claim_url = request_url(open_request, "claims/")
    assert_error(client_for(world.charlie.user).post(claim_url), 403, errors.INVITE_WINDOW)
    assert client_for(world.alice.user).post(claim_url).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"until": "2099-01-01T00:00:00+08:00"}, "team"),
        ({"team": 1}, "until"),
        ({"team": "abc", "until": "2099-01-01T00:00:00+08:00"}, "team"),
        ({"team": True, "until": "2099-01-01T00:00:00+08:00"}, "team"),
        ({"team": 999999, "until": "2099-01-01T00:00:00+08:00"}, "team"),
        ({"team": 2**70, "until": "2099-01-01T00:00:00+08:00"}, "team"),
        ({"team": 1, "until": "not a time"}, "until"),
        ({"team": 1, "until": "x" * 5000}, "until"),
    ],
)
def test_malformed_input_is_refused(world, client_for, open_request, body, field):
    response = client_for(world.mary).post(
        request_url(open_request, "invite/"), body, format="json"
    )
    fields = assert_error(response, 400, common.VALIDATION_ERROR)["fields"]
    assert field in fields
    assert not Notification.objects.exists()


def test_the_window_must_end_in_the_future_and_before_the_start(world, client_for, open_request):
    client = client_for(world.mary)
    for when in (
        until(minutes=-5),
        (open_request.starts_at + timedelta(minutes=1)).isoformat(),
        open_request.starts_at.isoformat(),
    ):
        response = invite(client, open_request, team=world.team.pk, until=when)
        assert "until" in assert_error(response, 400, common.VALIDATION_ERROR)["fields"]
    open_request.refresh_from_db()
    assert open_request.invited_team is None
    assert not Notification.objects.exists()
    assert not Event.objects.filter(verb="request_team_invited").exists()


def test_an_inactive_team_cannot_be_invited(world, client_for, open_request):
    retired = TeamFactory(name="已停用团队", active=False)
    response = invite(client_for(world.mary), open_request, team=retired.pk, until=until(hours=5))
    assert "team" in assert_error(response, 400, common.VALIDATION_ERROR)["fields"]


def test_only_open_requests_take_invitations(world, client_for, open_request):
    for _ in range(open_request.slots):
        ClaimFactory(request=open_request)
    open_request.refresh_from_db()
    assert open_request.status == ServiceRequest.Status.FULL
    response = invite(
        client_for(world.mary), open_request, team=world.team.pk, until=until(hours=5)
    )
    assert_error(response, 409, errors.REQUEST_NOT_OPEN)
    ServiceRequest.objects.filter(pk=open_request.pk).update(status="cancelled")
    response = invite(client_for(world.sam), open_request, team=world.team.pk, until=until(hours=5))
    assert_error(response, 409, errors.REQUEST_NOT_OPEN)
    assert not Notification.objects.filter(kind="team_invited").exists()


def test_only_the_stations_managers_and_staff_may_invite(world, client_for, anon, open_request):
    for user in (world.alice.user, world.oscar, world.lily, world.charlie.user):
        response = invite(client_for(user), open_request, team=world.team.pk, until=until(hours=5))
        assert_error(response, 403, common.PERMISSION_DENIED)
    assert_error(
        invite(anon, open_request, team=world.team.pk, until=until(hours=5)),
        401,
        common.NOT_AUTHENTICATED,
    )
    open_request.refresh_from_db()
    assert open_request.invited_team is None
    assert not Notification.objects.exists()


def test_unknown_requests_are_404(world, client_for):
    response = client_for(world.sam).post(
        "/api/v1/requests/999999/invite/", {"team": world.team.pk, "until": until(hours=5)}
    )
    assert_error(response, 404, common.NOT_FOUND)
