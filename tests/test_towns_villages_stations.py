"""Towns, villages and stations: who reads, who writes, what is refused and what is stored."""

from __future__ import annotations

import math

import pytest

from accounts import errors
from accounts.models import Event
from stations import errors as geo_errors
from stations.geo import wgs84_to_gcj02
from stations.models import Station, Town, Village
from tests.factories import StationFactory, TownFactory, UserFactory, VillageFactory
from tests.test_errors import assert_error

READERS = ["alice", "mary", "oscar", "lily", "leo", "sam"]


def persona(world, name):
    return {
        "alice": world.alice.user,
        "charlie": world.charlie.user,
        "mary": world.mary,
        "oscar": world.oscar,
        "lily": world.lily,
        "leo": world.leo,
        "sam": world.sam,
    }[name]


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def counts() -> tuple[int, int, int]:
    return Town.objects.count(), Village.objects.count(), Station.objects.count()


# ------------------------------------------------------------------ reading


@pytest.mark.parametrize("who", READERS)
def test_every_signed_in_persona_reads_reference_lists(world, client_for, who):
    client = client_for(persona(world, who))
    assert ids(client.get("/api/v1/towns/")) == {world.town.id, world.other_town.id}
    assert ids(client.get("/api/v1/villages/")) == {world.village.id, world.other_village.id}
    assert ids(client.get("/api/v1/stations/")) == {world.station.id, world.other_station.id}
    detail = client.get(f"/api/v1/stations/{world.station.id}/").json()
    assert detail["name"] == "昌国协商驿站"
    assert detail["managers"] == [world.mary.id]
    assert detail["town"] == world.town.id
    village = client.get(f"/api/v1/villages/{world.village.id}/").json()
    assert village["station"] == world.station.id
    assert village["liaisons"] == [world.lily.id]


@pytest.mark.parametrize("path", ["towns/", "villages/", "stations/", "towns/1/", "stations/1/"])
def test_anonymous_reads_nothing(anon, world, path):
    assert_error(anon.get(f"/api/v1/{path}"), 401, errors.NOT_AUTHENTICATED)


def test_lists_are_paginated(world, client_for):
    TownFactory.create_batch(25)
    body = client_for(world.alice.user).get("/api/v1/towns/").json()
    assert body["count"] == 27
    assert len(body["results"]) == 20
    assert body["next"] and body["previous"] is None
    big = client_for(world.alice.user).get("/api/v1/towns/?page_size=500").json()
    assert len(big["results"]) == 27  # capped at 100, so all 27 fit


def test_inactive_rows_are_hidden_from_everyone_but_staff(world, client_for):
    closed_town = TownFactory(name="已撤销镇", active=False)
    closed_station = StationFactory(town=world.town, active=False)
    closed_village = VillageFactory(town=world.town, active=False)
    member = client_for(world.alice.user)
    assert closed_town.id not in ids(member.get("/api/v1/towns/"))
    assert closed_station.id not in ids(member.get("/api/v1/stations/"))
    assert closed_village.id not in ids(member.get("/api/v1/villages/"))
    assert_error(member.get(f"/api/v1/stations/{closed_station.id}/"), 404, errors.NOT_FOUND)
    assert_error(member.get(f"/api/v1/towns/{closed_town.id}/"), 404, errors.NOT_FOUND)
    staff = client_for(world.sam)
    assert closed_town.id in ids(staff.get("/api/v1/towns/"))
    assert ids(staff.get("/api/v1/stations/?active=false")) == {closed_station.id}
    assert staff.get(f"/api/v1/villages/{closed_village.id}/").status_code == 200


