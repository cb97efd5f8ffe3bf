"""Shared fixtures: API clients signed in as each persona, the fake WeChat server."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests import contract_codes, fake_wechat
from tests.factories import (
    MemberFactory,
    SpecialtyFactory,
    StationFactory,
    TeamFactory,
    TownFactory,
    UserFactory,
    VillageFactory,
)


def pytest_configure(config):
    # Records (operation, status, code) of every error response; tests/contract_codes.py.
    contract_codes.install()


def pytest_sessionfinish(session, exitstatus):
    # The whole suite fails when a documented error code was produced by no test.
    contract_codes.finish(session)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters and cached tokens live in the cache: no test sees another's.
    cache.clear()
    yield
    cache.clear()


def bearer(user) -> str:
    """A real access token for ``user``."""
    return f"Bearer {RefreshToken.for_user(user).access_token}"


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)`` → an APIClient sending that user's access token."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make


@pytest.fixture
def member_user(db):
    return UserFactory(username="alice", name="王丽", is_member=True)


@pytest.fixture
def staff_user(db):
    return UserFactory(username="sam", name="沈明", is_staff=True)


@pytest.fixture
def manager_user(db):
    return UserFactory(username="mary", name="马芸", is_station_manager=True)


@pytest.fixture
def liaison_user(db):
    return UserFactory(username="lily", name="李莉", is_village_liaison=True)


@pytest.fixture
def wechat(httpserver, settings) -> fake_wechat.FakeWechat:
    """A local code2session server, and settings pointing at it."""
    settings.WECHAT_APPID = fake_wechat.APPID
    settings.WECHAT_SECRET = fake_wechat.SECRET
    settings.WECHAT_API_BASE = httpserver.url_for("").rstrip("/")
    settings.WECHAT_TIMEOUT = 0.5
    fake = fake_wechat.FakeWechat(server=httpserver, slow_seconds=1.5)
    fake.install()
    return fake


class World:
    """The personas of STYLE.md §6 and the places they belong to.

    - ``town``/``station``/``village``: "this" station (managed by mary) and a village it
      serves (liaison lily); ``other_town``/``other_station``/``other_village``: elsewhere
      (managed by oscar, liaison leo).
    - ``team`` (law, members alice and bob, led by bob); ``other_team`` (medical, charlie).
    - ``staff`` (sam).
    """

    def __init__(self) -> None:
        self.law = SpecialtyFactory(code="law", name="法律")
        self.medical = SpecialtyFactory(code="medical", name="医疗卫生")
        self.town = TownFactory(name="昌国街道", lat=30.020, lng=122.105)
        self.other_town = TownFactory(name="金塘镇", lat=30.020, lng=121.890)

        self.mary = UserFactory(username="mary", name="马芸", is_station_manager=True)
        self.oscar = UserFactory(username="oscar", name="欧阳", is_station_manager=True)
        self.station = StationFactory(
            name="昌国协商驿站", town=self.town, lat=30.020, lng=122.105, managers=[self.mary]
        )
        self.other_station = StationFactory(
            name="金塘委员工作室",
            kind="workstation",
            town=self.other_town,
            lat=30.020,
            lng=121.890,
            managers=[self.oscar],
        )

        self.lily = UserFactory(username="lily", name="李莉", is_village_liaison=True)
        self.leo = UserFactory(username="leo", name="刘磊", is_village_liaison=True)
        self.village = VillageFactory(
            name="新螺头村", town=self.town, station=self.station, liaisons=[self.lily]
        )
        self.other_village = VillageFactory(
            name="大鹏岛村",
            kind="island",
            remote=True,
            town=self.other_town,
            station=self.other_station,
            liaisons=[self.leo],
        )

        self.team = TeamFactory(
            name="法律服务团",
            home_town=self.town,
            home_lat=30.02,
            home_lng=122.10,
            specialties=[self.law],
        )
        self.other_team = TeamFactory(
            name="医卫服务团",
            sector="医药卫生界",
            home_town=self.other_town,
            home_lat=30.02,
            home_lng=121.89,
            specialties=[self.medical],
        )
        self.alice = MemberFactory(
            user=UserFactory(username="alice", name="王丽", phone="13800001111", is_member=True),
            team=self.team,
            specialties=[self.law],
        )
        self.bob = MemberFactory(
            user=UserFactory(username="bob", name="鲍勃", phone="13800002222", is_member=True),
            team=self.team,
            specialties=[self.law],
        )
        self.team.leader = self.bob.user
        self.team.save(update_fields=["leader"])
        self.charlie = MemberFactory(
            user=UserFactory(username="charlie", name="陈晨", phone="13800003333", is_member=True),
            team=self.other_team,
            sector="医药卫生界",
            specialties=[self.medical],
        )
        self.sam = UserFactory(username="sam", name="沈明", is_staff=True)


@pytest.fixture
def world(db) -> World:
    return World()
