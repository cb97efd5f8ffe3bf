"""Excel roster import: good files, bad rows (nothing written), re-import, bad files, command."""

from __future__ import annotations

import io
import zipfile
from io import StringIO

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from accounts import errors
from accounts.models import Event, User
from members import errors as member_errors
from members.models import Member
from members.roster import XLSX_CONTENT_TYPE
from tests.factories import MemberFactory, SpecialtyFactory, UserFactory
from tests.test_errors import assert_error

HEADERS = ["姓名", "手机号", "界别", "团队", "专长", "常住地纬度", "常住地经度"]
URL = "/api/v1/members/import/"


def xlsx(rows, headers=HEADERS, *, extra_sheet=False, formula_cell=None) -> bytes:
    """A workbook built in memory: headers, then rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "名单"
    if headers is not None:
        sheet.append(headers)
    for row in rows:
        sheet.append(row)
    if formula_cell:
        sheet[formula_cell] = "=1+1"
    if extra_sheet:
        book.create_sheet("说明").append(["请按模板填写"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client, content: bytes, name: str = "名单.xlsx"):
    file = SimpleUploadedFile(name, content, content_type=XLSX_CONTENT_TYPE)
    return client.post(URL, {"file": file}, format="multipart")


def snapshot() -> tuple[int, int, int, list]:
    return (
        Member.objects.count(),
        User.objects.count(),
        Event.objects.count(),
        list(
            Member.objects.order_by("id").values(
                "id", "name", "phone", "team_id", "sector", "active"
            )
        ),
    )


@pytest.fixture
def staff(world, client_for):
    return client_for(world.sam)


GOOD = [
    ["周舟", "13900000001", "经济界", "法律服务团", "法律、medical", 30.02, 122.1],
    ["吴越", 13900000002, "医药卫生界", "医卫服务团", "医疗卫生", None, None],
    ["郑和", "+86 139-0000-0003", "", "", "", "", ""],
    ["孙权", "１３９０００００００４", "民建", None, "law,医疗卫生；法律", "30.1", "122.2"],
]


def test_a_good_roster_creates_members_and_accounts(world, staff):
    response = upload(staff, xlsx(GOOD))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["rows"], body["created"], body["updated"]) == (4, 4, 0)
    assert [a["row"] for a in body["accounts"]] == [2, 3, 4, 5]
    assert {a["phone"] for a in body["accounts"]} == {f"1390000000{i}" for i in range(1, 5)}
    assert all(len(a["activation_code"]) == 8 for a in body["accounts"])

    zhou = Member.objects.select_related("user", "team").get(phone="13900000001")
    assert (zhou.name, zhou.sector, zhou.team) == ("周舟", "经济界", world.team)
    assert set(zhou.specialties.all()) == {world.law, world.medical}
    assert (zhou.home_lat, zhou.home_lng) == (30.02, 122.1)
    assert zhou.user.username == "13900000001" and zhou.user.is_member
    assert not zhou.user.has_usable_password()
    wu = Member.objects.get(phone="13900000002")
    assert (wu.team, wu.home_lat) == (world.other_team, None)
    zheng = Member.objects.get(phone="13900000003")
    assert (zheng.team, list(zheng.specialties.all())) == (None, [])
    sun = Member.objects.get(phone="13900000004")
    assert set(sun.specialties.all()) == {world.law, world.medical}
    assert (sun.home_lat, sun.home_lng) == (30.1, 122.2)
    assert Event.objects.filter(verb="member.created", payload__source="roster").count() == 4

    # The codes work: a member activates and logs in.
    code = body["accounts"][0]["activation_code"]
    activated = staff.post(
        "/api/v1/members/activate/",
        {"phone": "13900000001", "code": code, "password": "Haishang-Mingyue-7"},
    )
    assert activated.status_code == 204


def test_reimport_updates_without_duplicates_and_keeps_codes(world, staff):
    first = upload(staff, xlsx(GOOD)).json()
    before_users = User.objects.count()
    changed = [
        ["周舟舟", "13900000001", "经济界", "医卫服务团", "", 30.03, 122.11],
        ["吴越", "13900000002", "医药卫生界", "", "法律", None, None],
        ["新人", "13900000005", "教育界", "", "", None, None],
    ]
    response = upload(staff, xlsx(changed))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 2)
    assert [a["phone"] for a in body["accounts"]] == ["13900000005"]
    assert User.objects.count() == before_users + 1
    assert Member.objects.filter(phone__startswith="1390000000").count() == 5
    zhou = Member.objects.select_related("user").get(phone="13900000001")
    assert (zhou.name, zhou.user.name, zhou.team) == ("周舟舟", "周舟舟", world.other_team)
    assert list(zhou.specialties.all()) == []  # a blank cell in a present column clears
    assert (zhou.home_lat, zhou.home_lng) == (30.03, 122.11)
    wu = Member.objects.get(phone="13900000002")
    assert wu.team is None and list(wu.specialties.all()) == [world.law]
    # The first import's codes still work: re-importing does not rotate them.
    code = first["accounts"][1]["activation_code"]
    assert (
        staff.post(
            "/api/v1/members/activate/",
            {"phone": "13900000002", "code": code, "password": "Haishang-Mingyue-7"},
        ).status_code
        == 204
    )


def test_absent_columns_leave_fields_alone_and_listed_members_come_back(world, staff):
    Member.objects.filter(pk=world.alice.pk).update(active=False)
    response = upload(staff, xlsx([["王丽", "13800001111"]], headers=["姓名", "手机号"]))
    assert response.status_code == 200, response.content
    assert response.json()["updated"] == 1
    world.alice.refresh_from_db()
    assert world.alice.active and world.alice.team == world.team
    assert list(world.alice.specialties.all()) == [world.law]
    world.alice.user.refresh_from_db()
    assert world.alice.user.is_member


def test_a_roster_with_bad_rows_names_every_one_and_writes_nothing(world, staff):
    SpecialtyFactory(code="old", name="旧专长", active=False)
    other = MemberFactory(
        user=UserFactory(username="13900000077", phone="13900000066"), phone="13900000066"
    )
    assert other.user.username == "13900000077"
    rows = [
        ["周舟", "13900000001", "经济界", "法律服务团", "法律", 30.02, 122.1],  # 2: fine
        ["", "13900000002", "", "", "", None, None],  # 3: no name
        ["吴越", "1390000", "", "", "", None, None],  # 4: malformed phone
        ["郑和", "13900000004", "", "不存在的团队", "", None, None],  # 5: unknown team
        ["孙权", "13900000005", "", "", "法律、魔法、旧专长", None, None],  # 6: unknown specialties
        ["周舟二", "13900000001", "", "", "", None, None],  # 7: duplicate phone of row 2
        ["刘备", "13900000008", "", "", "", 91, 122],  # 8: latitude out of range
        ["关羽", "13900000009", "", "", "", 30, None],  # 9: latitude without longitude
        ["张飞", "13900000010", "", "", "", "北纬", "东经"],  # 10: not numbers
        ["赵云", "13900000077", "", "", "", None, None],  # 11: another member's login
        ["x" * 51, "", "", "", "", None, None],  # 12: name too long, no phone
    ]
    before = snapshot()
    response = upload(staff, xlsx(rows))
    body = assert_error(response, 400, member_errors.ROSTER_INVALID)
    fields = body["fields"]
    assert set(fields) == {
        "row 3.姓名",
        "row 4.手机号",
        "row 5.团队",
        "row 6.专长",
        "row 7.手机号",
        "row 8.常住地纬度",
        "row 9.常住地经度",
        "row 10.常住地纬度",
        "row 10.常住地经度",
        "row 11.手机号",
        "row 12.姓名",
        "row 12.手机号",
    }
    assert len(fields["row 6.专长"]) == 2  # 魔法 and 旧专长
    assert "第 2 行" in fields["row 7.手机号"][0]
    assert "10 行" in body["detail"]
    assert snapshot() == before


def test_header_aliases_and_extra_columns(world, staff):
    content = xlsx(
        [["周舟", "13900000001", "备注随意", 30.0, 122.0]],
        headers=["姓名", "手机号码", "备注", "纬度", "经度"],
    )
    response = upload(staff, content)
    assert response.status_code == 200, response.content
    assert Member.objects.get(phone="13900000001").home_lat == 30.0


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        (["名字", "手机号"], "姓名"),
        (["姓名", "电话号码"], "手机号"),
        (["姓名", "手机号", "常住地纬度"], "常住地经度"),
        (["姓名", "手机号", "手机"], "重复"),
    ],
)
def test_missing_or_broken_headers(world, staff, headers, missing):
    before = snapshot()
    response = upload(staff, xlsx([["周舟", "13900000001", "x"]], headers=headers))
    body = assert_error(response, 400, member_errors.ROSTER_MISSING_HEADERS)
    assert missing in body["detail"]
    assert snapshot() == before


def test_headers_must_be_on_the_first_row(world, staff):
    content = xlsx([[None], HEADERS, ["周舟", "13900000001"]], headers=None)
    assert_error(upload(staff, content), 400, member_errors.ROSTER_MISSING_HEADERS)


def test_empty_rosters(world, staff):
    assert_error(upload(staff, xlsx([])), 400, member_errors.ROSTER_EMPTY)
    assert_error(upload(staff, xlsx([], headers=None)), 400, member_errors.ROSTER_EMPTY)


def test_formulas_are_refused(world, staff):
    before = snapshot()
    response = upload(staff, xlsx(GOOD, formula_cell="C3"))
    body = assert_error(response, 400, member_errors.ROSTER_FORMULAS)
    assert body["fields"]["cells"] == ["C3"]
    assert "C3" in body["detail"]
    assert snapshot() == before


def test_more_than_one_sheet_is_refused(world, staff):
    before = snapshot()
    response = upload(staff, xlsx(GOOD, extra_sheet=True))
    body = assert_error(response, 400, member_errors.ROSTER_EXTRA_SHEETS)
    assert "说明" in body["detail"]
    assert snapshot() == before


def zip_with(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("姓名,手机号\n周舟,13900000001\n".encode(), "名单.csv"),
        ("姓名,手机号\n周舟,13900000001\n".encode(), "名单.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "名单.xls"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "名单.xlsx"),
        (b"PK\x03\x04 but not really a zip", "名单.xlsx"),
        (zip_with({"word/document.xml": b"<w/>"}), "名单.xlsx"),
        (zip_with({"xl/workbook.xml": b"<not a workbook"}), "名单.xlsx"),
        (zip_with({"xl/workbook.xml": b"<x/>", "xl/vbaProject.bin": b"macro"}), "名单.xlsx"),
    ],
)
def test_non_xlsx_uploads_are_refused(world, staff, content, name):
    before = snapshot()
    assert_error(upload(staff, content, name=name), 400, member_errors.ROSTER_NOT_XLSX)
    assert snapshot() == before


def test_a_good_workbook_with_another_extension_is_refused(world, staff):
    assert_error(upload(staff, xlsx(GOOD), name="名单.xlsm"), 400, member_errors.ROSTER_NOT_XLSX)


def test_oversized_rosters_are_refused(world, staff, settings):
    content = xlsx(GOOD)
    settings.ROSTER_MAX_BYTES = len(content) - 1
    before = snapshot()
    assert_error(upload(staff, content), 413, member_errors.ROSTER_TOO_LARGE)
    settings.ROSTER_MAX_BYTES = 1024 * 1024
    settings.ROSTER_MAX_UNPACKED_BYTES = 2048  # a zip bomb's unpacked size
    assert_error(upload(staff, content), 413, member_errors.ROSTER_TOO_LARGE)
    settings.ROSTER_MAX_UNPACKED_BYTES = 20 * 1024 * 1024
    settings.ROSTER_MAX_ROWS = 3
    assert_error(upload(staff, content), 400, member_errors.ROSTER_TOO_MANY_ROWS)
    assert snapshot() == before


def test_bodies_over_the_request_limit_are_refused_before_parsing(world, staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = upload(staff, b"PK\x03\x04" + b"x" * 10_000)
    assert_error(response, 413, errors.REQUEST_TOO_LARGE)


def test_the_upload_must_be_multipart_with_a_file(world, staff):
    assert_error(staff.post(URL, {"file": "x"}), 415, errors.UNSUPPORTED_MEDIA_TYPE)
    body = assert_error(staff.post(URL, {}, format="multipart"), 400, errors.VALIDATION_ERROR)
    assert "file" in body["fields"]
    empty = SimpleUploadedFile("名单.xlsx", b"", content_type=XLSX_CONTENT_TYPE)
    body = assert_error(
        staff.post(URL, {"file": empty}, format="multipart"), 400, errors.VALIDATION_ERROR
    )
    assert "file" in body["fields"]


@pytest.mark.parametrize("who", ["alice", "mary", "lily"])
def test_only_staff_import(world, client_for, who):
    user = {"alice": world.alice.user, "mary": world.mary, "lily": world.lily}[who]
    before = snapshot()
    assert_error(upload(client_for(user), xlsx(GOOD)), 403, errors.PERMISSION_DENIED)
    assert_error(client_for(user).get(f"{URL}template/"), 403, errors.PERMISSION_DENIED)
    assert snapshot() == before


def test_anonymous_cannot_import(world, anon):
    assert_error(upload(anon, xlsx(GOOD)), 401, errors.NOT_AUTHENTICATED)


def test_the_template_downloads_and_imports(world, staff):
    response = staff.get(f"{URL}template/")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert "attachment" in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["委员名单"]
    rows = list(book.active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    assert rows[1][0] == "王小明" and rows[1][3] == world.team.name
    imported = upload(staff, response.content)
    assert imported.status_code == 200, imported.content
    assert Member.objects.get(phone="13900000000").team == world.team
    accept = staff.get(f"{URL}template/", HTTP_ACCEPT=XLSX_CONTENT_TYPE)
    assert accept.status_code == 200


def test_the_command_uses_the_same_checks(world, tmp_path):
    good = tmp_path / "roster.xlsx"
    good.write_bytes(xlsx(GOOD))
    out = StringIO()
    call_command("import_roster", str(good), stdout=out)
    text = out.getvalue()
    assert "新建 4" in text and "13900000001" in text
    assert Member.objects.filter(phone__startswith="1390000000").count() == 4
    assert Event.objects.filter(verb="member.created", actor=None).count() == 4

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx([["", "123"]]))
    before = snapshot()
    with pytest.raises(CommandError) as caught:
        call_command("import_roster", str(bad), stdout=StringIO())
    assert "row 2.姓名" in str(caught.value) and "row 2.手机号" in str(caught.value)
    assert snapshot() == before
    with pytest.raises(CommandError):
        call_command("import_roster", str(tmp_path / "missing.xlsx"), stdout=StringIO())


def test_the_command_records_the_actor(world, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx(GOOD[:1]))
    call_command("import_roster", str(path), "--actor", "sam", stdout=StringIO())
    assert Event.objects.filter(verb="member.created", actor=world.sam).count() == 1
    with pytest.raises(CommandError):
        call_command("import_roster", str(path), "--actor", "nobody", stdout=StringIO())
