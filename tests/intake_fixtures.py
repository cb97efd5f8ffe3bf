"""Fixtures and helpers of the intake tests (import what you use)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from services.intake import codes
from services.models import Intake, IntakeCode

INTAKE_URL = "/api/v1/intake/"


def code_of(world, *, village=None) -> IntakeCode:
    return codes.code_for(actor=world.mary, station=world.station, village=village)


@pytest.fixture
def station_code(world) -> IntakeCode:
    return code_of(world)


@pytest.fixture
def village_code(world) -> IntakeCode:
    return code_of(world, village=world.village)


def form_client() -> Client:
    """A browser-like client: Django's CSRF check is enforced, as for a real phone."""
    return Client(enforce_csrf_checks=True)


def csrf_token(response) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, response.content[:500]
    return match.group(1).decode()


def submit_form(client: Client, code: IntakeCode, **fields):
    """GET the form (the CSRF cookie and token), then POST ``fields`` with the token."""
    page = client.get(f"/q/{code.code}/")
    assert page.status_code == 200
    body = {"csrfmiddlewaretoken": csrf_token(page), "website": "", **fields}
    return client.post(f"/q/{code.code}/", body, REMOTE_ADDR=fields.pop("_addr", "127.0.0.1"))


def api_body(intake_code: IntakeCode, **overrides) -> dict:
    body = {"code": intake_code.code, "description": "村口路灯坏了一个多月，晚上老人出行不便。"}
    body.update(overrides)
    return body


def only_intake() -> Intake:
    assert Intake.objects.count() == 1
    return Intake.objects.get()
