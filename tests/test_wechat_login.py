"""WeChat mini-program login against a real local code2session server."""

from __future__ import annotations

import pytest

from accounts import errors
from accounts.models import Event, User
from tests import fake_wechat
from tests.factories import PASSWORD, UserFactory
from tests.test_errors import assert_error

URL = "/api/v1/auth/wechat/"


def test_first_login_without_credentials_is_unbound(anon, wechat, member_user):
    response = anon.post(URL, {"code": fake_wechat.ok("openid-alice")})
    assert_error(response, 401, errors.WECHAT_UNBOUND)
    assert not User.objects.filter(wechat_openid="openid-alice").exists()


def test_first_login_with_credentials_binds_then_code_alone_signs_in(anon, wechat, member_user):
    response = anon.post(
        URL, {"code": fake_wechat.ok("openid-alice"), "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["wechat_bound"] is True
    assert "session_key" not in response.content.decode()
    member_user.refresh_from_db()
    assert member_user.wechat_openid == "openid-alice"
    assert Event.objects.filter(verb="wechat_bound", object_id=str(member_user.pk)).count() == 1

    again = anon.post(URL, {"code": fake_wechat.ok("openid-alice")})
    assert again.status_code == 200
    assert again.json()["user"]["id"] == member_user.id
    me = anon.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {again.json()['access']}")
    assert me.json()["user"]["username"] == "alice"


def test_it_sends_appid_secret_and_code_to_wechat(anon, wechat, member_user):
    anon.post(URL, {"code": fake_wechat.ok("x1")})
    assert wechat.requests[-1] == {
        "appid": fake_wechat.APPID,
        "secret": fake_wechat.SECRET,
        "js_code": "ok:x1",
        "grant_type": "authorization_code",
    }


@pytest.mark.parametrize("extra", [{"username": "alice"}, {"password": PASSWORD}])
def test_username_and_password_come_together(anon, wechat, member_user, extra):
    response = anon.post(URL, {"code": fake_wechat.ok("openid-alice"), **extra})
    assert_error(response, 400, errors.VALIDATION_ERROR)
    member_user.refresh_from_db()
    assert member_user.wechat_openid is None


def test_wrong_password_binds_nothing(anon, wechat, member_user):
    response = anon.post(
        URL, {"code": fake_wechat.ok("openid-alice"), "username": "alice", "password": "nope"}
    )
    assert_error(response, 401, errors.INVALID_CREDENTIALS)
    member_user.refresh_from_db()
    assert member_user.wechat_openid is None


def test_an_openid_binds_to_one_account_only(anon, wechat, member_user):
    UserFactory(username="bob", is_member=True)
    code = fake_wechat.ok("openid-shared")
    assert (
        anon.post(URL, {"code": code, "username": "alice", "password": PASSWORD}).status_code == 200
    )
    response = anon.post(URL, {"code": code, "username": "bob", "password": PASSWORD})
    assert_error(response, 409, errors.WECHAT_ALREADY_BOUND)
    assert User.objects.get(username="bob").wechat_openid is None


def test_an_account_binds_to_one_openid_only(anon, wechat, member_user):
    first = {"code": fake_wechat.ok("openid-1"), "username": "alice", "password": PASSWORD}
    assert anon.post(URL, first).status_code == 200
    second = {"code": fake_wechat.ok("openid-2"), "username": "alice", "password": PASSWORD}
    assert_error(anon.post(URL, second), 409, errors.WECHAT_ALREADY_BOUND)
    member_user.refresh_from_db()
    assert member_user.wechat_openid == "openid-1"


def test_username_without_password_is_a_validation_error(anon, wechat, db):
    response = anon.post(URL, {"code": fake_wechat.ok("x"), "username": "alice"})
    assert_error(response, 400, errors.VALIDATION_ERROR)
    assert wechat.requests == []


def test_missing_code_is_a_validation_error(anon, wechat, db):
    body = assert_error(anon.post(URL, {}), 400, errors.VALIDATION_ERROR)
    assert "code" in body["fields"]


def test_oversized_code_is_refused_before_calling_wechat(anon, wechat, db):
    assert_error(anon.post(URL, {"code": "x" * 500}), 400, errors.VALIDATION_ERROR)
    assert wechat.requests == []


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        (fake_wechat.CODE_INVALID, 401, errors.WECHAT_CODE_INVALID),
        (fake_wechat.CODE_USED, 401, errors.WECHAT_CODE_INVALID),
        (fake_wechat.CODE_RATE_LIMITED, 429, errors.WECHAT_RATE_LIMITED),
        (fake_wechat.CODE_BLOCKED, 403, errors.WECHAT_USER_BLOCKED),
        (fake_wechat.CODE_BUSY, 503, errors.WECHAT_UNAVAILABLE),
        (fake_wechat.CODE_NOT_JSON, 503, errors.WECHAT_UNAVAILABLE),
        (fake_wechat.CODE_SERVER_ERROR, 503, errors.WECHAT_UNAVAILABLE),
        (fake_wechat.CODE_NO_OPENID, 503, errors.WECHAT_UNAVAILABLE),
        (fake_wechat.CODE_SLOW, 503, errors.WECHAT_UNAVAILABLE),
    ],
)
def test_wechat_errors_map_to_statuses(anon, wechat, member_user, code, status, error_code):
    response = anon.post(URL, {"code": code, "username": "alice", "password": PASSWORD})
    assert_error(response, status, error_code)
    if status == 429:
        assert int(response["Retry-After"]) > 0
    member_user.refresh_from_db()
    assert member_user.wechat_openid is None


def test_unreachable_wechat_is_503(anon, settings, db):
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    assert_error(anon.post(URL, {"code": "ok:x"}), 503, errors.WECHAT_UNAVAILABLE)


def test_unconfigured_wechat_is_503(anon, settings, db):
    settings.WECHAT_APPID = ""
    assert_error(anon.post(URL, {"code": "ok:x"}), 503, errors.WECHAT_UNAVAILABLE)


def test_secret_and_session_key_never_reach_the_log(anon, wechat, member_user, caplog):
    caplog.set_level("DEBUG")
    anon.post(URL, {"code": fake_wechat.ok("o"), "username": "alice", "password": PASSWORD})
    anon.post(URL, {"code": fake_wechat.CODE_BUSY})
    anon.post(URL, {"code": fake_wechat.CODE_NOT_JSON})
    # The fake server's own access log (werkzeug) shows the URL it was sent; ours must not.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "code2session" in ours
    assert fake_wechat.SECRET not in ours
    assert "SESSION-KEY-SECRET" not in ours


def test_wechat_login_is_throttled(anon, wechat, settings, db):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "100/min", "wechat_login": "2/min"},
    }
    statuses = [anon.post(URL, {"code": fake_wechat.CODE_INVALID}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
