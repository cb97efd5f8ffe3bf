"""One refresh token, one use: parallel refreshes and logouts of one token under real
concurrency (threads released together by a barrier, real transactions, on whichever database
the suite runs: SQLite file in WAL mode, or PostgreSQL)."""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import errors
from tests.factories import PASSWORD, UserFactory
from tests.test_claim_concurrency import run_together
from tests.test_errors import CJK

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
PARALLEL = 30


@pytest.fixture(autouse=True)
def _no_login_throttle(settings):
    """30 refreshes from one address would meet the login throttle first (10/min)."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "100000/min"},
    }


def post(client, url: str, data: dict):
    """A call for ``run_together``: ``(status, body)``, the body ``None`` when there is none."""

    def call():
        response = client.post(url, data, format="json")
        return response.status_code, (response.json() if response.content else None)

    return call


def _login(user) -> dict:
    response = APIClient().post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def _assert_token_not_valid(results, status: int = 401) -> None:
    for code, body in results:
        assert code == status, body
        assert body["code"] == errors.TOKEN_NOT_VALID, body
        assert CJK.search(body["detail"]), body


def _crashes(results) -> list:
    return [r for r in results if not isinstance(r, tuple)]


def test_30_parallel_refreshes_of_one_token_have_one_winner():
    user = UserFactory(username="alice")
    tokens = _login(user)
    calls = [post(APIClient(), REFRESH, {"refresh": tokens["refresh"]}) for _ in range(PARALLEL)]

    results = run_together(calls, workers=PARALLEL)

    assert not _crashes(results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 401: PARALLEL - 1}, statuses
    _assert_token_not_valid([r for r in results if r[0] != 200])
    (winner,) = [body for status, body in results if status == 200]
    # One new refresh token was minted, and the old one is blacklisted once.
    assert OutstandingToken.objects.filter(user=user).count() == 2
    old_jti = RefreshToken(tokens["refresh"], verify=False)["jti"]
    assert list(BlacklistedToken.objects.values_list("token__jti", flat=True)) == [old_jti]
    # The winner's pair works; its refresh token works once.
    me = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {winner['access']}")
    assert me.status_code == 200
    assert _refresh(winner["refresh"]).status_code == 200
    _assert_token_not_valid([(r.status_code, r.json()) for r in [_refresh(winner["refresh"])]])


def test_the_blacklist_insert_alone_decides(monkeypatch):
    """Without the blacklist read, every refresh reaches the INSERT, and still one wins."""
    monkeypatch.setattr(RefreshToken, "check_blacklist", lambda self: None)
    user = UserFactory(username="alice")
    tokens = _login(user)
    calls = [post(APIClient(), REFRESH, {"refresh": tokens["refresh"]}) for _ in range(PARALLEL)]

    results = run_together(calls, workers=PARALLEL)

    assert not _crashes(results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 401: PARALLEL - 1}, statuses
    _assert_token_not_valid([r for r in results if r[0] != 200])
    assert OutstandingToken.objects.filter(user=user).count() == 2


def test_the_winners_token_raced_again_has_one_winner_too():
    user = UserFactory(username="alice")
    token = _login(user)["refresh"]
    for _round in range(3):
        calls = [post(APIClient(), REFRESH, {"refresh": token}) for _ in range(10)]
        results = run_together(calls, workers=10)
        assert not _crashes(results), results
        winners = [body for status, body in results if status == 200]
        assert len(winners) == 1, Counter(status for status, _ in results)
        token = winners[0]["refresh"]


def test_30_parallel_logouts_of_one_token_end_the_session_once():
    user = UserFactory(username="alice")
    tokens = _login(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    calls = [post(client, LOGOUT, {"refresh": tokens["refresh"]}) for _ in range(PARALLEL)]

    results = run_together(calls, workers=PARALLEL)

    assert not _crashes(results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {204: 1, 401: PARALLEL - 1}, statuses
    _assert_token_not_valid([r for r in results if r[0] != 204])
    _assert_token_not_valid([(r.status_code, r.json()) for r in [_refresh(tokens["refresh"])]])


def test_refreshes_racing_a_logout_leave_no_live_token():
    """Whoever wins, the session ends: a pair minted by a refresh that beat the logout is dead."""
    user = UserFactory(username="alice")
    tokens = _login(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    calls = [post(client, LOGOUT, {"refresh": tokens["refresh"]})]
    calls += [post(APIClient(), REFRESH, {"refresh": tokens["refresh"]}) for _ in range(15)]

    results = run_together(calls, workers=len(calls))

    assert not _crashes(results), results
    assert results[0][0] == 204, results[0]
    refreshed = [body for status, body in results[1:] if status == 200]
    assert len(refreshed) <= 1, Counter(status for status, _ in results)
    _assert_token_not_valid([r for r in results[1:] if r[0] != 200])
    for pair in refreshed:
        _assert_token_not_valid([(r.status_code, r.json()) for r in [_refresh(pair["refresh"])]])
        me = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        _assert_token_not_valid([(me.status_code, me.json())])
