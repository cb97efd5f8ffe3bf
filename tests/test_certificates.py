"""Certificates (志愿服务证明): asking for one, what it freezes, its serial number and code, the
PDF read back and rendered, the public verification page and its JSON twin, revocation
(docs/certificates-and-archive.md)."""

from __future__ import annotations

import io
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import segno
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.errors import UNKNOWN_FIELD, VALIDATION_ERROR
from accounts.models import Event
from members.pii import mask_name
from services import errors
from services.certificates import codes
from services.certificates import pdf as certificate_pdf
from services.models import Certificate, ServiceRecord
from services.records.writes import revoke_record
from tests import archive_fixtures
from tests.archive_fixtures import CERTIFICATES_URL, SPECS, pdf_url
from tests.test_errors import assert_error

archive = archive_fixtures.archive

YEAR_2025 = {"from": "2025-01-01", "to": "2025-12-31"}
SPECS_2025 = [s for s in SPECS if s.day.year == 2025]
# Where the lead can look at one render (test_page_one_renders_with_text_and_a_qr_code).
RENDER_PATH = Path(tempfile.gettempdir()) / "wwqz-certificate-page1.png"


def _rate(scope: str, rate: str) -> dict:
    """REST_FRAMEWORK with one throttle rate changed (ScopedThrottle reads it per request)."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: rate}
    return {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _issue(client, period=None):
    response = client.post(CERTIFICATES_URL, period or YEAR_2025, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    # pypdf reads fpdf2's two-byte CID codes with a NUL before each character (PDFium, the
    # viewer of Chrome, reads them clean: test_pdfium_reads_the_same_text): compare without
    # NULs and whitespace.
    text = "".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\s\x00]+", "", text)


def _pdfium_text(data: bytes) -> str:
    document = pypdfium2.PdfDocument(data)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- issuing


def test_a_member_gets_a_certificate_of_the_periods_verified_services(archive, client_for):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    assert re.fullmatch(rf"WWQZ-{timezone.localdate().year}-\d{{6}}", body["serial"])
    assert codes.normalise(body["code"]) == body["code"]
    assert body["status"] == "valid" and body["status_label"] == "有效"
    assert body["member_name"] == w.alice.name and body["member"] == w.alice.pk
    assert body["from"] == "2025-01-01" and body["to"] == "2025-12-31"
    assert body["service_count"] == len(SPECS_2025)
    assert body["service_minutes"] == sum(s.minutes for s in SPECS_2025)
    assert body["service_hours"] == round(sum(s.minutes for s in SPECS_2025) / 60, 1)
    assert body["people_served"] == sum(s.people for s in SPECS_2025)
    assert body["issuer"] == "政协定海区委员会办公室"
    assert body["issued_on"] == timezone.localdate().isoformat()
    assert body["verify_url"].endswith(f"/verify/{body['code']}")
    assert body["pdf_url"].endswith(pdf_url(body))
    assert [s["date"] for s in body["services"]] == [s.day.isoformat() for s in SPECS_2025]
    for listed, spec in zip(body["services"], SPECS_2025, strict=True):
        station = w.other_station if spec.other_station else w.station
        assert listed["place"].startswith(station.name)
        assert listed["title"] == spec.title
        assert listed["content"] == f"{spec.title}：现场服务。"
        assert listed["service_minutes"] == spec.minutes
    certificate = Certificate.objects.get(pk=body["id"])
    assert set(certificate.records.values_list("pk", flat=True)) == {
        r.pk for r in archive.records if r.service_date.year == 2025
    }
    event = Event.objects.get(verb="certificate_issued")
    assert event.actor == w.alice.user and event.payload["serial"] == body["serial"]


def test_serials_run_on_and_codes_differ(archive, client_for):
    client = client_for(archive.world.alice.user)
    first, second = _issue(client), _issue(client, {"from": "2026-01-01", "to": "2026-12-31"})
    number = int(first["serial"].rsplit("-", 1)[1])
    assert second["serial"].rsplit("-", 1)[1] == f"{number + 1:06d}"
    assert first["code"] != second["code"]
    assert second["service_count"] == len(SPECS) - len(SPECS_2025)


@override_settings(CERTIFICATE_ISSUER="测试出具单位", CERTIFICATE_SERIAL_PREFIX="TEST")
def test_the_issuer_and_the_prefix_are_settings(archive, client_for):
    body = _issue(client_for(archive.world.alice.user))
    assert body["issuer"] == "测试出具单位" and body["serial"].startswith("TEST-")


def test_a_certificate_never_changes_once_issued(archive, client_for):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    record = archive.records[0]
    ServiceRecord.objects.filter(pk=record.pk).update(summary="事后改写的内容", people_served=999)
    w.alice.name = "王丽丽"
    w.alice.save(update_fields=["name"])
    again = client_for(w.alice.user).get(CERTIFICATES_URL).json()["results"][0]
    assert again["services"] == body["services"]
    assert again["member_name"] == body["member_name"] == "王丽"
    assert again["people_served"] == body["people_served"]


def test_my_certificates_are_listed_newest_first(archive, client_for):
    client = client_for(archive.world.alice.user)
    first = _issue(client)
    second = _issue(client, {"from": "2026-01-01", "to": "2026-06-30"})
    body = client.get(CERTIFICATES_URL).json()
    assert [c["id"] for c in body["results"]] == [second["id"], first["id"]]
    assert body["count"] == 2
    # Nobody else's.
    assert client_for(archive.world.bob.user).get(CERTIFICATES_URL).json()["count"] == 0


# ---------------------------------------------------------------- refusals (nothing written)


@pytest.mark.parametrize(
    ("period", "status", "code"),
    [
        ({"from": "2024-01-01", "to": "2024-12-31"}, 422, errors.NO_VERIFIED_SERVICE),
        # Only the revoked and the pending records lie in March-April 2026.
        ({"from": "2026-03-01", "to": "2026-04-30"}, 422, errors.NO_VERIFIED_SERVICE),
        ({"from": "2025-12-31", "to": "2025-01-01"}, 400, errors.INVALID_PERIOD),
        ({"from": "2024-01-01", "to": "2026-12-31"}, 400, errors.PERIOD_TOO_LONG),
        ({"from": "2025-01-01", "to": "2026-01-02"}, 400, errors.PERIOD_TOO_LONG),
        ({"from": "2025-01-01"}, 400, VALIDATION_ERROR),
        ({}, 400, VALIDATION_ERROR),
        ({"from": 20250101, "to": "2025-12-31"}, 400, VALIDATION_ERROR),
        ({"from": "2025-01-01", "to": None}, 400, VALIDATION_ERROR),
        ({"from": "2025-02-30", "to": "2025-12-31"}, 400, VALIDATION_ERROR),
        ({"from": "2025-01-01T00:00:00+08:00", "to": "2025-12-31"}, 400, VALIDATION_ERROR),
        ({**YEAR_2025, "member": 1}, 400, UNKNOWN_FIELD),
        ({**YEAR_2025, "serial": "WWQZ-2025-000001"}, 400, UNKNOWN_FIELD),
    ],
)
def test_bad_periods_are_refused_and_write_nothing(archive, client_for, period, status, code):
    response = client_for(archive.world.alice.user).post(CERTIFICATES_URL, period, format="json")
    assert_error(response, status, code)
    assert not Certificate.objects.exists()
    assert not Event.objects.filter(verb="certificate_issued").exists()


def test_a_period_of_exactly_the_maximum_is_taken(archive, client_for):
    start = SPECS[0].day
    # 366 days, inclusive (CERTIFICATE_MAX_DAYS' default).
    period = {"from": start.isoformat(), "to": (start + timedelta(days=365)).isoformat()}
    assert _issue(client_for(archive.world.alice.user), period)["service_count"] == len(SPECS)


@override_settings(CERTIFICATE_MAX_SERVICES=1)
def test_more_services_than_one_certificate_lists_is_422(archive, client_for):
    response = client_for(archive.world.alice.user).post(CERTIFICATES_URL, YEAR_2025, format="json")
    body = assert_error(response, 422, errors.TOO_MANY_SERVICES)
    assert body["max_services"] == 1 and body["services"] == len(SPECS_2025)


def test_the_refusal_names_the_maximum(archive, client_for):
    period = {"from": "2024-01-01", "to": "2025-12-31"}
    response = client_for(archive.world.alice.user).post(CERTIFICATES_URL, period, format="json")
    assert assert_error(response, 400, errors.PERIOD_TOO_LONG)["max_days"] == 366


@pytest.mark.parametrize("persona", ["mary", "lily", "sam"])
def test_only_members_ask_for_certificates(world, client_for, persona):
    response = client_for(getattr(world, persona)).post(CERTIFICATES_URL, YEAR_2025, format="json")
    assert_error(response, 403, errors.MEMBER_PROFILE_REQUIRED)


def test_a_member_without_service_gets_a_clear_refusal(archive, client_for):
    response = client_for(archive.world.charlie.user).post(
        CERTIFICATES_URL, YEAR_2025, format="json"
    )
    assert_error(response, 422, errors.NO_VERIFIED_SERVICE)


def test_anonymous_is_401(anon):
    assert anon.get(CERTIFICATES_URL).status_code == 401
    assert anon.post(CERTIFICATES_URL, YEAR_2025, format="json").status_code == 401
    assert anon.get(pdf_url(1)).status_code == 401


@override_settings(REST_FRAMEWORK=_rate("certificates", "2/min"))
def test_asking_is_throttled_per_user(archive, client_for):
    client = client_for(archive.world.alice.user)
    assert [
        client.post(CERTIFICATES_URL, YEAR_2025, format="json").status_code for _ in range(3)
    ] == [
        201,
        201,
        429,
    ]
    # Listing is not.
    assert client.get(CERTIFICATES_URL).status_code == 200


# ---------------------------------------------------------------- the PDF


def test_the_pdf_states_the_name_services_totals_serial_and_code(archive, client_for):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    response = client_for(w.alice.user).get(pdf_url(body))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = _pdf_text(response.content)
    for expected in (
        "志愿服务证明",
        w.alice.name,
        body["issuer"],
        body["serial"],
        codes.grouped(body["code"]),
        body["verify_url"],
        f"{body['service_count']}次",
        f"{body['service_hours']}小时",
        f"服务群众{body['people_served']}人次",
        f"出具日期：{timezone.localdate():%Y}年{timezone.localdate().month}月{timezone.localdate().day}日",
    ):
        assert re.sub(r"\s+", "", expected) in text, expected
    for spec in SPECS_2025:
        assert spec.day.isoformat() in text
        assert spec.title in text
        assert str(round(spec.minutes / 60, 1)) in text
    # The font is embedded (a subset), not left to the viewer.
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    descendant = next(iter(fonts.values())).get_object()["/DescendantFonts"][0].get_object()
    descriptor = descendant["/FontDescriptor"].get_object()
    assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
    # A4 portrait.
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_the_pdf_is_drawn_once_and_served_the_same(archive, client_for):
    from django.core.cache import cache

    body = _issue(client_for(archive.world.alice.user))
    first = client_for(archive.world.alice.user).get(pdf_url(body)).content
    assert cache.get(f"certificate-pdf:{body['id']}:{body['serial']}") == first
    # Staff get the same document; drawn again (cache gone) it is byte for byte the same.
    assert client_for(archive.world.sam).get(pdf_url(body)).content == first
    cache.clear()
    assert client_for(archive.world.alice.user).get(pdf_url(body)).content == first


def test_pdfium_reads_the_same_text(archive, client_for):
    body = _issue(client_for(archive.world.alice.user))
    data = client_for(archive.world.alice.user).get(pdf_url(body)).content
    assert _pdfium_text(data) == _pdf_text(data)
    assert "\x00" not in _pdfium_text(data)


def test_page_one_renders_with_text_and_a_qr_code(archive, client_for):
    body = _issue(client_for(archive.world.alice.user))
    data = client_for(archive.world.alice.user).get(pdf_url(body)).content
    page = pypdfium2.PdfDocument(data)[0]
    scale = 2
    image = page.render(scale=scale).to_pil().convert("L")
    image.save(RENDER_PATH)
    width, height = image.size
    # The title band (top fifth) and the table carry text: dark pixels there, not a blank page.
    title = image.crop((0, 0, width, height // 5))
    dark = sum(1 for value in title.tobytes() if value < 128)
    assert dark > width * 2, dark
    # The QR code is drawn where pdf.py puts it: every module's centre, sampled in the render,
    # is dark exactly where segno's matrix of the verify URL is.
    text_page = page.get_textpage()
    rects = [text_page.get_rect(i) for i in range(text_page.count_rects())]
    # The code's label is printed 4 mm below the QR block's top edge (PDF points, bottom up).
    label_top = next(
        top
        for left, bottom, right, top in rects
        if "验证码" in text_page.get_text_bounded(left, bottom, right, top)
    )
    matrix = segno.make(body["verify_url"], error="m", micro=False).matrix
    module_mm = certificate_pdf.QR_SIZE / (len(matrix) + 8)
    px_per_mm = scale * 72 / 25.4
    qr_top_mm = (page.get_height() - label_top) * 25.4 / 72 - 4
    # The label's box starts a little above its glyphs: allow a row of modules for that.
    mismatches = min(
        sum(
            (image.getpixel((
                round((certificate_pdf.MARGIN + (column + 4.5) * module_mm) * px_per_mm),
                round((qr_top_mm - shift + (row + 4.5) * module_mm) * px_per_mm),
            )) < 128) != bool(dark)
            for row, line in enumerate(matrix)
            for column, dark in enumerate(line)
        )
        for shift in (0, 0.5, 1, 1.5, 2)
    )  # fmt: skip
    assert mismatches == 0, mismatches


@pytest.mark.parametrize(("persona", "status"), [
    ("alice", 200), ("sam", 200), ("bob", 404), ("charlie", 404), ("mary", 404), ("oscar", 404),
    ("lily", 404),
])  # fmt: skip
def test_who_fetches_the_pdf(archive, client_for, persona, status):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    user = getattr(w, persona)
    response = client_for(getattr(user, "user", user)).get(pdf_url(body))
    assert response.status_code == status
    if status == 404:
        assert w.alice.name.encode() not in response.content


def test_unknown_pdf_ids_are_404(world, client_for):
    for pk in (999999, 2**64):
        assert client_for(world.sam).get(pdf_url(pk)).status_code == 404


# ---------------------------------------------------------------- public verification


def test_the_verify_page_shows_the_statement_with_the_name_masked(archive, client_for, anon):
    body = _issue(client_for(archive.world.alice.user))
    response = anon.get(f"/verify/{body['code']}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "该证明有效" in page and body["serial"] in page
    assert mask_name("王丽") in page and "王丽" not in page
    assert body["issuer"] in page
    for spec in SPECS_2025:
        assert spec.day.isoformat() in page and spec.title in page
    assert f"{body['service_hours']} 小时" in page
    # Codes as people type them: lower case, with the printed dashes.
    assert anon.get(f"/verify/{codes.grouped(body['code']).lower()}").status_code == 200


def test_the_json_twin_says_the_same(archive, client_for, anon):
    body = _issue(client_for(archive.world.alice.user))
    public = anon.get(f"/api/v1/verify/{body['code']}/").json()
    assert public["valid"] is True and public["status"] == "valid"
    assert public["member_name"] == mask_name(body["member_name"])
    for key in ("serial", "issuer", "from", "to", "issued_on", "service_count", "service_hours",
                "people_served", "services", "revoked_on"):  # fmt: skip
        assert public[key] == body[key], key
    # Nothing of the member beyond the masked name; not the code itself nor the ids.
    assert not {"member", "id", "code", "pdf_url"} & set(public)
    # A bad token does not stop a public read.
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anon.get(f"/api/v1/verify/{body['code']}/").status_code == 200


@pytest.mark.parametrize(
    "code",
    [
        "ABCDEFGHJKMNPQRS",  # well formed, unknown
        "abcd-efgh-jkmn-pqrs",
        "0000000000000000",  # letters a code never has
        "short",
        "A" * 200,
        "%27%20OR%201%3D1--",
    ],
)
def test_forged_or_unknown_codes_get_a_clear_404(archive, client_for, anon, code):
    issued = _issue(client_for(archive.world.alice.user))
    page = anon.get(f"/verify/{code}")
    assert page.status_code == 404
    text = page.content.decode()
    assert "未找到该验证码对应的志愿服务证明" in text
    assert issued["serial"] not in text and "王" not in text
    api = anon.get(f"/api/v1/verify/{code}/")
    assert_error(api, 404, "not_found")


def test_a_code_one_character_off_is_unknown(archive, client_for, anon):
    code = _issue(client_for(archive.world.alice.user))["code"]
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert anon.get(f"/verify/{forged}").status_code == 404


@override_settings(REST_FRAMEWORK=_rate("certificate_verify", "3/min"))
def test_verification_is_throttled_per_address(archive, client_for, anon):
    code = _issue(client_for(archive.world.alice.user))["code"]
    statuses = [anon.get(f"/verify/{code}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Guessing is counted too: unknown codes use up the same allowance.
    other = client_for(archive.world.bob.user)
    other.defaults["REMOTE_ADDR"] = "10.0.0.9"
    guesses = [other.get(f"/verify/{'B' * 16}").status_code for _ in range(4)]
    assert guesses == [404, 404, 404, 429]
    assert "请" in other.get(f"/verify/{code}").content.decode()
    api = [anon.get(f"/api/v1/verify/{code}/").status_code for _ in range(4)]
    assert api == [200, 200, 200, 429]


def test_the_verify_page_takes_get_only(archive, client_for, anon):
    code = _issue(client_for(archive.world.alice.user))["code"]
    assert anon.post(f"/verify/{code}").status_code == 405


# ---------------------------------------------------------------- revocation


def test_revoking_a_listed_record_marks_the_certificate_revoked(archive, client_for, anon):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    untouched = _issue(client_for(w.alice.user), {"from": "2026-01-01", "to": "2026-12-31"})
    record = archive.records[0]
    response = client_for(w.sam).post(
        f"/api/v1/records/{record.pk}/revoke/", {"reason": "重复登记"}, format="json"
    )
    assert response.status_code == 200, response.content
    certificate = Certificate.objects.get(pk=body["id"])
    assert certificate.status == "revoked" and certificate.revoked_record == record
    assert certificate.revoke_reason == "重复登记"
    # What it states stays as issued.
    mine = {c["id"]: c for c in client_for(w.alice.user).get(CERTIFICATES_URL).json()["results"]}
    assert mine[body["id"]]["services"] == body["services"]
    assert Certificate.objects.get(pk=untouched["id"]).status == "valid"
    page = anon.get(f"/verify/{body['code']}").content.decode()
    today = timezone.localdate()
    assert f"该证明已于 {today.year}年{today.month}月{today.day}日 撤销" in page
    assert "重复登记" not in page
    public = anon.get(f"/api/v1/verify/{body['code']}/").json()
    assert public["valid"] is False and public["revoked_on"] == today.isoformat()
    assert {pk: c["status"] for pk, c in mine.items()} == {
        body["id"]: "revoked",
        untouched["id"]: "valid",
    }
    event = Event.objects.get(verb="certificate_revoked")
    assert event.actor == w.sam and event.payload["record"] == record.pk


def test_a_revocation_that_fails_revokes_no_certificate(archive, client_for):
    w = archive.world
    body = _issue(client_for(w.alice.user))
    response = client_for(w.sam).post(
        f"/api/v1/records/{archive.revoked.pk}/revoke/", {"reason": "再次"}, format="json"
    )
    assert_error(response, 409, errors.RECORD_NOT_VERIFIED)
    assert Certificate.objects.get(pk=body["id"]).status == "valid"


def test_a_record_revoked_before_issue_is_not_listed(archive, client_for):
    w = archive.world
    revoke_record(actor=w.sam, record_id=archive.records[0].pk, reason="误记")
    body = _issue(client_for(w.alice.user))
    assert body["service_count"] == len(SPECS_2025) - 1
    certificate = Certificate.objects.get(pk=body["id"])
    assert archive.records[0].pk not in {s["record"] for s in certificate.services}
    assert archive.records[0].pk not in set(certificate.records.values_list("pk", flat=True))


def test_staff_read_certificates_in_the_admin_and_cannot_change_them(archive, client_for, client):
    from tests.factories import UserFactory

    body = _issue(client_for(archive.world.alice.user))
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    listing = client.get("/admin/services/certificate/")
    assert listing.status_code == 200 and body["serial"] in listing.content.decode()
    page = client.get(f"/admin/services/certificate/{body['id']}/change/")
    assert page.status_code == 200
    assert client.get("/admin/services/certificate/add/").status_code == 403
    response = client.post(f"/admin/services/certificate/{body['id']}/delete/", {"post": "yes"})
    assert response.status_code == 403 and Certificate.objects.filter(pk=body["id"]).exists()
