"""The resident's whole loop over the real API: submit, accept, claim, check in, record,
verify (shared by the ticket, rating and browser tests)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from services.models import Intake
from tests.conftest import bearer


def as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def accept(world, intake: Intake, campaign) -> int:
    """mary accepts: a request starting in 30 minutes (check-in already open), 3 hours long."""
    start = timezone.now() + timedelta(minutes=30)
    body = {
        "campaign": campaign.pk,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
        "slots": 2,
    }
    response = as_user(world.mary).post(f"/api/v1/intake/{intake.pk}/accept/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["request"]


def claim(world, request_id: int) -> int:
    response = as_user(world.alice.user).post(f"/api/v1/requests/{request_id}/claims/")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def check_in(world, claim_id: int) -> None:
    point = {"lat": world.village.lat, "lng": world.village.lng}
    response = as_user(world.alice.user).post(
        f"/api/v1/claims/{claim_id}/check-in/", point, format="json"
    )
    assert response.status_code == 200, response.json()


def record(world, request_id: int, claim_id: int) -> int:
    body = {
        "people_served": 3,
        "enterprises_served": 0,
        "households_visited": 1,
        "summary": "上门修好了村口路灯，并检查了线路。",
        "participants": [claim_id],
    }
    response = as_user(world.alice.user).post(
        f"/api/v1/requests/{request_id}/record/", body, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def verify(world, record_id: int) -> None:
    response = as_user(world.mary).post(
        f"/api/v1/records/{record_id}/verify/",
        {"approved": True, "note": "核实无误"},
        format="json",
    )
    assert response.status_code == 200, response.json()


def serve(world, intake: Intake, campaign) -> dict[str, int]:
    """The whole service after the intake: accepted, claimed, checked in, recorded, verified."""
    request_id = accept(world, intake, campaign)
    claim_id = claim(world, request_id)
    check_in(world, claim_id)
    record_id = record(world, request_id, claim_id)
    verify(world, record_id)
    return {"request": request_id, "claim": claim_id, "record": record_id}
