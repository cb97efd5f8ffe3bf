"""Specialties, teams and members: reads per persona, staff writes, activation, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors
from accounts.models import Event, User
from members import errors as member_errors
from members.models import Member, Specialty, Team
from stations import errors as geo_errors
from tests.factories import MemberFactory, TeamFactory, UserFactory
from tests.test_errors import assert_error


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


def counts() -> tuple[int, int, int, int]:
    return (
        Specialty.objects.count(),
        Team.objects.count(),
        Member.objects.count(),
        User.objects.count(),
    )


# ------------------------------------------------------------------ reading


@pytest.mark.parametrize("who", ["alice", "charlie", "mary", "oscar", "lily", "leo", "sam"])
def test_every_role_reads_teams_members_and_specialties(world, client_for, who):
    client = client_for(persona(world, who))
    assert ids(client.get("/api/v1/teams/")) == {world.team.id, world.other_team.id}
    assert ids(client.get("/api/v1/members/")) == {world.alice.id, world.bob.id, world.charlie.id}
    assert ids(client.get("/api/v1/specialties/")) == {world.law.id, world.medical.id}
    team = client.get(f"/api/v1/teams/{world.team.id}/").json()
    assert team["member_count"] == 2
    assert team["leader"]["id"] == world.bob.user.id
    assert [s["code"] for s in team["specialties"]] == ["law"]
    member = client.get(f"/api/v1/members/{world.charlie.id}/").json()
    assert member["team"] == {
        "id": world.other_team.id,
        "name": "医卫服务团",
        "sector": "医药卫生界",
    }
    assert member["specialties"] == [
        {"id": world.medical.id, "code": "medical", "name": "医疗卫生"}
    ]


@pytest.mark.parametrize("path", ["teams/", "members/", "specialties/", "members/1/", "teams/1/"])
def test_anonymous_reads_nothing(anon, world, path):
    assert_error(anon.get(f"/api/v1/{path}"), 401, errors.NOT_AUTHENTICATED)


def test_a_user_without_any_role_cannot_read_the_roster(world, client_for):
    nobody = client_for(UserFactory(username="nobody"))
    assert_error(nobody.get("/api/v1/members/"), 403, errors.PERMISSION_DENIED)
    assert_error(nobody.get("/api/v1/teams/"), 403, errors.PERMISSION_DENIED)
    # Reference data is for anyone signed in.
    assert nobody.get("/api/v1/specialties/").status_code == 200


def test_inactive_teams_and_members_are_hidden_from_non_staff(world, client_for):
    Team.objects.filter(pk=world.other_team.pk).update(active=False)
    Member.objects.filter(pk=world.bob.pk).update(active=False)
    Specialty.objects.filter(pk=world.medical.pk).update(active=False)
    member = client_for(world.alice.user)
    assert ids(member.get("/api/v1/teams/")) == {world.team.id}
    assert world.bob.id not in ids(member.get("/api/v1/members/"))
    assert ids(member.get("/api/v1/specialties/")) == {world.law.id}
    assert_error(member.get(f"/api/v1/members/{world.bob.id}/"), 404, errors.NOT_FOUND)
    assert member.get(f"/api/v1/teams/{world.team.id}/").json()["member_count"] == 1
    staff = client_for(world.sam)
    assert ids(staff.get("/api/v1/members/?active=false")) == {world.bob.id}
    assert ids(staff.get("/api/v1/teams/")) == {world.team.id, world.other_team.id}


def test_team_and_member_filters(world, client_for):
    client = client_for(world.mary)
    assert ids(client.get(f"/api/v1/members/?team={world.team.id}")) == {
        world.alice.id,
        world.bob.id,
    }
    assert ids(client.get(f"/api/v1/members/?specialty={world.medical.id}")) == {world.charlie.id}
    assert ids(client.get("/api/v1/members/?sector=医药卫生界")) == {world.charlie.id}
    assert ids(client.get(f"/api/v1/teams/?specialty={world.law.id}")) == {world.team.id}
    assert ids(client.get(f"/api/v1/teams/?home_town={world.other_town.id}")) == {
        world.other_team.id
    }
    assert ids(client.get("/api/v1/teams/?search=医卫")) == {world.other_team.id}
    assert ids(client.get("/api/v1/specialties/?search=law")) == {world.law.id}


@pytest.mark.parametrize(
    "path",
    ["members/?team=x", "teams/?active=perhaps", "members/?specialty=1.5", "teams/?home_town=a"],
)
def test_bad_filters_are_400(world, client_for, path):
    assert_error(client_for(world.sam).get(f"/api/v1/{path}"), 400, errors.VALIDATION_ERROR)


# ------------------------------------------------------------------ staff writes


def test_staff_creates_a_specialty_and_refuses_duplicates(world, client_for):
    client = client_for(world.sam)
    created = client.post("/api/v1/specialties/", {"code": "fishery", "name": "海洋渔业"})
    assert created.status_code == 201, created.content
    assert Specialty.objects.filter(code="fishery", name="海洋渔业").exists()
    before = counts()
    assert_error(
        client.post("/api/v1/specialties/", {"code": "law", "name": "法务"}),
        409,
        member_errors.DUPLICATE_CODE,
    )
    assert_error(
        client.post("/api/v1/specialties/", {"code": "law2", "name": "法律"}),
        409,
        member_errors.DUPLICATE_NAME,
    )
    for bad in ("Law", "1law", "法律", "a" * 31, ""):
        body = assert_error(
            client.post("/api/v1/specialties/", {"code": bad, "name": "新专长"}),
            400,
            errors.VALIDATION_ERROR,
        )
        assert "code" in body["fields"]
    assert counts() == before


def test_staff_creates_and_edits_a_team(world, client_for):
    client = client_for(world.sam)
    response = client.post(
        "/api/v1/teams/",
        {
            "name": "金塘暖岙服务队",
            "sector": "农业和农村界",
            "home_town": world.other_town.id,
            "home_lat": 30.03,
            "home_lng": 121.88,
            "specialties": [world.law.id, world.medical.id],
            "leader": world.charlie.user.id,
        },
    )
    assert response.status_code == 201, response.content
    team = Team.objects.get(name="金塘暖岙服务队")
    assert (team.home_lat, team.home_lng, team.leader) == (30.03, 121.88, world.charlie.user)
    assert set(team.specialties.all()) == {world.law, world.medical}
    assert response.json()["member_count"] == 0
    edit = client.patch(
        f"/api/v1/teams/{team.id}/",
        {"specialties": [world.law.id], "home_lat": None, "home_lng": None},
    )
    assert edit.status_code == 200, edit.content
    team.refresh_from_db()
    assert (team.home_lat, team.home_lng) == (None, None)
    assert list(team.specialties.all()) == [world.law]
    assert Event.objects.filter(verb__startswith="team.", object_id=str(team.id)).count() == 2
    off = client.patch(f"/api/v1/teams/{team.id}/", {"active": False})
    assert off.json()["active"] is False
    assert_error(client.delete(f"/api/v1/teams/{team.id}/"), 405, errors.METHOD_NOT_ALLOWED)
    assert Team.objects.filter(pk=team.pk).exists()


def test_team_bad_input_writes_nothing(world, client_for):
    client = client_for(world.sam)
    before = counts()
    cases = [
        ({"name": "法律服务团"}, 409, member_errors.DUPLICATE_NAME),
        ({"name": "新团队", "leader": world.mary.id}, 400, member_errors.INVALID_LEADER),
        ({"name": "新团队", "home_lat": 30, "home_lng": 200}, 400, geo_errors.INVALID_COORDINATES),
        (
            {"name": "新团队", "home_lat": "abc", "home_lng": 122},
            400,
            geo_errors.INVALID_COORDINATES,
        ),
        ({"name": "新团队", "home_lat": 30}, 400, geo_errors.INVALID_COORDINATES),
        (
            {"name": "新团队", "home_lat": 51.5, "home_lng": -0.1, "coord_type": "gcj02"},
            400,
            geo_errors.OUTSIDE_CHINA,
        ),
        ({"name": "新团队", "specialties": [999999]}, 400, errors.VALIDATION_ERROR),
        ({"name": "新团队", "home_town": "x"}, 400, errors.VALIDATION_ERROR),
        ({"name": "x" * 101}, 400, errors.VALIDATION_ERROR),
        ({"sector": "法律界"}, 400, errors.VALIDATION_ERROR),
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/teams/", body)
        found = assert_error(response, status, code)
        if code == geo_errors.INVALID_COORDINATES:
            assert set(found["fields"]) <= {"home_lat", "home_lng"}
    assert counts() == before
    assert not Event.objects.exists()


def test_staff_creates_a_member_with_an_account_and_a_one_time_code(world, client_for):
    client = client_for(world.sam)
    response = client.post(
        "/api/v1/members/",
        {
            "name": "周舟",
            "phone": "139 0000 1234",
            "sector": "经济界",
            "team": world.team.id,
            "specialties": [world.law.id],
            "home_lat": 30.01,
            "home_lng": 122.1,
        },
    )
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["phone"] == "13900001234" and body["name"] == "周舟"
    code = body["activation_code"]
    assert len(code) == 8
    member = Member.objects.select_related("user").get(phone="13900001234")
    assert member.user.username == "13900001234"
    assert member.user.is_member and not member.user.has_usable_password()
    assert code not in member.activation_code_hash
    assert member.team == world.team and list(member.specialties.all()) == [world.law]
    # The member activates with the code, then logs in with phone + password.
    activated = client_for(world.alice.user).post(
        "/api/v1/members/activate/",
        {"phone": "13900001234", "code": code.lower(), "password": "Haishang-Mingyue-7"},
    )
    assert activated.status_code == 204, activated.content
    login = client.post(
        "/api/v1/auth/token/", {"username": "13900001234", "password": "Haishang-Mingyue-7"}
    )
    assert login.status_code == 200
    # The code is spent.
    again = client.post(
        "/api/v1/members/activate/",
        {"phone": "13900001234", "code": code, "password": "Another-Pass-99"},
    )
    assert_error(again, 400, member_errors.ACTIVATION_INVALID)


def test_creating_a_member_for_an_existing_account_keeps_its_password(world, client_for):
    UserFactory(username="13900005555", phone="13900005555", is_station_manager=True)
    response = client_for(world.sam).post(
        "/api/v1/members/", {"name": "马良", "phone": "13900005555"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["activation_code"] is None
    user = User.objects.get(username="13900005555")
    assert user.is_member and user.is_station_manager and user.has_usable_password()


def test_member_create_bad_input_writes_nothing(world, client_for):
    client = client_for(world.sam)
    before = counts()
    cases = [
        ({"name": "重号", "phone": "13800001111"}, 409, member_errors.PHONE_TAKEN),
        ({"name": "坏号", "phone": "12345"}, 400, errors.VALIDATION_ERROR),
        ({"name": "坏号", "phone": "23800001111"}, 400, errors.VALIDATION_ERROR),
        ({"name": "", "phone": "13900000001"}, 400, errors.VALIDATION_ERROR),
        ({"phone": "13900000001"}, 400, errors.VALIDATION_ERROR),
        ({"name": "x" * 51, "phone": "13900000001"}, 400, errors.VALIDATION_ERROR),
        ({"name": "张三", "phone": 13900000001.5}, 400, errors.VALIDATION_ERROR),
        ({"name": "张三", "phone": "13900000001", "team": 999999}, 400, errors.VALIDATION_ERROR),
        (
            {"name": "张三", "phone": "13900000001", "home_lat": float("nan"), "home_lng": 122},
            400,
            errors.PARSE_ERROR,
        ),
        (
            {"name": "张三", "phone": "13900000001", "home_lat": "NaN", "home_lng": 122},
            400,
            geo_errors.INVALID_COORDINATES,
        ),
        (
            {
                "name": "张三",
                "phone": "13900000001",
                "home_lat": 30,
                "home_lng": 122,
                "coord_type": "x",
            },
            400,
            geo_errors.UNKNOWN_COORD_TYPE,
        ),
    ]
    for body, status, code in cases:
        if code == errors.PARSE_ERROR:  # NaN is not JSON: the parser refuses it
            response = client.post(
                "/api/v1/members/",
                data='{"name": "张三", "phone": "13900000001", "home_lat": NaN, "home_lng": 122}',
                content_type="application/json",
            )
        else:
            response = client.post("/api/v1/members/", body)
        assert_error(response, status, code)
    assert counts() == before


def test_staff_edits_a_member_and_the_account_follows(world, client_for):
    alice = world.alice
    User.objects.filter(pk=alice.user.pk).update(username="13800001111")
    response = client_for(world.sam).patch(
        f"/api/v1/members/{alice.id}/",
        {"name": "王丽华", "phone": "13800009999", "team": world.other_team.id, "specialties": []},
    )
    assert response.status_code == 200, response.content
    alice.refresh_from_db()
    alice.user.refresh_from_db()
    assert (alice.name, alice.phone, alice.team) == ("王丽华", "13800009999", world.other_team)
    assert (alice.user.name, alice.user.phone, alice.user.username) == (
        "王丽华",
        "13800009999",
        "13800009999",
    )
    assert list(alice.specialties.all()) == []


def test_taking_a_member_off_the_roster_removes_the_member_role(world, client_for):
    client = client_for(world.sam)
    response = client.patch(f"/api/v1/members/{world.bob.id}/", {"active": False})
    assert response.status_code == 200
    world.bob.user.refresh_from_db()
    assert world.bob.user.is_member is False
    client.patch(f"/api/v1/members/{world.bob.id}/", {"active": True})
    world.bob.user.refresh_from_db()
    assert world.bob.user.is_member is True
    assert_error(client.delete(f"/api/v1/members/{world.bob.id}/"), 405, errors.METHOD_NOT_ALLOWED)


def test_member_phone_change_to_a_taken_number_is_refused(world, client_for):
    response = client_for(world.sam).patch(
        f"/api/v1/members/{world.alice.id}/", {"phone": "13800002222"}
    )
    assert_error(response, 409, member_errors.PHONE_TAKEN)
    world.alice.refresh_from_db()
    assert world.alice.phone == "13800001111"


@pytest.mark.parametrize("who", ["alice", "mary", "oscar", "lily"])
def test_nobody_but_staff_writes_the_roster(world, client_for, who):
    client = client_for(persona(world, who))
    before = counts()
    attempts = [
        client.post("/api/v1/specialties/", {"code": "x", "name": "x"}),
        client.patch(f"/api/v1/specialties/{world.law.id}/", {"name": "x"}),
        client.post("/api/v1/teams/", {"name": "x"}),
        client.patch(f"/api/v1/teams/{world.team.id}/", {"name": "x"}),
        client.post("/api/v1/members/", {"name": "x", "phone": "13900000001"}),
        client.patch(f"/api/v1/members/{world.alice.id}/", {"name": "x"}),
        client.post(f"/api/v1/members/{world.alice.id}/activation-code/"),
    ]
    for response in attempts:
        assert_error(response, 403, errors.PERMISSION_DENIED)
    assert counts() == before
    world.alice.refresh_from_db()
    assert world.alice.name == "王丽"


# ------------------------------------------------------------------ activation


def make_pending(world, client_for, phone="13900007777"):
    body = client_for(world.sam).post("/api/v1/members/", {"name": "候补", "phone": phone}).json()
    return Member.objects.get(pk=body["id"]), body["activation_code"]


def test_activation_refuses_wrong_code_phone_and_expired_codes(world, client_for, anon):
    member, code = make_pending(world, client_for)
    good = {"phone": member.phone, "code": code, "password": "Haishang-Mingyue-7"}
    for bad in ({"code": "ABCDEFGH"}, {"phone": "13900007778"}):
        assert_error(
            anon.post("/api/v1/members/activate/", {**good, **bad}),
            400,
            member_errors.ACTIVATION_INVALID,
        )
    # Too short (the schema's minLength), then long enough but refused by the validators.
    for password in ("123", "12345678", "password123"):
        weak = anon.post("/api/v1/members/activate/", {**good, "password": password})
        assert "password" in assert_error(weak, 400, errors.VALIDATION_ERROR)["fields"]
    Member.objects.filter(pk=member.pk).update(
        activation_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error(
        anon.post("/api/v1/members/activate/", good), 400, member_errors.ACTIVATION_INVALID
    )
    member.user.refresh_from_db()
    assert not member.user.has_usable_password()


def test_staff_reissues_a_code_and_the_old_one_stops_working(world, client_for, anon):
    member, old = make_pending(world, client_for)
    response = client_for(world.sam).post(f"/api/v1/members/{member.id}/activation-code/")
    assert response.status_code == 201
    new = response.json()["activation_code"]
    assert new != old
    base = {"phone": member.phone, "password": "Haishang-Mingyue-7"}
    assert_error(
        anon.post("/api/v1/members/activate/", {**base, "code": old}),
        400,
        member_errors.ACTIVATION_INVALID,
    )
    assert anon.post("/api/v1/members/activate/", {**base, "code": new}).status_code == 204


def test_activation_is_throttled(world, anon, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "member_activate": "2/min",
        },
    }
    body = {"phone": "13800001111", "code": "AAAAAAAA", "password": "Haishang-Mingyue-7"}
    for _ in range(2):
        anon.post("/api/v1/members/activate/", body)
    response = anon.post("/api/v1/members/activate/", body)
    assert_error(response, 429, errors.THROTTLED)
    assert response["Retry-After"]


def test_activation_of_a_deactivated_member_fails(world, client_for, anon):
    member, code = make_pending(world, client_for)
    client_for(world.sam).patch(f"/api/v1/members/{member.id}/", {"active": False})
    response = anon.post(
        "/api/v1/members/activate/",
        {"phone": member.phone, "code": code, "password": "Haishang-Mingyue-7"},
    )
    assert_error(response, 400, member_errors.ACTIVATION_INVALID)


def test_team_leader_must_be_a_member_on_update_too(world, client_for):
    response = client_for(world.sam).patch(
        f"/api/v1/teams/{world.team.id}/", {"leader": world.sam.id}
    )
    assert_error(response, 400, member_errors.INVALID_LEADER)
    world.team.refresh_from_db()
    assert world.team.leader == world.bob.user


def test_member_count_counts_active_members_only(world, client_for):
    team = TeamFactory(name="空团队")
    MemberFactory(team=team)
    MemberFactory(team=team, active=False)
    body = client_for(world.sam).get(f"/api/v1/teams/{team.id}/").json()
    assert body["member_count"] == 1


@pytest.mark.parametrize("path", ["members/", "teams/", "stations/", "villages/"])
def test_list_queries_do_not_grow_with_rows(world, client_for, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import StationFactory, VillageFactory

    client = client_for(world.sam)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/api/v1/{path}").status_code == 200
        return len(captured.captured_queries)

    small = queries()
    for _ in range(5):
        team = TeamFactory(specialties=[world.law], leader=world.alice.user)
        MemberFactory(team=team, specialties=[world.law, world.medical])
        StationFactory(town=world.town, managers=[world.mary])
        VillageFactory(town=world.town, liaisons=[world.lily])
    assert queries() == small
