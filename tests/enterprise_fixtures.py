"""Shared pieces of the 暖企 tests: an enterprise of "this" station, its 专员, a visit body."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.enterprises import writes
from services.models import Campaign, Enterprise
from stations.geo import Point
from tests.factories import CampaignFactory

# Published codes whose check character GB 32100-2015 and services.enterprises.codes agree on.
VALID_CODES = (
    "91350100M000100Y43",
    "91110000600037341L",
    "91310000MA1FL1MMXL",
    "914403001922038216",
    "91110108551385082Q",
    "91440300708461136T",
)
SITE = (30.0300, 122.1100)


def make_enterprise(world, *, code: str = VALID_CODES[0], **overrides) -> Enterprise:
    values = {
        "actor": world.sam,
        "name": "舟山示例船舶修造有限公司",
        "credit_code": code,
        "town": world.town,
        "station": world.station,
        "point": Point(lat=SITE[0], lng=SITE[1]),
        "address": "定海区示例路 1 号",
        "industry": "船舶修造",
        "key_project": True,
        "contact_name": "张经理",
        "contact_phone": "13900001234",
    }
    values.update(overrides)
    return writes.create_enterprise(**values)


def assign(world, enterprise, *, lead=None, deputies=()):
    return writes.assign_liaisons(
        actor=world.sam,
        enterprise_id=enterprise.pk,
        lead=lead or world.alice,
        deputies=list(deputies),
        starts_on=timezone.localdate() - timedelta(days=1),
    )


def visit_body(**overrides) -> dict:
    started = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    body = {
        "lat": SITE[0] + 0.001,
        "lng": SITE[1],
        "started_at": started.isoformat(),
        "duration_minutes": 60,
        "discussed": "了解企业用工与融资情况。",
        "people_met": 2,
    }
    body.update(overrides)
    return body


@pytest.fixture
def warm_campaign(db) -> Campaign:
    return CampaignFactory(kind=Campaign.Kind.WARM_ENTERPRISE, name="2026 暖企行动")


@pytest.fixture
def enterprise(world, warm_campaign) -> Enterprise:
    found = make_enterprise(world)
    assign(world, found, deputies=[world.bob])
    return found
