"""Who may call Open311: anyone reads; a station's API key (form field ``api_key``) posts."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from accounts.throttles import ScopedThrottle
from services.open311.errors import InvalidApiKey
from stations.api_keys import api_key_check
from stations.models import StationApiKey

API_KEY_FIELD = "api_key"


class StationApiKeyAuthentication(BaseAuthentication):
    """POSTs carry ``api_key`` in the form body; the request then acts as the key's issuer
    (``request.user``) for the key's station (``request.auth``). Reads are anonymous."""

    def authenticate(self, request):
        if request.method != "POST":
            return None
        raw = request.data.get(API_KEY_FIELD)
        if not raw:
            return None
        key = api_key_check(str(raw))
        if key is None:
            raise InvalidApiKey()
        return key.created_by, key


class HasStationApiKey(BasePermission):
    """Reads are public; posts need a valid station API key (403 otherwise, as Open311 says).
    Other methods pass here and get their 405 from the view."""

    def has_permission(self, request, view) -> bool:
        # A POST to a read-only path is a 405 from the view, not a missing key.
        if request.method != "POST" or not hasattr(view, "post"):
            return True
        if not isinstance(request.auth, StationApiKey):
            raise InvalidApiKey()
        return True


class Open311Throttle(ScopedThrottle):
    """Reads per client address (scope ``open311_read``); posts per API key (``open311_write``)."""

    def get_cache_key(self, request, view):
        if isinstance(request.auth, StationApiKey):
            ident = f"key{request.auth.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
