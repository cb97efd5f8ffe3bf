"""暖企 under real concurrency (threads released together, real transactions; PostgreSQL row
locks, as in tests/test_claim_concurrency.py): parallel ratings keep one, parallel visits
never pass the monthly cap."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from services.enterprises import appeals
from services.models import Campaign, EnterpriseAppeal, EnterpriseVisit, ServiceRecord
from tests.conftest import World, bearer
from tests.enterprise_fixtures import assign, make_enterprise, visit_body
from tests.factories import CampaignFactory, MemberFactory, UserFactory
from tests.test_claim_concurrency import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

THREADS = 8


@pytest.fixture
def paired():
    world = World()
    CampaignFactory(kind=Campaign.Kind.WARM_ENTERPRISE, name="2026 暖企行动")
    enterprise = make_enterprise(world)
    deputies = [MemberFactory(user=UserFactory(is_member=True)) for _ in range(THREADS - 1)]
    assign(world, enterprise, deputies=deputies)
    return world, enterprise, [world.alice, *deputies]


def test_parallel_ratings_keep_one(paired):
    world, enterprise, _ = paired
    appeal = appeals.raise_appeal(
        actor=None, enterprise=enterprise, description="希望协调用电", source="desk"
    )
    appeals.refer_appeal(actor=world.sam, appeal_id=appeal.pk, department="供电公司",
                         asked="增容", due_on=timezone.localdate() + timedelta(days=3))  # fmt: skip
    appeals.start_appeal(actor=world.sam, appeal_id=appeal.pk)
    appeals.resolve_appeal(actor=world.sam, appeal_id=appeal.pk, outcome="已增容")
    url = f"/api/v1/enterprise-desk/{enterprise.desk_ticket}/appeals/{appeal.pk}/rating/"

    def rate(score: int):
        def call():
            response = APIClient().post(url, {"score": score}, format="json")
            return response.status_code, response.json().get("code")

        return call

    results = run_together([rate(1 + n % 5) for n in range(THREADS)], workers=THREADS)
    assert Counter(status for status, _ in results) == {201: 1, 409: THREADS - 1}, results
    assert {code for status, code in results if status == 409} == {"appeal_not_rateable"}
    stored = EnterpriseAppeal.objects.get()
    assert stored.status == "rated" and 1 <= stored.score <= 5


def test_parallel_visits_stop_at_the_monthly_cap(paired, settings):
    settings.ENTERPRISE_VISITS_PER_MONTH = 2
    _, enterprise, members = paired
    started = timezone.now() - timedelta(minutes=70)
    body = visit_body(started_at=started.replace(microsecond=0).isoformat())

    def visit(member):
        def call():
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=bearer(member.user))
            response = client.post(
                f"/api/v1/enterprises/{enterprise.pk}/visits/", body, format="json"
            )
            return response.status_code, response.json().get("code")

        return call

    results = run_together([visit(member) for member in members], workers=THREADS)
    assert Counter(status for status, _ in results) == {201: 2, 409: THREADS - 2}, results
    assert {code for status, code in results if status == 409} == {"visit_cap_reached"}
    assert EnterpriseVisit.objects.count() == 2
    assert ServiceRecord.objects.filter(enterprises_served=1).count() == 2
