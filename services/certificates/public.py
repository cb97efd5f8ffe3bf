"""The public verification page, /verify/<code>: a small Chinese page, no login, throttled per
client address with the API's throttle rate and counter (accounts.throttles)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.throttles import client_address, hit
from members.pii import mask_name
from services.certificates import selectors as certificates
from services.models import Campaign, Certificate
from services.records.hours import as_hours

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _throttled(request) -> float | None:
    count, period = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["certificate_verify"].split(
        "/"
    )
    return hit(
        cache,
        f"throttle_certificate_verify_page_{client_address(request)}",
        int(count),
        _UNITS[period[0]],
        time.time(),
    )


@require_GET
def verify_page(request, code: str):
    """What the certificate states, the name masked, and whether it is still valid."""
    wait = _throttled(request)
    if wait is not None:
        response = render(request, "certificates/throttled.html", {"wait": int(wait)}, status=429)
        response["Retry-After"] = str(int(wait))
        return response
    certificate = certificates.by_code(code)
    if certificate is None:
        return render(request, "certificates/not_found.html", status=404)
    services = [
        {
            **service,
            "kind": Campaign.Kind(service["campaign_kind"]).label,
            "hours": as_hours(service["minutes"]),
        }
        for service in certificate.services
    ]
    context = {
        "certificate": certificate,
        "valid": certificate.status == Certificate.Status.VALID,
        "member_name": mask_name(certificate.member_name),
        "hours": as_hours(certificate.service_minutes),
        "services": services,
        "revoked_on": timezone.localdate(certificate.revoked_at)
        if certificate.revoked_at
        else None,
    }
    response = render(request, "certificates/verify.html", context)
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("<str:code>", verify_page, name="certificate-verify")]
