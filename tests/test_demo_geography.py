"""seed_demo builds Dinghai District's geography and roster, fast and idempotently."""

from __future__ import annotations

import time
from io import StringIO

from django.core.management import call_command

from accounts.demo import DEMO_PASSWORD
from accounts.models import User
from members.models import Member, Specialty, Team
from stations.models import Station, Town, Village

TOWNS = {
    "昌国街道", "环南街道", "城东街道", "盐仓街道", "临城街道", "千岛街道", "岑港街道",
    "马岙街道", "双桥街道", "小沙街道", "金塘镇", "白泉镇", "干览镇",
}  # fmt: skip


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def totals() -> dict[str, int]:
    return {
        "towns": Town.objects.count(),
        "villages": Village.objects.count(),
        "stations": Station.objects.count(),
        "specialties": Specialty.objects.count(),
        "teams": Team.objects.count(),
        "members": Member.objects.count(),
        "users": User.objects.count(),
        "managers": Station.managers.through.objects.count(),
        "liaisons": Village.liaisons.through.objects.count(),
        "team_specialties": Team.specialties.through.objects.count(),
        "member_specialties": Member.specialties.through.objects.count(),
    }


def test_seed_demo_builds_the_district(db):
    started = time.monotonic()
    output = seed()
    assert time.monotonic() - started < 15
    assert set(Town.objects.values_list("name", flat=True)) == TOWNS
    assert set(Town.objects.values_list("code", flat=True)) == {""}  # never invented
    assert Town.objects.filter(kind="town").count() == 3
    for town in Town.objects.all():
        assert 29.9 < town.lat < 30.2 and 121.8 < town.lng < 122.3
    assert Station.objects.filter(kind="workstation").count() == 11
    assert Station.objects.filter(kind="consultation").count() >= 8
    assert Village.objects.count() >= 45
    remote = Village.objects.filter(remote=True)
    assert remote.filter(kind="island").count() >= 5
    assert remote.filter(kind="fishing_village").exists()
    assert not Village.objects.filter(station__isnull=True).exists()
    assert Specialty.objects.count() == 12
    assert {"法律", "医疗卫生", "科技农技", "海洋渔业"} <= set(
        Specialty.objects.values_list("name", flat=True)
    )
    assert Team.objects.count() >= 30
    assert not Team.objects.filter(leader__isnull=True).exists()
    assert Member.objects.count() >= 180
    phones = Member.objects.exclude(user__username="demo_member").values_list("phone", flat=True)
    assert all(phone.startswith("1390000") for phone in phones)
    assert "驿站/工作室 21" in output


def test_seed_demo_twice_duplicates_nothing_and_is_deterministic(db):
    seed()
    first = totals()
    names = list(Member.objects.order_by("phone").values_list("phone", "name", "team__name"))
    seed()
    assert totals() == first
    assert (
        list(Member.objects.order_by("phone").values_list("phone", "name", "team__name")) == names
    )


def test_demo_logins_belong_to_the_demo_data(db, anon):
    seed()
    manager = User.objects.get(username="demo_manager")
    liaison = User.objects.get(username="demo_liaison")
    member = User.objects.get(username="demo_member")
    station = Station.objects.get(managers=manager)
    village = Village.objects.get(liaisons=liaison)
    assert village.station == station
    assert member.member_profile.team is not None

    token = anon.post(
        "/api/v1/auth/token/", {"username": "demo_manager", "password": DEMO_PASSWORD}
    ).json()["access"]
    me = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [s["id"] for s in me["stations_managed"]] == [station.id]
    token = anon.post(
        "/api/v1/auth/token/", {"username": "demo_member", "password": DEMO_PASSWORD}
    ).json()["access"]
    me = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert me["team"]["id"] == member.member_profile.team_id
    # The demo roster's accounts cannot sign in: no usable password.
    assert not User.objects.get(username="13900000001").has_usable_password()
