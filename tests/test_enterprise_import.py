"""Enterprise workbooks (企业名单): the template, every row error at once, all or nothing."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from services.enterprises import errors
from services.enterprises.imports import COLUMNS
from services.models import Enterprise
from tests.enterprise_fixtures import VALID_CODES

pytestmark = pytest.mark.django_db

URL = "/api/v1/enterprises/import/"


def workbook(rows: list[list], headers: list[str] | None = None) -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    book.active.append(headers or list(COLUMNS.values()))
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("enterprises.xlsx", buffer.getvalue())


def good_row(world, code: str, name: str = "示例企业") -> list:
    return [name, code, world.town.name, world.station.name, 30.03, 122.11, "", "定海区示例路",
            "港航物流", "否", "李经理", "13900002222"]  # fmt: skip


def test_the_template_downloads_with_its_headers(world, client_for):
    response = client_for(world.sam).get("/api/v1/enterprises/import/template/")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]] == list(COLUMNS.values())


def test_a_good_workbook_creates_every_enterprise(world, client_for):
    upload = workbook([good_row(world, VALID_CODES[0]), good_row(world, VALID_CODES[1], "乙企业")])
    response = client_for(world.sam).post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2
    stored = Enterprise.objects.get(credit_code=VALID_CODES[1])
    assert (stored.station_id, stored.contact_phone, stored.key_project) == (
        world.station.pk,
        "13900002222",
        False,
    )


def test_row_errors_are_listed_and_nothing_is_imported(world, client_for):
    Enterprise.objects.all().delete()
    rows = [
        good_row(world, VALID_CODES[0]),
        good_row(world, "91350100M000100Y44"),  # wrong check character
        good_row(world, VALID_CODES[0], "重复企业"),  # repeats row 2
        [*good_row(world, VALID_CODES[2])[:2], "没有这个街道", *good_row(world, "")[3:]],
        [*good_row(world, VALID_CODES[3])[:9], "也许", "王", "123"],
        [*good_row(world, VALID_CODES[4])[:4], 95, 122.11, "bd09", *good_row(world, "")[7:]],
    ]
    response = client_for(world.sam).post(URL, {"file": workbook(rows)}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == errors.ENTERPRISE_IMPORT_INVALID
    assert set(body["fields"]) >= {
        "row 3.统一社会信用代码",
        "row 4.统一社会信用代码",
        "row 5.镇/街道",
        "row 6.重点项目企业",
        "row 6.联系电话",
        "row 7.坐标系",
    }
    assert "row 2.统一社会信用代码" not in body["fields"]
    assert Enterprise.objects.count() == 0


def test_a_code_already_on_the_books_fails_its_row(world, client_for):
    client_for(world.sam).post(
        URL, {"file": workbook([good_row(world, VALID_CODES[0])])}, format="multipart"
    )
    again = client_for(world.sam).post(
        URL,
        {"file": workbook([good_row(world, VALID_CODES[1]), good_row(world, VALID_CODES[0])])},
        format="multipart",
    )
    assert again.status_code == 400
    assert list(again.json()["fields"]) == ["row 3.统一社会信用代码"]
    assert Enterprise.objects.count() == 1


def test_missing_headers_and_non_workbooks_are_refused(world, client_for):
    sam = client_for(world.sam)
    missing = sam.post(URL, {"file": workbook([["甲"]], headers=["企业名称"])}, format="multipart")
    assert missing.status_code == 400 and "headers" in missing.json()["fields"]
    fake = SimpleUploadedFile("enterprises.xlsx", b"not a workbook")
    assert sam.post(URL, {"file": fake}, format="multipart").status_code == 400
    empty = sam.post(URL, {"file": workbook([])}, format="multipart")
    assert empty.status_code == 400
    assert Enterprise.objects.count() == 0


def test_only_staff_import(world, client_for):
    upload = workbook([good_row(world, VALID_CODES[0])])
    response = client_for(world.mary).post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 403 and Enterprise.objects.count() == 0
