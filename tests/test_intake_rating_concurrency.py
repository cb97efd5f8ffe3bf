"""Parallel ratings of one ticket leave one rating, parallel photo uploads stop at the limit:
threads released together, real transactions (PostgreSQL row locks; SQLite serialises its
writers), as in tests/test_claim_concurrency.py."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from services.intake import writes
from services.intake.codes import code_for
from services.models import Attachment, IntakeRating
from tests.attachments_fixtures import attachment_root, jpeg_with_exif, stored_files, upload
from tests.conftest import World
from tests.factories import CampaignFactory
from tests.intake_loop import serve
from tests.records_fixtures import ensure_rules
from tests.test_claim_concurrency import run_together

attachment_root = attachment_root  # the fixture, re-exported for pytest

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


def test_parallel_photo_uploads_stop_at_the_limit(attachment_root, settings):
    """Eight uploads of one photo each at once to a new page intake (INTAKE_MAX_PHOTOS = 3):
    the intake's row lock lets three in; the others are 400 and their files are removed."""
    settings.INTAKE_MAX_PHOTOS = 3
    settings.INTAKE_RATE_PER_ADDRESS = "100/hour"
    world = World()
    code = code_for(actor=world.mary, station=world.station, village=world.village)
    intake = writes.submit_intake(code=code, description="桥栏杆断了")
    photo = jpeg_with_exif(
        taken_at=timezone.now() - timedelta(hours=1), lat=world.village.lat, lng=world.village.lng
    )

    def call():
        response = APIClient().post(
            f"/api/v1/intake/tickets/{intake.ticket}/photos/",
            {"files": [upload("p.jpg", photo)]},
            format="multipart",
        )
        return response.status_code, response.json().get("code")

    results = run_together([call for _ in range(THREADS)], workers=THREADS)
    assert Counter(status for status, _ in results) == {201: 3, 400: THREADS - 3}, results
    assert Attachment.objects.filter(intake=intake).count() == 3
    assert len(stored_files(attachment_root)) == 6  # three images and their thumbnails, no orphans
