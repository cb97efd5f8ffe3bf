"""One service from claim to a revoked certificate, through the API as the people involved
do it: claim → check-in → automatic check-out → record with a photo → verification with a
corrected hour → archive → certificate → public verification → revocation → the certificate
shows revoked (issue 15's walk)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from members.pii import mask_name
from services.models import Claim, ServiceRequest
from services.requests.expiry import expire_overdue
from tests import records_fixtures
from tests.archive_fixtures import CERTIFICATES_URL, HISTORY_URL, member_history_url, pdf_url
from tests.attachments_fixtures import (
    attachment_root,
    attachments_url,
    jpeg_with_exif,
    post_files,
    upload,
)
from tests.factories import CampaignFactory, ServiceRequestFactory
from tests.records_fixtures import record_url, submit_url
from tests.services_fixtures import claim_url, request_url

rules = records_fixtures.rules
attachment_root = attachment_root  # the fixture, re-exported for pytest


def test_claim_to_revoked_certificate(world, rules, client_for, anon, attachment_root):
    alice, bob, mary, sam = (
        client_for(world.alice.user),
        client_for(world.bob.user),
        client_for(world.mary),
        client_for(world.sam),
    )
    grace = timedelta(minutes=settings.SERVICES_HOURS_GRACE_MINUTES)
    starts = (timezone.now() + timedelta(minutes=20)).replace(microsecond=0)
    service_request = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=CampaignFactory(kind="warm_village", name="暖岙·法律进村"),
        title="新螺头村法律咨询",
        lat=world.village.lat,
        lng=world.village.lng,
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        slots=5,
    )
    # Claim and check in on site (check-in opens an hour before the start).
    claims = {}
    for name, client in (("alice", alice), ("bob", bob)):
        response = client.post(request_url(service_request, "claims/"), {}, format="json")
        assert response.status_code == 201, response.content
        claims[name] = response.json()["id"]
    site = {"lat": world.village.lat, "lng": world.village.lng}
    for name, client in (("alice", alice), ("bob", bob)):
        response = client.post(claim_url(claims[name], "check-in/"), site, format="json")
        assert response.status_code == 200, response.content
    # Nobody checks out: the sweep does, at the window's end plus grace.
    report = expire_overdue(now=service_request.ends_at + grace + timedelta(minutes=5))
    assert report.checked_out == 2
    recorded = {}
    for name, pk in claims.items():
        claim = Claim.objects.get(pk=pk)
        assert claim.auto_checked_out and claim.checked_out_at == service_request.ends_at + grace
        recorded[name] = claim.duration_minutes
    # alice reports what was done; mary verifies, correcting alice's hours.
    response = alice.post(
        submit_url(service_request),
        {
            "people_served": 26,
            "households_visited": 6,
            "summary": "开展土地承包、赡养纠纷法律咨询。",
            "participants": list(claims.values()),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    record_id = response.json()["id"]
    # alice adds the photo she took on site during the service (its EXIF time and place).
    photo = jpeg_with_exif(
        taken_at=starts + timedelta(minutes=45), lat=world.village.lat, lng=world.village.lng
    )
    response = post_files(alice, record_id, upload("现场照片.jpg", photo))
    assert response.status_code == 201, response.content
    # mary sees it while reviewing: no photo flag, and the signed link serves the image.
    review = mary.get(record_url(record_id)).json()
    assert review["flag_count"] == 0
    (shown,) = mary.get(attachments_url(record_id)).json()
    served = anon.get(urlsplit(shown["url"]).path)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert b"Exif" not in b"".join(served.streaming_content)
    corrected = recorded["alice"] - 40
    response = mary.post(
        record_url(record_id, "verify/"),
        {
            "approved": True,
            "note": "核实无误",
            "hours": [{"claim": claims["alice"], "minutes": corrected, "reason": "提前离场"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert ServiceRequest.objects.get(pk=service_request.pk).status == "verified"

    # The archive shows the corrected hours, to alice and to bob, her team's leader.
    mine = alice.get(HISTORY_URL).json()
    (row,) = mine["results"]
    assert row["record"] == record_id and row["corrected"] is True
    assert row["service_minutes"] == corrected and row["service_hours"] == round(corrected / 60, 1)
    assert row["people_served"] == 26 and row["points"] > 0
    assert row["village"] == {"id": world.village.pk, "name": world.village.name}
    assert mine["totals"]["service_minutes"] == corrected
    led = bob.get(member_history_url(world.alice)).json()
    assert led["totals"] == mine["totals"]
    assert bob.get(HISTORY_URL).json()["totals"]["service_minutes"] == recorded["bob"]

    # A certificate of the day, its PDF, and the public page.
    day = timezone.localdate(starts).isoformat()
    response = alice.post(CERTIFICATES_URL, {"from": day, "to": day}, format="json")
    assert response.status_code == 201, response.content
    certificate = response.json()
    assert certificate["service_minutes"] == corrected
    assert [s["service_minutes"] for s in certificate["services"]] == [corrected]
    pdf = alice.get(pdf_url(certificate))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    page = anon.get(f"/verify/{certificate['code']}").content.decode()
    assert "该证明有效" in page and mask_name(world.alice.name) in page
    assert anon.get(f"/api/v1/verify/{certificate['code']}/").json()["valid"] is True

    # Staff revoke the verification: the certificate shows revoked, with the date.
    response = sam.post(record_url(record_id, "revoke/"), {"reason": "重复登记"}, format="json")
    assert response.status_code == 200, response.content
    public = anon.get(f"/api/v1/verify/{certificate['code']}/").json()
    assert public["valid"] is False and public["status"] == "revoked"
    assert public["revoked_on"] == timezone.localdate().isoformat()
    assert "该证明已于" in anon.get(f"/verify/{certificate['code']}").content.decode()
    # The photo is withheld from all but staff now (the link mary was given stops working).
    assert anon.get(urlsplit(shown["url"]).path).status_code == 404
    assert [a["withheld"] for a in sam.get(attachments_url(record_id)).json()] == [True]
    # And the archive no longer counts the service.
    assert alice.get(HISTORY_URL).json()["count"] == 0
    # The certificate itself still states what it stated.
    (listed,) = alice.get(CERTIFICATES_URL).json()["results"]
    assert listed["services"] == certificate["services"] and listed["status"] == "revoked"
