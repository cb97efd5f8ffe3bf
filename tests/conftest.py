"""Shared fixtures: API clients signed in as each persona, the fake WeChat server."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests import fake_wechat
from tests.factories import UserFactory


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