def test_village_and_station_filters(world, client_for):
    client = client_for(world.lily)
    assert ids(client.get(f"/api/v1/villages/?town={world.town.id}")) == {world.village.id}
    assert ids(client.get("/api/v1/villages/?remote=true")) == {world.other_village.id}
    assert ids(client.get("/api/v1/villages/?kind=island")) == {world.other_village.id}
    assert ids(client.get(f"/api/v1/villages/?station={world.station.id}")) == {world.village.id}
    assert ids(client.get(f"/api/v1/stations/?town={world.other_town.id}")) == {
        world.other_station.id
    }
    assert ids(client.get("/api/v1/stations/?kind=workstation")) == {world.other_station.id}
    assert ids(client.get(f"/api/v1/stations/?manager={world.mary.id}")) == {world.station.id}
    assert ids(client.get("/api/v1/stations/?search=金塘")) == {world.other_station.id}
    assert ids(client.get("/api/v1/towns/?search=昌国")) == {world.town.id}


@pytest.mark.parametrize(
    "path",
    ["villages/?town=abc", "stations/?kind=castle", "villages/?remote=perhaps", "towns/?kind=x"],
)
def test_bad_filters_are_400(world, client_for, path):
    body = assert_error(
        client_for(world.alice.user).get(f"/api/v1/{path}"), 400, errors.VALIDATION_ERROR
    )
    assert body["fields"]


def test_unknown_ids_are_404(world, client_for):
    client = client_for(world.sam)
    assert_error(client.get("/api/v1/towns/999999/"), 404, errors.NOT_FOUND)
    assert_error(client.get("/api/v1/stations/abc/"), 404, errors.NOT_FOUND)


# ------------------------------------------------------------------ staff writes


def test_staff_creates_a_town_with_gcj02_coordinates_stored_as_wgs84(world, client_for):
    gcj_lat, gcj_lng = wgs84_to_gcj02(30.06, 122.17)
    response = client_for(world.sam).post(
        "/api/v1/towns/",
        {"name": "白泉镇", "kind": "town", "lat": gcj_lat, "lng": gcj_lng, "coord_type": "gcj02"},
    )
    assert response.status_code == 201, response.content
    town = Town.objects.get(name="白泉镇")
    assert math.isclose(town.lat, 30.06, abs_tol=2e-6)
    assert math.isclose(town.lng, 122.17, abs_tol=2e-6)
    assert town.code == ""
    assert response.json()["lat"] == town.lat
    assert Event.objects.filter(verb="town.created", object_id=str(town.id)).exists()


def test_staff_creates_village_and_station_and_assigned_users_get_their_roles(world, client_for):
    newbie = UserFactory(username="nina")
    client = client_for(world.sam)
    station = client.post(
        "/api/v1/stations/",
        {
            "name": "昌国暖心驿站",
            "kind": "consultation",
            "town": world.town.id,
            "address": "定海区人民路 8 号",
            "lat": "30.0211",
            "lng": "122.1066",
            "managers": [newbie.id],
        },
    )
    assert station.status_code == 201, station.content
    created = Station.objects.get(name="昌国暖心驿站")
    assert (created.lat, created.lng) == (30.0211, 122.1066)
    assert list(created.managers.all()) == [newbie]
    newbie.refresh_from_db()
    assert newbie.is_station_manager

    village = client.post(
        "/api/v1/villages/",
        {
            "town": world.town.id,
            "name": "螺门村",
            "kind": "fishing_village",
            "remote": True,
            "lat": 30.03,
            "lng": 122.12,
            "station": created.id,
            "liaisons": [newbie.id],
        },
    )
    assert village.status_code == 201, village.content
    row = Village.objects.get(name="螺门村")
    assert (row.station, row.remote, row.kind) == (created, True, "fishing_village")
    newbie.refresh_from_db()
    assert newbie.is_village_liaison


