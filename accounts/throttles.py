"""Scoped throttles whose rates are read when a request comes, so settings can change them."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading ``DEFAULT_THROTTLE_RATES`` at request time."""

    def get_rate(self):
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()
