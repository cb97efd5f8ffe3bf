"""What keeps a public form usable: rate limits per address and per phone, duplicates
(docs/intake.md#防滥用--abuse-protections).

The limits are counted by the project's throttle (``accounts.throttles.hit``: an atomic counter
per window in the shared cache, so they hold across workers and under parallel requests), keyed
on the client address as ``accounts.throttles.client_address`` reads it.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.throttles import hit
from services.intake import errors
from services.models import Intake, ServiceRequest
from services.requests.transitions import Status
from services.requests.writes import DUPLICATE_SIMILARITY, title_similarity

# The same phone repeating a need this similar is refused rather than flagged.
REPEAT_SIMILARITY = 0.9


def _parse(rate: str) -> tuple[int, int]:
    limit, duration = SimpleRateThrottle.parse_rate(None, rate)
    return limit, duration


def _digest(value: str) -> str:
    # Keys never hold a phone number in the clear (the cache may be shared, Redis dumps read).
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:32]


def check_address(address: str) -> None:
    """Count one submission from ``address``; 429 ``intake_throttled`` past the limit."""
    limit, duration = _parse(settings.INTAKE_RATE_PER_ADDRESS)
    wait = hit(cache, f"intake:addr:{_digest(address)}", limit, duration, time.time())
    if wait is not None:
        raise errors.IntakeThrottled(wait=int(wait))


def check_phone(phone: str) -> None:
    """Count one submission for ``phone`` (when given); 429 past the limit."""
    if not phone:
        return
    limit, duration = _parse(settings.INTAKE_RATE_PER_PHONE)
    wait = hit(cache, f"intake:phone:{_digest(phone)}", limit, duration, time.time())
    if wait is not None:
        raise errors.IntakeThrottled(wait=int(wait))


def _summary(text: str) -> str:
    return text[:100]


def refuse_repeat(*, station_id: int, phone: str, description: str, now: datetime) -> None:
    """409 ``intake_duplicate`` when the same phone posted the same need recently (still new)."""
    if not phone:
        return
    since = now - timedelta(days=settings.INTAKE_DUPLICATE_DAYS)
    recent = Intake.objects.filter(
        station_id=station_id, phone=phone, status=Intake.Status.NEW, created_at__gte=since
    ).values_list("description", flat=True)[:20]
    for other in recent:
        if title_similarity(_summary(description), _summary(other)) >= REPEAT_SIMILARITY:
            raise errors.IntakeDuplicate()


def possible_duplicates(
    *, station_id: int, village_id: int | None, description: str, now: datetime
) -> dict[str, list[int]]:
    """Open requests of the station (the village's, when it names one) and its recent intakes
    whose text is similar (the requests' duplicate measure, ``title_similarity``): for the
    manager's queue only, never shown to the resident."""
    text = _summary(description)
    requests = ServiceRequest.objects.filter(
        station_id=station_id, status__in=[Status.OPEN, Status.FULL]
    )
    if village_id:
        requests = requests.filter(village_id=village_id)
    since = now - timedelta(days=settings.SERVICES_DUPLICATE_WINDOW_DAYS)
    found_requests = [
        pk
        for pk, title, body in requests.filter(created_at__gte=since)
        .order_by("-created_at")
        .values_list("pk", "title", "description")[:50]
        if max(title_similarity(text, title), title_similarity(text, body[:100]))
        >= DUPLICATE_SIMILARITY
    ]
    since = now - timedelta(days=settings.INTAKE_DUPLICATE_DAYS)
    found_intakes = [
        pk
        for pk, other in Intake.objects.filter(station_id=station_id, created_at__gte=since)
        .order_by("-created_at")
        .values_list("pk", "description")[:50]
        if title_similarity(text, _summary(other)) >= DUPLICATE_SIMILARITY
    ]
    return {"requests": found_requests, "intakes": found_intakes}
