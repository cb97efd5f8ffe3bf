"""Parallel ratings of one ticket leave one rating: threads released together, real
transactions (PostgreSQL row locks; SQLite serialises its writers), as in
tests/test_claim_concurrency.py."""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient

from services.intake import writes
from services.intake.codes import code_for
from services.models import IntakeRating
from tests.conftest import World
from tests.factories import CampaignFactory
from tests.intake_loop import serve
from tests.records_fixtures import ensure_rules
from tests.test_claim_concurrency import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

THREADS = 8


@pytest.fixture
def served():
    ensure_rules()
    world = World()
    code = code_for(actor=world.mary, station=world.station, village=world.village)
    intake = writes.submit_intake(code=code, description="村口路灯坏了")
    serve(world, intake, CampaignFactory(kind="warm_village", name="2026 暖岙"))
    return intake


def _rate(intake, method: str, score: int):
    def call():
        response = getattr(APIClient(), method)(
            f"/api/v1/intake/tickets/{intake.ticket}/rating/", {"score": score}, format="json"
        )
        return response.status_code, response.json().get("code")

    return call


def test_parallel_first_ratings_leave_one(served):
    results = run_together(
        [_rate(served, "post", 1 + n % 5) for n in range(THREADS)], workers=THREADS
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: THREADS - 1}, results
    assert {code for status, code in results if status == 409} == {"rating_exists"}
    assert IntakeRating.objects.filter(intake=served).count() == 1


def test_parallel_changes_leave_one_rating(served):
    results = run_together(
        [_rate(served, "put", 1 + n % 5) for n in range(THREADS)], workers=THREADS
    )
    assert Counter(status for status, _ in results) == {200: THREADS}, results
    rating = IntakeRating.objects.get(intake=served)
    assert 1 <= rating.score <= 5
