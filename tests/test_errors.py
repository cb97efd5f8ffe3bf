"""Every error response has one shape: {code, detail, fields?}, details in Chinese."""

from __future__ import annotations

import re

import pytest

from accounts import errors

CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_error(response, status: int, code: str) -> dict:
    """The response is an error of ``status`` and ``code`` in the one shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and CJK.search(body["detail"]), body
    return body


def test_it_shapes_400_with_fields(client_for, member_user):
    response = client_for(member_user).post("/api/v1/auth/logout/", {"refresh": ""}, format="json")
    body = assert_error(response, 400, errors.VALIDATION_ERROR)
    assert "refresh" in body["fields"]
    assert all(isinstance(m, str) for m in body["fields"]["refresh"])


def test_it_shapes_malformed_json(client_for, member_user):
    response = client_for(member_user).post(
        "/api/v1/auth/logout/", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, errors.PARSE_ERROR)


def test_it_shapes_401_without_token(anon, db):
    response = anon.get("/api/v1/me/")
    assert_error(response, 401, errors.NOT_AUTHENTICATED)
    assert "WWW-Authenticate" in response


def test_it_shapes_403(client_for, member_user, staff_user):
    from rest_framework_simplejwt.tokens import RefreshToken

    others = str(RefreshToken.for_user(staff_user))
    response = client_for(member_user).post("/api/v1/auth/logout/", {"refresh": others})
    assert_error(response, 403, errors.PERMISSION_DENIED)


def test_it_shapes_404_for_unknown_url(anon, db):
    assert_error(anon.get("/api/v1/no-such-thing/"), 404, errors.NOT_FOUND)


def test_it_shapes_405(client_for, member_user):
    assert_error(client_for(member_user).delete("/api/v1/me/"), 405, errors.METHOD_NOT_ALLOWED)


def test_it_shapes_413_for_oversized_body(client_for, member_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    big = '{"refresh": "' + "x" * 5000 + '"}'
    response = client_for(member_user).post(
        "/api/v1/auth/logout/", data=big, content_type="application/json"
    )
    assert_error(response, 413, errors.REQUEST_TOO_LARGE)


def test_it_shapes_415_for_wrong_content_type(client_for, member_user):
    response = client_for(member_user).post(
        "/api/v1/auth/logout/", data="refresh=x", content_type="text/plain"
    )
    assert_error(response, 415, errors.UNSUPPORTED_MEDIA_TYPE)


def test_it_shapes_429_with_retry_after(anon, member_user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "2/min", "wechat_login": "2/min"},
    }
    for _ in range(2):
        anon.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    response = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    assert_error(response, 429, errors.THROTTLED)
    assert int(response["Retry-After"]) > 0


@pytest.mark.urls("tests.urls")
def test_it_shapes_500_without_leaking(anon, db):
    response = anon.get("/boom/")
    body = assert_error(response, 500, errors.SERVER_ERROR)
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in body["detail"]


def test_it_answers_json_error_outside_the_api(anon, db):
    response = anon.get("/nowhere")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, errors.NOT_FOUND)
