"""Fixtures and helpers of the requests and claims tests (import the fixtures you use)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Campaign, Claim, ServiceRequest
from tests.factories import CampaignFactory, ServiceRequestFactory

REQUESTS_URL = "/api/v1/requests/"
CLAIMS_URL = "/api/v1/claims/"


def request_url(service_request, suffix: str = "") -> str:
    pk = service_request if isinstance(service_request, int) else service_request.pk
    return f"{REQUESTS_URL}{pk}/{suffix}"


def claim_url(claim, suffix: str = "") -> str:
    pk = claim if isinstance(claim, int) else claim.pk
    return f"{CLAIMS_URL}{pk}/{suffix}"


def assert_consistent(service_request: ServiceRequest) -> ServiceRequest:
    """The counter equals the slot-holding rows and never exceeds the slots."""
    service_request.refresh_from_db()
    holding = Claim.objects.filter(request=service_request, status__in=Claim.SLOT_HOLDING).count()
    assert service_request.claimed == holding, (service_request.claimed, holding)
    assert 0 <= service_request.claimed <= service_request.slots
    if service_request.status == ServiceRequest.Status.FULL:
        assert service_request.claimed == service_request.slots
    if service_request.status == ServiceRequest.Status.OPEN:
        assert service_request.claimed < service_request.slots
    return service_request


@pytest.fixture
def campaign(db) -> Campaign:
    return CampaignFactory(kind=Campaign.Kind.WARM_VILLAGE, name="2026 暖岙·送法下乡")


@pytest.fixture
def open_request(world, campaign) -> ServiceRequest:
    """Three places at world.village (served by mary's station), starting in two days."""
    return ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        title="新螺头村法律咨询",
        lat=world.village.lat,
        lng=world.village.lng,
        slots=3,
        created_by=world.mary,
        specialties=[world.law],
    )


def soon(**delta) -> str:
    """An ISO time ``delta`` from now."""
    return (timezone.now() + timedelta(**delta)).isoformat()
