"""GET /me/ carries the member profile, team, stations managed and villages liaised."""

from __future__ import annotations

from accounts.audit import notify
from stations.models import Station


def test_a_member_gets_profile_and_team(world, client_for):
    body = client_for(world.alice.user).get("/api/v1/me/").json()
    assert body["member"] == {
        "id": world.alice.id,
        "name": "王丽",
        "phone": "13800001111",
        "sector": "法律界",
        "specialties": [{"id": world.law.id, "code": "law", "name": "法律"}],
        "home_lat": world.alice.home_lat,
        "home_lng": world.alice.home_lng,
        "active": True,
    }
    assert body["team"]["id"] == world.team.id
    assert body["team"]["specialties"] == [{"id": world.law.id, "code": "law", "name": "法律"}]
    assert body["stations_managed"] == [] and body["villages_liaised"] == []


def test_a_manager_gets_their_active_stations(world, client_for):
    body = client_for(world.mary).get("/api/v1/me/").json()
    assert body["member"] is None and body["team"] is None
    assert body["stations_managed"] == [
        {
            "id": world.station.id,
            "name": "昌国协商驿站",
            "kind": "consultation",
            "town": world.town.id,
            "address": world.station.address,
            "lat": world.station.lat,
            "lng": world.station.lng,
        }
    ]
    Station.objects.filter(pk=world.station.pk).update(active=False)
    assert client_for(world.mary).get("/api/v1/me/").json()["stations_managed"] == []


def test_a_liaison_gets_their_villages(world, client_for):
    body = client_for(world.leo).get("/api/v1/me/").json()
    assert [v["id"] for v in body["villages_liaised"]] == [world.other_village.id]
    village = body["villages_liaised"][0]
    assert (village["station"], village["remote"], village["kind"]) == (
        world.other_station.id,
        True,
        "island",
    )


def test_staff_hold_nothing_here(world, client_for):
    body = client_for(world.sam).get("/api/v1/me/").json()
    assert (body["member"], body["team"], body["stations_managed"], body["villages_liaised"]) == (
        None,
        None,
        [],
        [],
    )


def test_an_inactive_team_is_not_shown(world, client_for):
    world.team.active = False
    world.team.save()
    assert client_for(world.alice.user).get("/api/v1/me/").json()["team"] is None


def test_me_carries_the_unread_notification_count(world, client_for):
    for n in range(3):
        notify(user=world.alice.user, kind="claim_promoted", title=f"通知{n}", body="", payload={})
    notify(user=world.bob.user, kind="claim_promoted", title="别人的", body="", payload={})
    client = client_for(world.alice.user)
    assert client.get("/api/v1/me/").json()["unread_notifications"] == 3
    first = client.get("/api/v1/me/notifications/").json()["results"][0]
    client.post(f"/api/v1/me/notifications/{first['id']}/read/")
    assert client.get("/api/v1/me/").json()["unread_notifications"] == 2
    assert client_for(world.sam).get("/api/v1/me/").json()["unread_notifications"] == 0
