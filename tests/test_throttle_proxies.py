"""Who a throttle counts: the socket peer, and X-Forwarded-For only as far as NUM_PROXIES trusts.

Without NUM_PROXIES, DRF's own get_ident keyed on the whole X-Forwarded-For header, so a client
writing a random one on each request escaped the login limit (40 wrong passwords, 40 × 401).
accounts.throttles.client_address is the one identity every throttle of the project uses.
"""

from __future__ import annotations

import random

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import errors
from accounts.throttles import ScopedThrottle, client_address
from tests.test_errors import assert_error

PEER = "203.0.113.7"


def _proxies(settings, count: int | None, **rates: str) -> None:
    rest = {k: v for k, v in django_settings.REST_FRAMEWORK.items() if k != "NUM_PROXIES"}
    if count is not None:
        rest["NUM_PROXIES"] = count
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = rest


def _address(forwarded: str | None, remote: str = PEER) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def _random_ip() -> str:
    return ".".join(str(random.randint(1, 254)) for _ in range(4))


# ------------------------------------------------------------------ the identity


@pytest.mark.parametrize("count", [None, 0])
def test_without_proxies_the_header_is_ignored(settings, count):
    _proxies(settings, count)
    assert _address(None) == PEER
    assert _address("198.51.100.1") == PEER
    assert _address("198.51.100.1, 198.51.100.2") == PEER
    assert {_address(_random_ip()) for _ in range(20)} == {PEER}


def test_one_proxy_means_the_right_most_hop(settings):
    _proxies(settings, 1)
    # nginx appends the peer it saw; whatever the client wrote is to its left.
    assert _address("198.51.100.9") == "198.51.100.9"
    assert _address("10.0.0.1, 198.51.100.9") == "198.51.100.9"
    assert _address(f"{_random_ip()}, {_random_ip()}, 198.51.100.9") == "198.51.100.9"
    # No header (a request that did not come through the proxy): the peer.
    assert _address(None) == PEER


def test_n_proxies_take_the_nth_from_the_right_never_beyond_the_header(settings):
    _proxies(settings, 2)
    assert _address("198.51.100.1, 198.51.100.2, 198.51.100.3") == "198.51.100.2"
    _proxies(settings, 5)
    assert _address("198.51.100.1, 198.51.100.2") == "198.51.100.1"


@pytest.mark.parametrize(
    "forwarded",
    [
        "",
        "   ",
        ",",
        "198.51.100.1,",  # the hop the proxy should have written is empty
        "198.51.100.1, ",
        "garbage",
        "unknown",
        "198.51.100.1:4711",  # with a port
        "[2001:db8::1]",  # bracketed
        "198.51.100.1 198.51.100.2",  # no comma
        "999.1.1.1",
        "1.2.3.4\x00",
        "x" * 5000,
    ],
)
def test_a_malformed_header_falls_back_to_the_peer(settings, forwarded):
    _proxies(settings, 1)
    assert _address(forwarded) == PEER


def test_addresses_are_normalised(settings):
    _proxies(settings, 1)
    assert _address("2001:DB8:0:0::1") == "2001:db8::1"
    assert _address(" 198.51.100.9 ") == "198.51.100.9"
    _proxies(settings, None)
    assert _address(None, remote="2001:DB8::0:1") == "2001:db8::1"
    # No usable peer (a unix socket): the value as it is, one shared counter.
    assert _address(None, remote="") == ""


def test_every_throttle_of_the_api_uses_the_one_identity():
    """Every view's throttle classes derive from ScopedThrottle (so from client_address)."""
    from rest_framework.settings import api_settings

    def views(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None) or getattr(
                    pattern.callback, "view_class", None
                )
                if view is not None:
                    yield view

    classes = {
        throttle
        for view in views(get_resolver().url_patterns)
        for throttle in getattr(view, "throttle_classes", ())
    } | set(api_settings.DEFAULT_THROTTLE_CLASSES)
    assert classes, "no throttled view found"
    assert all(issubclass(throttle, ScopedThrottle) for throttle in classes), classes


# ------------------------------------------------------------------ over the API

WRONG_LOGIN = ("/api/v1/auth/token/", {"username": "nobody", "password": "wrong-password"})
WRONG_ACTIVATION = (
    "/api/v1/members/activate/",
    {"phone": "13800000000", "code": "WRONGCODE", "password": "Xk29!pqLm-wrong"},
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "scope", "refused"),
    [(WRONG_LOGIN, "login", 401), (WRONG_ACTIVATION, "member_activate", 400)],
)
@pytest.mark.parametrize("count", [None, 0])
def test_random_forwarded_for_does_not_escape_the_limit(
    anon, settings, endpoint, scope, refused, count
):
    _proxies(settings, count, **{scope: "5/min"})
    path, body = endpoint
    statuses = [
        anon.post(path, body, format="json", HTTP_X_FORWARDED_FOR=_random_ip()).status_code
        for _ in range(8)
    ]
    assert statuses == [refused] * 5 + [429] * 3
    assert_error(
        anon.post(path, body, format="json", HTTP_X_FORWARDED_FOR=_random_ip()),
        429,
        errors.THROTTLED,
    )


@pytest.mark.django_db
def test_behind_one_proxy_each_client_has_its_own_count(anon, settings):
    _proxies(settings, 1, login="3/min")
    path, body = WRONG_LOGIN

    def attempt(forwarded: str) -> int:
        # Every request comes from the proxy's address; it appended the client's.
        return anon.post(
            path, body, format="json", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    # One client, whatever it writes to the left of the hop nginx appended: one count.
    assert [attempt(f"{_random_ip()}, 198.51.100.1") for _ in range(4)] == [401] * 3 + [429]
    # Another client behind the same proxy is not locked out by the first.
    assert attempt("198.51.100.2") == 401


# ------------------------------------------------------------------ the dashboard's login form


@pytest.mark.django_db
def test_the_dashboard_login_keys_on_the_same_client(settings):
    """/dashboard/login/ is a Django form, not a DRF view, and counts with the same identity."""

    def throttled(response) -> bool:
        return "登录尝试过于频繁" in response.content.decode()

    _proxies(settings, None, login="3/min")
    client = Client()
    wrong = {"username": "nobody", "password": "nope"}
    outcomes = [
        throttled(client.post("/dashboard/login/", wrong, HTTP_X_FORWARDED_FOR=_random_ip()))
        for _ in range(4)
    ]
    assert outcomes == [False, False, False, True]

    # Behind one proxy every request comes from 127.0.0.1: one client's guesses do not lock
    # out another's.
    _proxies(settings, 1, login="3/min")

    def attempt(forwarded: str) -> bool:
        return throttled(
            client.post(
                "/dashboard/login/", wrong, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
            )
        )

    assert [attempt("198.51.100.1") for _ in range(4)] == [False, False, False, True]
    assert attempt("198.51.100.2") is False
