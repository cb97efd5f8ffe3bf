"""Password login, refresh rotation with blacklist, logout, bad and expired tokens, /me/."""

from __future__ import annotations

from datetime import timedelta

import jwt
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import errors
from tests.factories import PASSWORD, UserFactory
from tests.test_errors import assert_error


def login(client, username="alice", password=PASSWORD):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password})


def test_it_logs_in_with_password(anon, member_user):
    response = login(anon)
    assert response.status_code == 200
    body = response.json()
    assert {"access", "refresh", "user"} <= set(body)
    assert body["user"]["username"] == "alice"
    assert body["user"]["roles"] == ["member"]
    me = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == member_user.id


def test_it_refuses_wrong_password(anon, member_user):
    assert_error(login(anon, password="nope"), 401, errors.INVALID_CREDENTIALS)


def test_it_refuses_inactive_user(anon, db):
    UserFactory(username="gone", is_active=False)
    assert_error(login(anon, username="gone"), 401, errors.INVALID_CREDENTIALS)


def test_it_refuses_missing_fields(anon, db):
    response = anon.post("/api/v1/auth/token/", {"username": "alice"})
    body = assert_error(response, 400, errors.VALIDATION_ERROR)
    assert "password" in body["fields"]


def test_it_rotates_refresh_and_blacklists_the_old_one(anon, member_user):
    first = login(anon).json()
    rotated = anon.post("/api/v1/auth/token/refresh/", {"refresh": first["refresh"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh"] != first["refresh"]
    assert BlacklistedToken.objects.filter(token__token=first["refresh"]).exists()
    reused = anon.post("/api/v1/auth/token/refresh/", {"refresh": first["refresh"]})
    assert_error(reused, 401, errors.TOKEN_NOT_VALID)
    again = anon.post("/api/v1/auth/token/refresh/", {"refresh": new["refresh"]})
    assert again.status_code == 200


def test_it_logs_out_by_blacklisting_refresh(anon, client_for, member_user):
    tokens = login(anon).json()
    response = client_for(member_user).post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
    assert response.status_code == 204
    after = anon.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert_error(after, 401, errors.TOKEN_NOT_VALID)


def test_logout_needs_sign_in(anon, member_user):
    tokens = login(anon).json()
    response = anon.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
    assert_error(response, 401, errors.NOT_AUTHENTICATED)
    assert not BlacklistedToken.objects.exists()


def test_logout_refuses_garbage_token(client_for, member_user):
    response = client_for(member_user).post("/api/v1/auth/logout/", {"refresh": "abc.def.ghi"})
    assert_error(response, 401, errors.TOKEN_NOT_VALID)


def test_it_refuses_expired_access_token(anon, member_user):
    token = AccessToken.for_user(member_user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 401, errors.TOKEN_NOT_VALID)


def test_it_refuses_forged_access_token(anon, member_user):
    claims = dict(AccessToken.for_user(member_user).payload)
    forged = jwt.encode(claims, "not-the-server-key-but-long-enough-for-hs256", algorithm="HS256")
    response = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_error(response, 401, errors.TOKEN_NOT_VALID)


def test_it_refuses_refresh_token_as_access(anon, member_user):
    refresh = RefreshToken.for_user(member_user)
    response = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {refresh}")
    assert_error(response, 401, errors.TOKEN_NOT_VALID)


def test_it_throttles_login(anon, member_user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "3/min", "wechat_login": "3/min"},
    }
    statuses = [login(anon).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_me_lists_every_role_of_a_user(client_for, db):
    user = UserFactory(is_member=True, is_station_manager=True, is_staff=True)
    body = client_for(user).get("/api/v1/me/").json()
    assert body["roles"] == ["member", "station_manager", "staff"]
    assert body["points_total"] == 0
    assert "password" not in body["user"]


def test_token_lifetimes_are_short(settings):
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] <= timedelta(minutes=30)
    assert settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] <= timedelta(days=14)
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"]
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"]