def test_staff_updates_and_deactivates_and_there_is_no_delete(world, client_for):
    client = client_for(world.sam)
    response = client.patch(f"/api/v1/villages/{world.village.id}/", {"active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    world.village.refresh_from_db()
    assert world.village.active is False
    for path in (f"towns/{world.town.id}/", f"stations/{world.station.id}/"):
        assert_error(client.delete(f"/api/v1/{path}"), 405, errors.METHOD_NOT_ALLOWED)
        assert_error(client.put(f"/api/v1/{path}", {}), 405, errors.METHOD_NOT_ALLOWED)
    assert Town.objects.filter(pk=world.town.pk).exists()
    assert Station.objects.filter(pk=world.station.pk).exists()


def test_staff_moves_a_station_and_reassigns_managers(world, client_for):
    response = client_for(world.sam).patch(
        f"/api/v1/stations/{world.station.id}/",
        {"lat": 30.03, "lng": 122.11, "managers": [world.oscar.id], "name": "昌国新驿站"},
    )
    assert response.status_code == 200, response.content
    world.station.refresh_from_db()
    assert (world.station.lat, world.station.lng, world.station.name) == (
        30.03,
        122.11,
        "昌国新驿站",
    )
    assert list(world.station.managers.all()) == [world.oscar]


# ------------------------------------------------------------------ managers and others


def test_manager_edits_address_and_position_of_own_station(world, client_for):
    gcj_lat, gcj_lng = wgs84_to_gcj02(30.0205, 122.1071)
    response = client_for(world.mary).patch(
        f"/api/v1/stations/{world.station.id}/",
        {"address": "昌国路 99 号", "lat": gcj_lat, "lng": gcj_lng, "coord_type": "gcj02"},
    )
    assert response.status_code == 200, response.content
    world.station.refresh_from_db()
    assert world.station.address == "昌国路 99 号"
    assert math.isclose(world.station.lat, 30.0205, abs_tol=2e-6)
    assert Event.objects.filter(verb="station.updated", actor=world.mary).count() == 1


@pytest.mark.parametrize("field", ["managers", "name", "active", "kind", "town"])
def test_manager_cannot_change_staff_fields(world, client_for, field):
    body = {
        "managers": [world.mary.id, world.oscar.id],
        "name": "改名",
        "active": False,
        "kind": "council",
        "town": world.other_town.id,
    }
    body = {field: body[field]}
    before = Station.objects.values().get(pk=world.station.pk)
    response = client_for(world.mary).patch(
        f"/api/v1/stations/{world.station.id}/", {"address": "新地址", **body}
    )
    assert_error(response, 403, geo_errors.STATION_FIELD_NOT_EDITABLE)
    assert Station.objects.values().get(pk=world.station.pk) == before
    assert list(world.station.managers.all()) == [world.mary]
    assert not Event.objects.filter(verb="station.updated").exists()


def test_manager_cannot_edit_another_station(world, client_for):
    response = client_for(world.oscar).patch(
        f"/api/v1/stations/{world.station.id}/", {"address": "别人的驿站"}
    )
    assert_error(response, 403, errors.PERMISSION_DENIED)
    world.station.refresh_from_db()
    assert world.station.address != "别人的驿站"


def test_manager_cannot_create_stations_or_touch_towns_and_villages(world, client_for):
    client = client_for(world.mary)
    before = counts()
    body = {"name": "x", "kind": "council", "town": world.town.id, "lat": 30, "lng": 122}
    assert_error(client.post("/api/v1/stations/", body), 403, errors.PERMISSION_DENIED)
    assert_error(
        client.patch(f"/api/v1/villages/{world.village.id}/", {"name": "x"}),
        403,
        errors.PERMISSION_DENIED,
    )
    assert_error(
        client.post("/api/v1/towns/", {"name": "x", "lat": 30, "lng": 122}),
        403,
        errors.PERMISSION_DENIED,
    )
    assert counts() == before


@pytest.mark.parametrize("who", ["alice", "lily", "leo"])
def test_members_and_liaisons_write_nothing(world, client_for, who):
    client = client_for(persona(world, who))
    before = counts()
    attempts = [
        client.post("/api/v1/towns/", {"name": "新镇", "lat": 30, "lng": 122}),
        client.patch(f"/api/v1/towns/{world.town.id}/", {"name": "改名"}),
        client.post(
            "/api/v1/villages/", {"town": world.town.id, "name": "x", "lat": 30, "lng": 122}
        ),
        client.patch(f"/api/v1/villages/{world.village.id}/", {"remote": True}),
        client.patch(f"/api/v1/stations/{world.station.id}/", {"address": "x"}),
    ]
    for response in attempts:
        assert_error(response, 403, errors.PERMISSION_DENIED)
    assert counts() == before
    world.town.refresh_from_db()
    assert world.town.name == "昌国街道"


def test_anonymous_writes_nothing(world, anon):
    before = counts()
    response = anon.post("/api/v1/towns/", {"name": "x", "lat": 30, "lng": 122})
    assert_error(response, 401, errors.NOT_AUTHENTICATED)
    assert counts() == before


# ------------------------------------------------------------------ bad input


BAD_POINTS = [
    ({"lat": 91, "lng": 122}, geo_errors.INVALID_COORDINATES, "lat"),
    ({"lat": 30, "lng": -180.5}, geo_errors.INVALID_COORDINATES, "lng"),
    ({"lat": "NaN", "lng": 122}, geo_errors.INVALID_COORDINATES, "lat"),
    ({"lat": 30, "lng": "inf"}, geo_errors.INVALID_COORDINATES, "lng"),
    ({"lat": "北纬30度", "lng": 122}, geo_errors.INVALID_COORDINATES, "lat"),
    ({"lat": True, "lng": 122}, geo_errors.INVALID_COORDINATES, "lat"),
    ({"lat": [30], "lng": 122}, geo_errors.INVALID_COORDINATES, "lat"),
    ({"lat": 48.85, "lng": 2.35, "coord_type": "gcj02"}, geo_errors.OUTSIDE_CHINA, "lng"),
    ({"lat": 30, "lng": 122, "coord_type": "bd09"}, geo_errors.UNKNOWN_COORD_TYPE, "coord_type"),
]


@pytest.mark.parametrize(("point", "code", "field"), BAD_POINTS)
def test_bad_coordinates_are_refused_and_nothing_is_written(world, client_for, point, code, field):
    client = client_for(world.sam)
    before = counts()
    town = client.post("/api/v1/towns/", {"name": "坏坐标镇", **point})
    assert field in assert_error(town, 400, code)["fields"]
    station = client.post(
        "/api/v1/stations/",
        {"name": "坏坐标驿站", "kind": "council", "town": world.town.id, **point},
    )
    assert_error(station, 400, code)
    village = client.post("/api/v1/villages/", {"name": "坏坐标村", "town": world.town.id, **point})
    assert_error(village, 400, code)
    assert counts() == before
    assert not Event.objects.exists()


@pytest.mark.parametrize(("point", "code", "field"), BAD_POINTS)
def test_bad_coordinates_in_a_manager_patch_change_nothing(world, client_for, point, code, field):
    before = Station.objects.values().get(pk=world.station.pk)
    response = client_for(world.mary).patch(
        f"/api/v1/stations/{world.station.id}/", {"address": "新地址", **point}
    )
    assert_error(response, 400, code)
    assert Station.objects.values().get(pk=world.station.pk) == before


def test_coordinates_are_required_on_create(world, client_for):
    client = client_for(world.sam)
    for body in ({"name": "无坐标镇", "lng": 122}, {"name": "无坐标镇", "lat": None, "lng": 122}):
        response = client.post("/api/v1/towns/", body)
        assert "lat" in assert_error(response, 400, errors.VALIDATION_ERROR)["fields"]
    assert not Town.objects.filter(name="无坐标镇").exists()


def test_a_lone_coordinate_in_a_patch_is_refused(world, client_for):
    response = client_for(world.sam).patch(f"/api/v1/towns/{world.town.id}/", {"lat": 30.1})
    body = assert_error(response, 400, geo_errors.INVALID_COORDINATES)
    assert "lng" in body["fields"]


def test_duplicate_names_and_codes_are_conflicts(world, client_for):
    client = client_for(world.sam)
    Town.objects.filter(pk=world.town.pk).update(code="330902001")
    before = counts()
    dup_town = client.post("/api/v1/towns/", {"name": "昌国街道", "lat": 30, "lng": 122})
    assert "name" in assert_error(dup_town, 409, geo_errors.DUPLICATE_NAME)["fields"]
    dup_code = client.post(
        "/api/v1/towns/", {"name": "新镇", "code": "330902001", "lat": 30, "lng": 122}
    )
    assert "code" in assert_error(dup_code, 409, geo_errors.DUPLICATE_CODE)["fields"]
    dup_station = client.post(
        "/api/v1/stations/",
        {
            "name": "金塘委员工作室",
            "kind": "workstation",
            "town": world.town.id,
            "lat": 30,
            "lng": 122,
        },
    )
    assert_error(dup_station, 409, geo_errors.DUPLICATE_NAME)
    dup_village = client.post(
        "/api/v1/villages/", {"name": "新螺头村", "town": world.town.id, "lat": 30, "lng": 122}
    )
    assert_error(dup_village, 409, geo_errors.DUPLICATE_NAME)
    rename = client.patch(f"/api/v1/stations/{world.station.id}/", {"name": "金塘委员工作室"})
    assert_error(rename, 409, geo_errors.DUPLICATE_NAME)
    assert counts() == before
    world.station.refresh_from_db()
    assert world.station.name == "昌国协商驿站"
    # The same village name in another town is fine.
    other = client.post(
        "/api/v1/villages/",
        {"name": "新螺头村", "town": world.other_town.id, "lat": 30, "lng": 122},
    )
    assert other.status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("towns/", {"name": "", "lat": 30, "lng": 122}, "name"),
        ("towns/", {"name": "x" * 51, "lat": 30, "lng": 122}, "name"),
        ("towns/", {"name": "镇", "code": "12ab", "lat": 30, "lng": 122}, "code"),
        ("towns/", {"name": "镇", "kind": "city", "lat": 30, "lng": 122}, "kind"),
        ("stations/", {"name": "站", "kind": "castle", "town": 1, "lat": 30, "lng": 122}, "kind"),
        (
            "stations/",
            {"name": "站", "kind": "council", "town": 999999, "lat": 30, "lng": 122},
            "town",
        ),
        (
            "stations/",
            {"name": "站", "kind": "council", "town": "abc", "lat": 30, "lng": 122},
            "town",
        ),
        ("stations/", {"name": "站", "kind": "council", "lat": 30, "lng": 122}, "town"),
        (
            "stations/",
            {
                "name": "站",
                "kind": "council",
                "town": 1,
                "lat": 30,
                "lng": 122,
                "address": "x" * 201,
            },
            "address",
        ),
        (
            "stations/",
            {
                "name": "站",
                "kind": "council",
                "town": 1,
                "lat": 30,
                "lng": 122,
                "managers": [999999],
            },
            "managers",
        ),
        ("villages/", {"name": "村", "town": 1, "lat": 30, "lng": 122, "kind": "city"}, "kind"),
        (
            "villages/",
            {"name": "村", "town": 1, "lat": 30, "lng": 122, "station": 999999},
            "station",
        ),
        (
            "villages/",
            {"name": "村", "town": 1, "lat": 30, "lng": 122, "remote": "maybe"},
            "remote",
        ),
    ],
)
def test_bad_fields_are_400_and_nothing_is_written(world, client_for, path, body, field):
    body = {
        key: (world.town.id if value == 1 and key == "town" else value)
        for key, value in body.items()
    }
    before = counts()
    response = client_for(world.sam).post(f"/api/v1/{path}", body)
    assert field in assert_error(response, 400, errors.VALIDATION_ERROR)["fields"]
    assert counts() == before


def test_an_inactive_town_cannot_take_new_stations(world, client_for):
    Town.objects.filter(pk=world.other_town.pk).update(active=False)
    response = client_for(world.sam).post(
        "/api/v1/stations/",
        {"name": "站", "kind": "council", "town": world.other_town.id, "lat": 30, "lng": 122},
    )
    assert "town" in assert_error(response, 400, errors.VALIDATION_ERROR)["fields"]


def test_json_only_and_malformed_json(world, client_for):
    client = client_for(world.sam)
    response = client.post(
        "/api/v1/towns/", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, errors.UNSUPPORTED_MEDIA_TYPE)
    response = client.post("/api/v1/towns/", data="{bad", content_type="application/json")
    assert_error(response, 400, errors.PARSE_ERROR)
