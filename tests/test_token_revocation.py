"""Access tokens end with their session: at logout (that session) and at a password change
(every session of the user). See accounts/tokens.py."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import errors, tokens
from accounts.authentication import SessionJWTAuthentication
from accounts.models import TokenState, User
from tests import fake_wechat
from tests.factories import PASSWORD, UserFactory
from tests.test_errors import assert_error

LOGIN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"


@pytest.fixture(autouse=True)
def _no_login_throttle(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "100000/min"},
    }


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", is_member=True)


def login(user, password=PASSWORD) -> dict:
    response = APIClient().post(LOGIN, {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def me(access: str):
    return APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def logout(access: str, token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post(LOGOUT, {"refresh": token}, format="json")


def revoked(response) -> None:
    body = assert_error(response, 401, errors.TOKEN_NOT_VALID)
    assert body["detail"] == "登录凭证无效或已过期，请重新登录。"
    assert response.has_header("WWW-Authenticate")


def change_password(user: User, new: str = "Haishang-Mingyue-7") -> None:
    user = User.objects.get(pk=user.pk)
    user.set_password(new)
    user.save(update_fields=["password"])  # as members.writes.member_activate saves it


# ---------------------------------------------------------------- what a token carries


def test_every_login_mints_a_session_with_the_users_version(alice, wechat):
    first = login(alice)
    second = login(alice)
    claims = [AccessToken(first["access"]), RefreshToken(first["refresh"], verify=False)]
    assert {c["ver"] for c in claims} == {0}
    assert claims[0]["sid"] == claims[1]["sid"]
    assert AccessToken(second["access"])["sid"] != claims[0]["sid"]

    bound = APIClient().post(
        "/api/v1/auth/wechat/",
        {"code": fake_wechat.ok("openid-alice"), "username": "alice", "password": PASSWORD},
    )
    assert bound.status_code == 200, bound.content
    wechat_access = AccessToken(bound.json()["access"])
    assert wechat_access["ver"] == 0 and wechat_access["sid"] != claims[0]["sid"]


def test_rotation_keeps_the_session_and_version(alice):
    first = login(alice)
    rotated = refresh(first["refresh"]).json()
    sid = AccessToken(first["access"])["sid"]
    assert AccessToken(rotated["access"])["sid"] == sid
    assert RefreshToken(rotated["refresh"], verify=False)["sid"] == sid
    assert AccessToken(rotated["access"])["ver"] == 0


# ---------------------------------------------------------------- logout: that session


def test_logout_ends_the_sessions_access_and_refresh_tokens(alice):
    tokens_ = login(alice)
    rotated = refresh(tokens_["refresh"]).json()
    assert me(tokens_["access"]).status_code == 200

    assert logout(rotated["access"], rotated["refresh"]).status_code == 204

    revoked(me(tokens_["access"]))  # minted before the rotation, same session
    revoked(me(rotated["access"]))
    revoked(refresh(rotated["refresh"]))


def test_logout_on_one_phone_leaves_the_other_signed_in(alice):
    phone = login(alice)
    other_phone = login(alice)

    assert logout(phone["access"], phone["refresh"]).status_code == 204

    revoked(me(phone["access"]))
    assert me(other_phone["access"]).status_code == 200
    again = refresh(other_phone["refresh"])
    assert again.status_code == 200
    assert me(again.json()["access"]).status_code == 200


def test_a_second_logout_with_the_same_token_is_token_not_valid(alice):
    phone = login(alice)
    other_phone = login(alice)
    assert logout(phone["access"], phone["refresh"]).status_code == 204
    # Signed in elsewhere, the same (spent) token names an ended session.
    revoked(logout(other_phone["access"], phone["refresh"]))
    assert me(other_phone["access"]).status_code == 200


def test_logout_with_a_rotated_away_token_still_ends_the_session(alice):
    """A logout racing a refresh (or a stolen token refreshed first) still ends the session."""
    first = login(alice)
    rotated = refresh(first["refresh"]).json()

    assert logout(rotated["access"], first["refresh"]).status_code == 204

    revoked(refresh(rotated["refresh"]))
    revoked(me(rotated["access"]))


def test_logout_refuses_another_users_token(alice):
    bob = UserFactory(username="bob")
    mine, bobs = login(alice), login(bob)
    response = logout(mine["access"], bobs["refresh"])
    assert_error(response, 403, errors.PERMISSION_DENIED)
    assert me(bobs["access"]).status_code == 200


def test_logout_refuses_an_access_token_as_refresh(alice):
    tokens_ = login(alice)
    revoked(logout(tokens_["access"], tokens_["access"]))
    assert me(tokens_["access"]).status_code == 200


def test_logout_with_a_token_without_session_ends_every_session(alice):
    """Tokens minted by plain simplejwt (or before sessions had ids) carry no ``sid``."""
    legacy = RefreshToken.for_user(alice)
    session = login(alice)
    assert me(str(legacy.access_token)).status_code == 200

    assert logout(session["access"], str(legacy)).status_code == 204

    revoked(me(str(legacy.access_token)))
    revoked(me(session["access"]))
    assert TokenState.objects.get(user=alice).version == 1
    assert me(login(alice)["access"]).status_code == 200


def test_refreshing_a_token_without_session_gives_it_one(alice):
    legacy = RefreshToken.for_user(alice)
    rotated = refresh(str(legacy)).json()
    assert AccessToken(rotated["access"])["sid"]
    assert AccessToken(rotated["access"])["ver"] == 0


def test_ended_sessions_are_forgotten_after_a_refresh_lifetime(alice, settings):
    old = login(alice)
    assert logout(old["access"], old["refresh"]).status_code == 204
    state = TokenState.objects.get(user=alice)
    (until,) = state.ended_sessions.values()
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()
    assert until >= time.time() + lifetime
    state.ended_sessions = {"gone": int(time.time()) - 1, **state.ended_sessions}
    state.save()

    new = login(alice)
    assert logout(new["access"], new["refresh"]).status_code == 204

    ended = TokenState.objects.get(user=alice).ended_sessions
    assert "gone" not in ended and len(ended) == 2


def test_too_many_ended_sessions_end_them_all(alice, monkeypatch):
    monkeypatch.setattr(tokens, "MAX_ENDED_SESSIONS", 2)
    sessions = [login(alice) for _ in range(4)]
    for session in sessions[:2]:
        assert logout(session["access"], session["refresh"]).status_code == 204
    assert me(sessions[3]["access"]).status_code == 200

    assert logout(sessions[2]["access"], sessions[2]["refresh"]).status_code == 204

    revoked(me(sessions[3]["access"]))
    state = TokenState.objects.get(user=alice)
    assert state.version == 1 and state.ended_sessions == {}


# ---------------------------------------------------------------- password change: all sessions


def test_a_password_change_ends_every_session(alice):
    phone, desk = login(alice), login(alice)
    bob = UserFactory(username="bob")
    bobs = login(bob)

    change_password(alice)

    for session in (phone, desk):
        revoked(me(session["access"]))
        revoked(refresh(session["refresh"]))
        revoked(logout(login(alice, "Haishang-Mingyue-7")["access"], session["refresh"]))
    assert_error(
        APIClient().post(LOGIN, {"username": "alice", "password": PASSWORD}),
        401,
        errors.INVALID_CREDENTIALS,
    )
    fresh = login(alice, "Haishang-Mingyue-7")
    assert me(fresh["access"]).status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200
    # Other users are unaffected.
    assert me(bobs["access"]).status_code == 200
    assert refresh(bobs["refresh"]).status_code == 200


def test_a_password_change_ends_plain_simplejwt_tokens_too(alice, client_for):
    client = client_for(alice)  # tests/conftest.py: a token without ver/sid
    assert client.get(ME).status_code == 200
    change_password(alice)
    revoked(client.get(ME))


def test_a_full_save_after_set_password_ends_sessions(alice):
    session = login(alice)
    user = User.objects.get(pk=alice.pk)
    user.set_password("Haishang-Mingyue-7")
    user.save()
    revoked(me(session["access"]))


def test_disabling_the_password_ends_sessions(alice):
    session = login(alice)
    user = User.objects.get(pk=alice.pk)
    user.set_unusable_password()
    user.save()
    revoked(me(session["access"]))


def test_the_admins_password_form_ends_sessions(alice, client):
    session = login(alice)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    new = "Haishang-Mingyue-7"
    response = client.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    revoked(me(session["access"]))
    assert me(login(alice, new)["access"]).status_code == 200


def test_a_first_password_ends_nothing(db):
    """Activation sets the first password of an account created without one."""
    user = User(username="13900001234", is_member=True)
    user.set_unusable_password()
    user.save()
    wechat_access = str(RefreshToken.for_user(user).access_token)
    user.set_password("Haishang-Mingyue-7")
    user.save(update_fields=["password"])
    assert not TokenState.objects.filter(user=user).exists()
    assert me(wechat_access).status_code == 200


def test_a_hash_upgrade_at_login_ends_nothing(alice, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    pbkdf2 = make_password(PASSWORD, hasher="pbkdf2_sha256")
    User.objects.filter(pk=alice.pk).update(password=pbkdf2)
    legacy = str(RefreshToken.for_user(alice).access_token)

    login(alice)  # check_password rehashes with MD5 and saves

    assert User.objects.get(pk=alice.pk).password.startswith("md5$")
    assert me(legacy).status_code == 200
    assert not TokenState.objects.filter(user=alice).exists()


# ---------------------------------------------------------------- what a request costs


def _auth_request(access: str):
    return APIRequestFactory().get(ME, HTTP_AUTHORIZATION=f"Bearer {access}")


def test_authentication_makes_one_query_as_simplejwts_does(alice):
    access = login(alice)["access"]
    for auth in (JWTAuthentication(), SessionJWTAuthentication()):
        with CaptureQueriesContext(connection) as queries:
            user, _token = auth.authenticate(_auth_request(access))
        assert user == alice
        assert len(queries) == 1, [q["sql"] for q in queries]


def test_a_revocation_is_seen_by_the_next_request(alice):
    """Nothing is cached: the state is read with the user on every request."""
    session = login(alice)
    auth = SessionJWTAuthentication()
    assert auth.authenticate(_auth_request(session["access"]))[0] == alice
    TokenState.end_all(user_id=alice.pk)  # e.g. another worker changed the password
    with pytest.raises(Exception) as caught:
        auth.authenticate(_auth_request(session["access"]))
    assert caught.type.__name__ == "InvalidToken"


# ---------------------------------------------------------------- refresh edge cases


def test_refresh_of_a_deleted_users_token_is_token_not_valid(alice):
    session = login(alice)
    alice.delete()
    revoked(refresh(session["refresh"]))


def test_refresh_of_an_inactive_users_token_is_refused(alice):
    session = login(alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert_error(refresh(session["refresh"]), 401, errors.INVALID_CREDENTIALS)
