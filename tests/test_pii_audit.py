"""Every full phone number shown to staff leaves a ``pii_viewed`` Event, written in one INSERT."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Event, User
from members.models import Member
from services.models import ServiceRequest
from tests.factories import ClaimFactory, MemberFactory, ServiceRequestFactory

MEMBERS = "/api/v1/members/"
TEAMS = "/api/v1/teams/"
REQUESTS = "/api/v1/requests/"


def views() -> list[Event]:
    return list(Event.objects.filter(verb="pii_viewed").order_by("id"))


def viewed(model) -> set[str]:
    """Object ids of ``model`` whose phone was recorded as viewed."""
    return {
        e.object_id
        for e in views()
        if e.content_type_id == ContentType.objects.get_for_model(model).pk
    }


def event_inserts(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('INSERT INTO "accounts_event"'))


def test_staff_reading_the_member_list_leaves_one_event_per_full_phone(client_for, world):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(world.sam).get(MEMBERS)
    assert response.status_code == 200
    phones = {row["phone"] for row in response.json()["results"]}
    assert {"13800001111", "13800002222", "13800003333"} <= phones
    assert event_inserts(queries.captured_queries) == 1
    assert viewed(Member) == {str(m.pk) for m in (world.alice, world.bob, world.charlie)}
    for event in views():
        assert event.actor == world.sam
        assert event.payload == {"field": "phone", "endpoint": MEMBERS, "method": "GET"}
        assert event.at is not None


def test_staff_reading_one_member_leaves_one_event(client_for, world):
    response = client_for(world.sam).get(f"{MEMBERS}{world.alice.pk}/")
    assert response.json()["phone"] == "13800001111"
    [event] = views()
    assert event.object_id == str(world.alice.pk)
    assert event.content_type == ContentType.objects.get_for_model(Member)
    assert event.payload["endpoint"] == f"{MEMBERS}{world.alice.pk}/"


def test_a_team_leaders_full_phone_is_recorded_against_the_user(client_for, world):
    response = client_for(world.sam).get(f"{TEAMS}{world.team.pk}/")
    assert response.json()["leader"]["phone"] == "13800002222"
    [event] = views()
    assert (event.content_type, event.object_id) == (
        ContentType.objects.get_for_model(User),
        str(world.bob.user.pk),
    )


def test_masked_phones_and_ones_own_phone_leave_nothing(client_for, world):
    # A member sees others masked and their own number in full: neither is audited.
    assert client_for(world.alice.user).get(MEMBERS).status_code == 200
    own = client_for(world.alice.user).get(f"{MEMBERS}{world.alice.pk}/").json()
    assert own["phone"] == "13800001111"
    assert client_for(world.mary).get(MEMBERS).status_code == 200
    assert client_for(world.alice.user).get("/api/v1/me/").status_code == 200
    assert views() == []


def test_staff_who_are_members_are_not_audited_for_their_own_number(client_for, world):
    own = MemberFactory(user=world.sam, team=world.team)
    assert client_for(world.sam).get(MEMBERS).status_code == 200
    assert str(own.pk) not in viewed(Member)
    assert viewed(Member) == {str(m.pk) for m in (world.alice, world.bob, world.charlie)}


def test_staff_reading_request_contacts_are_audited(client_for, world):
    with_phone = ServiceRequestFactory(station=world.station, contact_phone="13900009999")
    without = ServiceRequestFactory(station=world.station, contact_phone="", contact_name="")
    with CaptureQueriesContext(connection) as queries:
        listed = client_for(world.sam).get(REQUESTS)
    assert listed.status_code == 200
    assert event_inserts(queries.captured_queries) == 1
    assert viewed(ServiceRequest) == {str(with_phone.pk)}
    client_for(world.sam).get(f"{REQUESTS}{with_phone.pk}/")
    client_for(world.sam).get(f"{REQUESTS}{without.pk}/")
    detail = [e for e in views() if e.payload["endpoint"] == f"{REQUESTS}{with_phone.pk}/"]
    assert len(detail) == 1
    assert detail[0].payload["field"] == "contact_phone"
    assert detail[0].actor == world.sam
    assert len(views()) == 2


def test_managers_and_claimants_seeing_a_contact_are_not_staff_reads(client_for, world):
    service_request = ServiceRequestFactory(station=world.station, created_by=world.mary)
    ClaimFactory(request=service_request, member=world.alice)
    for user in (world.mary, world.alice.user):
        body = client_for(user).get(f"{REQUESTS}{service_request.pk}/").json()
        assert body["contact_phone"] == "13900009999"
    assert views() == []


@pytest.mark.parametrize("path", [f"{MEMBERS}999999/", f"{REQUESTS}999999/"])
def test_failed_reads_leave_nothing(client_for, world, path):
    assert client_for(world.sam).get(path).status_code == 404
    assert views() == []


def test_serializing_outside_a_request_records_nothing(world):
    from members.pii import viewer_of
    from members.serializers import MemberSerializer

    data = MemberSerializer(world.alice, context={"viewer": viewer_of(world.sam)}).data
    assert data["phone"] == "13800001111"
    assert views() == []
