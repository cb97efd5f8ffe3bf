"""Personal data (PIPL): phones, names and homes are shown in full only to those allowed."""

from __future__ import annotations

import pytest

from members.pii import mask_name, mask_phone


def by_id(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812341234", "138****1234"), ("", ""), ("0580123456", "******3456"), ("12345", "*****")],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"), [("王丽", "王*"), ("欧阳娜娜", "欧***"), ("李", "*"), ("", "")]
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_a_member_sees_themself_in_full_and_others_masked(world, client_for):
    rows = by_id(client_for(world.alice.user).get("/api/v1/members/"))
    me = rows[world.alice.id]
    assert (me["name"], me["phone"]) == ("王丽", "13800001111")
    assert (me["home_lat"], me["home_lng"]) == (world.alice.home_lat, world.alice.home_lng)
    bob = rows[world.bob.id]
    assert (bob["name"], bob["phone"]) == ("鲍*", "138****2222")
    assert (bob["home_lat"], bob["home_lng"]) == (None, None)
    charlie = client_for(world.alice.user).get(f"/api/v1/members/{world.charlie.id}/").json()
    assert (charlie["name"], charlie["phone"], charlie["home_lat"]) == ("陈*", "138****3333", None)


@pytest.mark.parametrize("who", ["mary", "oscar"])
def test_managers_see_full_names_but_masked_phones_and_no_homes(world, client_for, who):
    rows = by_id(client_for(getattr(world, who)).get("/api/v1/members/"))
    bob = rows[world.bob.id]
    assert (bob["name"], bob["phone"], bob["home_lat"]) == ("鲍勃", "138****2222", None)


@pytest.mark.parametrize("who", ["lily", "leo"])
def test_liaisons_see_everything_masked(world, client_for, who):
    rows = by_id(client_for(getattr(world, who)).get("/api/v1/members/"))
    for member, name, phone in (
        (world.alice, "王*", "138****1111"),
        (world.charlie, "陈*", "138****3333"),
    ):
        assert (rows[member.id]["name"], rows[member.id]["phone"]) == (name, phone)
        assert rows[member.id]["home_lng"] is None


def test_staff_see_everything(world, client_for):
    rows = by_id(client_for(world.sam).get("/api/v1/members/"))
    bob = rows[world.bob.id]
    assert (bob["name"], bob["phone"], bob["home_lat"]) == (
        "鲍勃",
        "13800002222",
        world.bob.home_lat,
    )


def test_team_leaders_are_masked_by_the_same_rule(world, client_for):
    def leader(user):
        return client_for(user).get(f"/api/v1/teams/{world.team.id}/").json()["leader"]

    assert leader(world.alice.user) == {
        "id": world.bob.user.id,
        "name": "鲍*",
        "phone": "138****2222",
    }
    assert leader(world.bob.user) == {
        "id": world.bob.user.id,
        "name": "鲍勃",
        "phone": "13800002222",
    }
    assert leader(world.mary) == {"id": world.bob.user.id, "name": "鲍勃", "phone": "138****2222"}
    assert leader(world.lily)["name"] == "鲍*"
    assert leader(world.sam) == {"id": world.bob.user.id, "name": "鲍勃", "phone": "13800002222"}


def test_search_cannot_unmask_names_or_phones(world, client_for):
    def found(user, term):
        return set(by_id(client_for(user).get("/api/v1/members/", {"search": term})))

    assert found(world.alice.user, "鲍勃") == set()
    assert found(world.alice.user, "13800002222") == set()
    assert found(world.alice.user, "医卫") == {world.charlie.id}  # team names are public
    assert found(world.mary, "鲍勃") == {world.bob.id}
    assert found(world.mary, "13800002222") == set()
    assert found(world.sam, "13800002222") == {world.bob.id}
    assert found(world.sam, "2222") == {world.bob.id}


def test_me_shows_the_own_profile_unmasked(world, client_for):
    body = client_for(world.alice.user).get("/api/v1/me/").json()
    assert body["member"]["name"] == "王丽"
    assert body["member"]["phone"] == "13800001111"
    assert "activation_code_hash" not in body["member"]


# ---------------------------------------------------------------- who posted, who rejected


def test_the_poster_of_a_request_is_masked_to_members(world, client_for):
    """created_by follows the name rule: full to staff, managers and the poster; 马* to members."""
    from tests.factories import ServiceRequestFactory

    posted = ServiceRequestFactory(station=world.station, created_by=world.lily, title="修路")
    url = f"/api/v1/requests/{posted.pk}/"
    seen = {
        who: client_for(user).get(url).json()["created_by"]["name"]
        for who, user in {
            "member": world.alice.user,
            "poster": world.lily,
            "manager": world.mary,
            "other manager": world.oscar,
            "staff": world.sam,
        }.items()
    }
    assert seen == {
        "member": "李*",
        "poster": "李莉",
        "manager": "李莉",
        "other manager": "李莉",
        "staff": "李莉",
    }
    listed = client_for(world.alice.user).get("/api/v1/requests/").json()["results"]
    assert {row["created_by"]["name"] for row in listed if row["id"] == posted.pk} == {"李*"}
