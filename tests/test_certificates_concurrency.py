"""Certificates under real concurrency: many members asking at once get distinct serial
numbers with no gap, and a revocation racing an issue never leaves a valid certificate that
lists a revoked record (docs/certificates-and-archive.md#concurrency)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.utils import timezone

from services.certificates.writes import issue_certificate
from services.models import Campaign, Certificate, CertificateSerial, ServiceRecord
from services.records.writes import revoke_record
from tests.archive_fixtures import CERTIFICATES_URL
from tests.factories import MemberFactory, StationFactory, UserFactory
from tests.stats_fixtures import served
from tests.test_claim_concurrency import post, run_together

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2026, 5, 20)
PERIOD = {"from": "2026-05-01", "to": "2026-05-31"}


def _members_with_a_service(count: int, *, together: bool = True):
    """``count`` members; ``together``: all on one verified record (its request is shared)."""
    station = StationFactory()
    campaign = Campaign.objects.create(
        kind="warm_heart", name="五月暖心", starts_on=date(2026, 5, 1), ends_on=date(2026, 5, 31)
    )
    members = [MemberFactory() for _ in range(count)]
    if together:
        records = [served(station=station, campaign=campaign, day=DAY, people=50, members=members)]
    else:
        records = [
            served(station=station, campaign=campaign, day=DAY, people=5, members=[m])
            for m in members
        ]
    return members, records


def test_parallel_requests_get_unique_running_serial_numbers(client_for):
    members, _ = _members_with_a_service(40, together=False)
    calls = [post(client_for(m.user), CERTIFICATES_URL, PERIOD) for m in members]
    results = run_together(calls, workers=16)
    assert all(isinstance(r, tuple) and r[0] == 201 for r in results), results
    serials = [body["serial"] for _, body in results]
    assert len(set(serials)) == len(members)
    year = timezone.localdate().year
    numbers = sorted(int(re.fullmatch(rf"WWQZ-{year}-(\d{{6}})", s).group(1)) for s in serials)
    assert numbers == list(range(1, len(members) + 1))
    assert CertificateSerial.objects.get(year=year).last == len(members)
    assert len({body["code"] for _, body in results}) == len(members)


def test_members_of_one_record_asking_at_once_each_get_theirs(client_for):
    # One shared request: every issue locks it, so they queue on it and on the counter.
    members, (record,) = _members_with_a_service(24)
    calls = [post(client_for(m.user), CERTIFICATES_URL, PERIOD) for m in members]
    results = run_together(calls, workers=12)
    assert [r[0] for r in results] == [201] * len(members), results
    assert Certificate.objects.count() == len(members)
    assert Certificate.objects.filter(records=record).count() == len(members)
    assert len({c.serial for c in Certificate.objects.all()}) == len(members)


def test_a_revocation_racing_issues_leaves_no_valid_certificate_of_a_revoked_record():
    members, (record,) = _members_with_a_service(12)
    staff = UserFactory(is_staff=True)

    def issue(member):
        def call():
            try:
                return issue_certificate(
                    user=member.user, date_from=date(2026, 5, 1), date_to=date(2026, 5, 31)
                ).pk
            except Exception as exc:  # a refusal after the revocation is a result too
                return exc

        return call

    calls = [issue(m) for m in members]
    calls.insert(
        len(calls) // 2, lambda: revoke_record(actor=staff, record_id=record.pk, reason="重复")
    )
    run_together(calls, workers=len(calls))
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.REVOKED
    # Every certificate that lists the record was revoked with it; issues after it were refused.
    assert not Certificate.objects.filter(records=record, status="valid").exists()
    assert not Certificate.objects.filter(status="valid").exists()
