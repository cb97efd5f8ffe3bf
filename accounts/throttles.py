"""The project's one throttle: scoped rates read per request, the client keyed on the peer
address, and an atomic count that holds across processes (docs/hardening.md, 限流 / Throttles).

Every throttled view names :class:`ScopedThrottle` (or a subclass), so the two things DRF's
``SimpleRateThrottle`` gets wrong for us are fixed here once:

- **who the client is** (:func:`client_address`): the socket peer, ``REMOTE_ADDR``, unless
  ``NUM_PROXIES`` proxies are configured in front; then the address the nearest of them saw, read
  from the right of ``X-Forwarded-For``. Without ``NUM_PROXIES`` DRF keys on the whole header,
  which the client writes, so random values dodged every address-keyed limit.
- **how requests are counted** (:func:`hit`): DRF reads a list of timestamps from the cache and
  writes it back, so parallel requests in several workers all read the same list and all pass
  the last slot. Here a request is one atomic ``add``/``incr`` of a counter per window.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math

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


def hit(cache, key: str, limit: int, duration: int, now: float) -> float | None:
    """Count one request against ``limit`` per ``duration`` seconds; None when it may pass,
    else the seconds to wait.

    A sliding-window counter: one counter per fixed window (``key:<window number>``), and the
    previous window's count weighted by how much of it still lies inside the last ``duration``
    seconds. A request passes when ``previous × weight + current ≤ limit``, counting itself, so a
    burst right after a window turns over cannot double the rate as plain fixed windows do.

    The counter moves only by ``cache.add`` and ``cache.incr``, which are atomic on Redis
    (django-redis), in memory (LocMemCache, one process) and in the database cache
    (``backend.cache.DatabaseCache``): parallel requests each get their own count and at most
    ``limit`` of them can pass. A refused request gives its count back, so hammering the limit
    does not extend it (as DRF, which records only the requests it lets through).
    """
    window = int(now // duration)
    elapsed = now - window * duration
    current = f"{key}:{window}"
    previous = cache.get(f"{key}:{window - 1}", 0)
    # A hair under the exact share, so float rounding never refuses a request that fits.
    carried = previous * (duration - elapsed) / duration - 1e-9
    if carried + 1 > limit:  # refused without counting: the previous window alone fills it
        return _wait(limit, duration, elapsed, previous, cache.get(current, 0))
    try:
        count = cache.incr(current)
    except ValueError:  # the window's first request (or one of several in parallel)
        # Long enough for the next window to read this one as its previous (the database cache
        # stores expiry in whole seconds, hence the extra second).
        count = 1 if cache.add(current, 1, 2 * duration + 1) else cache.incr(current)
    if carried + count <= limit:
        return None
    with contextlib.suppress(ValueError):  # gone already: nothing to give back
        cache.decr(current)
    return _wait(limit, duration, elapsed, previous, count - 1)


def _wait(limit: int, duration: int, elapsed: float, previous: int, current: int) -> float:
    """Seconds until one more request would pass, if nobody else comes (at least 1)."""
    if current + 1 <= limit and previous:
        # Later in this window the previous one weighs less: wait until it weighs little enough.
        until = duration * (1 - (limit - 1 - current) / previous)
    else:
        # This window is full: in the next one this window is the previous.
        until = duration + (duration * (1 - (limit - 1) / current) if current else 0)
    return max(1, math.ceil(until - elapsed))


class ScopedThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading ``DEFAULT_THROTTLE_RATES`` at request time, keyed on
    :func:`client_address` (or the user, when signed in) and counted by :func:`hit`."""

    def get_rate(self):
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()

    def get_ident(self, request) -> str:
        return client_address(request)

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self._wait = hit(self.cache, self.key, self.num_requests, self.duration, self.timer())
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
