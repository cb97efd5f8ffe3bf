"""The project's one throttle: scoped rates read per request, the client keyed on the peer
address (docs/hardening.md, 限流 / Throttles).

Every throttled view names :class:`ScopedThrottle` (or a subclass), so who the client is
(:func:`client_address`) is decided here once: the socket peer, ``REMOTE_ADDR``, unless
``NUM_PROXIES`` proxies are configured in front; then the address the outermost of them saw, read
from the right of ``X-Forwarded-For``. Without ``NUM_PROXIES`` DRF's ``get_ident`` keys on the
whole header, which the client writes, so random values dodged every address-keyed limit.
"""

from __future__ import annotations

import ipaddress

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


def _address(value: str | None) -> str | None:
    """``value`` as a normalised IP address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_address(request) -> str:
    """The client's address for throttling, from a Django or DRF request.

    ``NUM_PROXIES`` unset or 0: the socket peer (``REMOTE_ADDR``); ``X-Forwarded-For`` is the
    client's to write and is ignored. ``NUM_PROXIES`` = N: the N-th address from the right of
    ``X-Forwarded-For`` — the one the outermost trusted proxy saw (each proxy appends the peer it
    saw), never further left than the header holds. A header without one or whose chosen hop is
    not an IP address (empty items, ports, names, garbage) falls back to ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    peer = _address(remote) or remote
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return peer
    hops = forwarded.split(",")
    return _address(hops[-min(proxies, len(hops))]) or peer


class ScopedThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading ``DEFAULT_THROTTLE_RATES`` at request time, keyed on
    :func:`client_address` (or the user, when signed in)."""

    def get_rate(self):
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()

    def get_ident(self, request) -> str:
        return client_address(request)
