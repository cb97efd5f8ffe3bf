"""群众点单: intake codes, QR posters, the public page and POST intake/, and its abuse rules
(docs/intake.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache

from accounts.models import Event, Notification, User
from services.intake import codes
from services.intake import errors as intake_errors
from services.models import Intake, IntakeCode
from tests import intake_fixtures, services_fixtures
from tests.factories import ServiceRequestFactory, SpecialtyFactory, VillageFactory
from tests.fake_wechat import ok
from tests.intake_fixtures import (
    INTAKE_URL,
    api_body,
    code_of,
    csrf_token,
    form_client,
    only_intake,
    submit_form,
)

# Shared fixtures (pytest finds fixtures among module attributes).
station_code = intake_fixtures.station_code
village_code = intake_fixtures.village_code
campaign = services_fixtures.campaign

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- codes and posters


def test_code_is_stable_and_unguessable_alphabet(world):
    first = code_of(world)
    assert code_of(world).pk == first.pk
    assert len(first.code) == codes.CODE_LENGTH
    assert set(first.code) <= set(codes.ALPHABET)
    village = code_of(world, village=world.village)
    assert village.pk != first.pk and village.village_id == world.village.pk
    assert Event.objects.filter(verb="intake_code_issued").count() == 2


def test_station_poster_svg_carries_name_instructions_and_qr(world, client_for):
    response = client_for(world.mary).get(f"/api/v1/stations/{world.station.pk}/qr/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    code = IntakeCode.objects.get(station=world.station, village__isnull=True, active=True)
    assert response["X-Intake-Code"] == code.code
    root = ET.fromstring(response.content)  # noqa: S314 - our own response
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert world.station.name in texts
    assert codes.INSTRUCTIONS[0] in texts and codes.INSTRUCTIONS[1] in texts
    assert f"入口码 {code.code}" in texts
    # The nested QR symbol: a path of modules.
    assert any(el.tag.endswith("path") for el in root.iter())


def test_village_poster_png_and_name(world, client_for):
    response = client_for(world.sam).get(f"/api/v1/villages/{world.village.pk}/qr/?format=png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client_for(world.mary).get(f"/api/v1/villages/{world.village.pk}/qr/?format=svg")
    assert "昌国协商驿站 · 新螺头村".encode() in svg.content


def test_poster_url_uses_public_base(world, client_for, settings):
    settings.INTAKE_PUBLIC_BASE_URL = "https://zhdh.example.cn"
    code = code_of(world)
    assert codes.intake_url(code) == f"https://zhdh.example.cn/q/{code.code}/"


@pytest.mark.parametrize("who", ["oscar", "alice", "lily"])
def test_poster_refused_to_others(world, client_for, who):
    user = getattr(world, who)
    user = getattr(user, "user", user)
    response = client_for(user).get(f"/api/v1/stations/{world.station.pk}/qr/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    response = client_for(user).get(f"/api/v1/villages/{world.village.pk}/qr/")
    assert response.status_code == 403
    assert not IntakeCode.objects.exists()


def test_poster_bad_inputs(world, client_for, anon):
    assert anon.get(f"/api/v1/stations/{world.station.pk}/qr/").status_code == 401
    mary = client_for(world.mary)
    assert mary.get("/api/v1/stations/999999/qr/").status_code == 404
    assert mary.get(f"/api/v1/stations/{2**64}/qr/").status_code == 404
    bad = mary.get(f"/api/v1/stations/{world.station.pk}/qr/?format=gif")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    unserved = VillageFactory(name="无驿站村", town=world.town, station=None)
    assert client_for(world.sam).get(f"/api/v1/villages/{unserved.pk}/qr/").status_code == 403


def test_retire_code_shows_retired_page_and_issues_new(world, client_for):
    old = code_of(world)
    response = client_for(world.mary).post(f"/api/v1/stations/{world.station.pk}/qr/retire/")
    assert response.status_code == 200 and response.json()["code"] == old.code
    page = form_client().get(f"/q/{old.code}/")
    assert page.status_code == 410
    assert "该二维码已停用" in page.content.decode()
    new = code_of(world)
    assert new.code != old.code and new.active
    denied = client_for(world.oscar).post(f"/api/v1/stations/{world.station.pk}/qr/retire/")
    assert denied.status_code == 403
    village = client_for(world.mary).post(f"/api/v1/villages/{world.village.pk}/qr/retire/")
    assert village.status_code == 200


# ---------------------------------------------------------------- the public page


def test_form_page_is_light_and_chinese(world, village_code):
    page = form_client().get(f"/q/{village_code.code}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'lang="zh-CN"' in html and "说出您的急难愁盼" in html
    assert "<script" not in html
    assert len(page.content) < 12_000
    assert 'name="website"' in html and "csrfmiddlewaretoken" in html
    assert world.village.name in html


def test_form_submits_and_redirects_to_ticket(world, village_code):
    response = submit_form(
        form_client(),
        village_code,
        description="家里老人想咨询赡养纠纷",
        phone="139 0000 1111",
        specialty=str(world.law.pk),
    )
    assert response.status_code == 303
    intake = only_intake()
    assert response["Location"] == f"/q/t/{intake.ticket}/"
    assert intake.village_id == world.village.pk and intake.station_id == world.station.pk
    assert intake.phone == "13900001111" and intake.specialty_id == world.law.pk
    assert intake.source == Intake.Source.WEB and intake.status == Intake.Status.NEW
    event = Event.objects.get(verb="intake_submitted")
    # The audit trail keeps neither the resident's text nor their phone.
    assert "13900001111" not in str(event.payload) and "赡养" not in str(event.payload)
    notice = Notification.objects.get(kind="intake_received", user=world.mary)
    assert "赡养" not in notice.body


def test_station_form_lets_the_resident_pick_a_served_village(world, station_code):
    response = submit_form(
        form_client(), station_code, description="需要法律咨询", village=str(world.village.pk)
    )
    assert response.status_code == 303
    assert only_intake().village_id == world.village.pk


def test_form_refuses_village_of_another_station(world, station_code):
    response = submit_form(
        form_client(), station_code, description="需要法律咨询", village=str(world.other_village.pk)
    )
    assert response.status_code == 400
    assert "该村/社区不由本驿站服务" in response.content.decode()
    assert not Intake.objects.exists()


def test_form_without_csrf_token_is_refused_in_chinese(world, village_code):
    client = form_client()
    client.get(f"/q/{village_code.code}/")
    response = client.post(f"/q/{village_code.code}/", {"description": "没有令牌"})
    assert response.status_code == 403
    assert "安全校验失败" in response.content.decode()
    assert not Intake.objects.exists()


def test_form_honeypot_refused(world, village_code):
    client = form_client()
    page = client.get(f"/q/{village_code.code}/")
    response = client.post(
        f"/q/{village_code.code}/",
        {"csrfmiddlewaretoken": csrf_token(page), "description": "买药请加微信", "website": "x.cn"},
    )
    assert response.status_code == 400
    assert intake_errors.IntakeRefused.default_detail in response.content.decode()
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"description": ""}, "description", "不能为空"),
        ({"description": "\u200b\u200d\ufeff \u3000"}, "description", "不能为空"),
        ({"description": "修路" * 501}, "description", "1000"),
        ({"description": "修路", "phone": "12345"}, "phone", "大陆手机号"),
        ({"description": "修路", "phone": "0580-2021234"}, "phone", "大陆手机号"),
        ({"description": "修路", "specialty": "abc"}, "specialty", "整数"),
        ({"description": "修路", "specialty": "99999"}, "specialty", "不存在"),
    ],
)
def test_form_bad_fields_shown_in_chinese(world, village_code, fields, field, message):
    response = submit_form(form_client(), village_code, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html, html
    assert "请修改标红的内容" in html
    assert not Intake.objects.exists()


def test_unknown_code_page(world, db):
    for code in ("abcdefghjk", "short", "ABCDEFGHJK", "x" * 200):
        page = form_client().get(f"/q/{code}/")
        assert page.status_code == 404
        assert "二维码无效" in page.content.decode()


def test_retired_station_code_page(world, village_code):
    world.station.active = False
    world.station.save()
    assert form_client().get(f"/q/{village_code.code}/").status_code == 410


def test_flood_from_one_address_is_throttled(world, village_code, settings):
    settings.INTAKE_RATE_PER_ADDRESS = "3/hour"
    client = form_client()
    statuses = [
        submit_form(client, village_code, description=f"第{n}条诉求：路灯坏了{n}盏").status_code
        for n in range(5)
    ]
    assert statuses == [303, 303, 303, 429, 429]
    assert Intake.objects.count() == 3
    last = submit_form(client, village_code, description="再来一次")
    assert "提交过于频繁" in last.content.decode()
    # Another address is counted apart.
    other = submit_form(client, village_code, description="另一个地址", _addr="10.0.0.9")
    assert other.status_code == 303


def test_per_phone_throttle(world, village_code, anon, settings):
    settings.INTAKE_RATE_PER_PHONE = "2/day"
    bodies = [
        api_body(village_code, description=f"诉求{n}：需要{n}次上门", phone="13900002222")
        for n in range(3)
    ]
    statuses = [
        anon.post(INTAKE_URL, b, format="json", REMOTE_ADDR=f"10.0.0.{i}").status_code
        for i, b in enumerate(bodies)
    ]
    assert statuses == [201, 201, 429]
    assert Intake.objects.count() == 2


def test_same_phone_same_need_is_a_duplicate(world, village_code, anon):
    body = api_body(village_code, phone="13900003333")
    assert anon.post(INTAKE_URL, body, format="json").status_code == 201
    again = anon.post(
        INTAKE_URL, {**body, "description": body["description"] + "！"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "intake_duplicate"
    assert Intake.objects.count() == 1


def test_similar_needs_are_flagged_for_the_manager(world, village_code, anon, campaign):
    existing = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=campaign,
        title="村口路灯坏了一个多月",
        lat=world.village.lat,
        lng=world.village.lng,
    )
    assert anon.post(INTAKE_URL, api_body(village_code), format="json").status_code == 201
    second = api_body(village_code, description="村口路灯坏了一个多月，晚上出行不便")
    assert anon.post(INTAKE_URL, second, format="json").status_code == 201
    first, last = Intake.objects.order_by("id")
    assert first.possible_duplicates["requests"] == [existing.pk]
    assert last.possible_duplicates["intakes"] == [first.pk]


# ---------------------------------------------------------------- POST intake/ (mini-program)


def test_api_submission_answers_the_ticket(world, station_code, anon):
    response = anon.post(INTAKE_URL, api_body(station_code, phone="+86 13900004444"), format="json")
    assert response.status_code == 201
    intake = only_intake()
    assert response.json() == {
        "ticket": intake.ticket,
        "ticket_url": f"http://testserver/q/t/{intake.ticket}/",
        "status": "new",
    }
    assert intake.phone == "13900004444" and intake.source == Intake.Source.MINIPROGRAM


def test_api_ignores_a_stale_token(world, station_code, anon):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anon.post(INTAKE_URL, api_body(station_code), format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"code": "abcdefghjk"}, 404, "intake_code_unknown"),
        ({"code": 12}, 400, "validation_error"),
        ({"description": 5}, 400, "validation_error"),
        ({"description": "\u200b\u2060"}, 400, "validation_error"),
        ({"description": "长" * 1001}, 400, "validation_error"),
        ({"phone": "1390000"}, 400, "validation_error"),
        ({"specialty": "1"}, 400, "validation_error"),
        ({"village": True}, 400, "validation_error"),
        ({"website": ""}, 400, "unknown_field"),
        ({"status": "accepted"}, 400, "read_only_field"),
    ],
)
def test_api_bad_inputs(world, station_code, anon, change, status, code):
    response = anon.post(INTAKE_URL, api_body(station_code, **change), format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert not Intake.objects.exists()


def test_api_missing_fields(world, anon, station_code):
    response = anon.post(INTAKE_URL, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"code", "description"}


def test_api_retired_code(world, station_code, anon):
    codes.retire_code(actor=world.mary, station=world.station)
    response = anon.post(INTAKE_URL, api_body(station_code), format="json")
    assert response.status_code == 410 and response.json()["code"] == "intake_code_retired"


def test_api_village_code_refuses_another_village(world, village_code, anon):
    other = VillageFactory(name="马岙村", town=world.town, station=world.station)
    response = anon.post(INTAKE_URL, api_body(village_code, village=other.pk), format="json")
    assert response.status_code == 400 and "village" in response.json()["fields"]


def test_api_inactive_specialty(world, station_code, anon):
    old = SpecialtyFactory(code="old", name="旧类型", active=False)
    response = anon.post(INTAKE_URL, api_body(station_code, specialty=old.pk), format="json")
    assert response.status_code == 400


def test_wechat_code_makes_a_resident_known_by_openid(world, station_code, anon, wechat):
    response = anon.post(
        INTAKE_URL, api_body(station_code, wechat_code=ok("o-resident-1")), format="json"
    )
    assert response.status_code == 201, response.json()
    resident = User.objects.get(wechat_openid="o-resident-1")
    assert not resident.has_usable_password() and resident.roles == []
    assert only_intake().resident_id == resident.pk
    # The same WeChat user again: the same account.
    body = api_body(station_code, wechat_code=ok("o-resident-1"), description="另一件事：修水管")
    assert anon.post(INTAKE_URL, body, format="json").status_code == 201
    assert User.objects.filter(wechat_openid="o-resident-1").count() == 1


def test_invalid_wechat_code_writes_nothing(world, station_code, anon, wechat):
    response = anon.post(INTAKE_URL, api_body(station_code, wechat_code="nope"), format="json")
    assert response.status_code == 401 and response.json()["code"] == "wechat_code_invalid"
    assert not Intake.objects.exists()


def test_nothing_a_resident_writes_is_public(world, village_code, anon, client_for):
    submit_form(form_client(), village_code, description="隐私内容：家中纠纷", phone="13900005555")
    for client in (
        anon,
        client_for(world.alice.user),
        client_for(world.lily),
        client_for(world.oscar),
    ):
        listing = client.get(INTAKE_URL)
        assert listing.status_code in (401, 403) or listing.json()["count"] == 0
        assert "隐私内容" not in listing.content.decode()
    ticket = form_client().get(f"/q/t/{only_intake().ticket}/").content.decode()
    assert "隐私内容" not in ticket and "13900005555" not in ticket


def test_cache_keys_hold_no_phone(world, village_code, anon):
    anon.post(INTAKE_URL, api_body(village_code, phone="13900006666"), format="json")
    keys = list(cache._cache.keys())  # the tests' LocMemCache
    assert any(":intake:phone:" in key for key in keys)
    assert not any("13900006666" in key for key in keys)


def test_retention_purge_forgets_old_intake_phones(world, village_code, anon):
    from datetime import timedelta

    from django.utils import timezone

    from services.retention import purge_personal_data

    anon.post(INTAKE_URL, api_body(village_code, phone="13900007777"), format="json")
    anon.post(
        INTAKE_URL,
        api_body(village_code, phone="13900008888", description="新的：修桥"),
        format="json",
    )
    old, new = Intake.objects.order_by("id")
    Intake.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    dry = purge_personal_data(days=180, dry_run=True)
    assert dry.intakes == 1
    report = purge_personal_data(days=180)
    assert report.intakes == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.phone == "" and new.phone == "13900008888"
    assert purge_personal_data(days=180).intakes == 0
    purged = Event.objects.get(verb="personal_data_purged")
    assert purged.payload["intakes"] == 1


def test_retention_purge_unbinds_residents_whose_intakes_all_ended(
    world, village_code, anon, wechat
):
    """A resident known only by openid: once every intake of theirs is past retention the
    account loses its openid and the name derived from it; one with a recent intake keeps it;
    the same WeChat user coming back gets a new account."""
    from datetime import timedelta

    from django.utils import timezone

    from services.retention import purge_personal_data

    for openid, text in (("o-old", "旧的：路灯坏了"), ("o-both", "旧的：水管漏了")):
        body = api_body(village_code, wechat_code=ok(openid), description=text)
        assert anon.post(INTAKE_URL, body, format="json").status_code == 201
    body = api_body(village_code, wechat_code=ok("o-both"), description="新的：修桥")
    assert anon.post(INTAKE_URL, body, format="json").status_code == 201
    old_intakes = Intake.objects.filter(description__startswith="旧的")
    old_intakes.update(created_at=timezone.now() - timedelta(days=400))
    gone = User.objects.get(wechat_openid="o-old")
    both = User.objects.get(wechat_openid="o-both")
    member_before = User.objects.filter(is_member=True).values_list("pk", "wechat_openid")

    assert purge_personal_data(days=180, dry_run=True).residents == 1
    assert User.objects.get(pk=gone.pk).wechat_openid == "o-old"  # a dry run writes nothing
    report = purge_personal_data(days=180)
    assert report.residents == 1
    gone.refresh_from_db()
    both.refresh_from_db()
    assert gone.wechat_openid is None and gone.wechat_bound_at is None and not gone.is_active
    assert gone.username == f"resident-purged-{gone.pk}"
    assert both.wechat_openid == "o-both" and both.is_active
    assert list(User.objects.filter(is_member=True).values_list("pk", "wechat_openid")) == list(
        member_before
    )
    assert Intake.objects.filter(resident=gone).count() == 1  # the intake still names it
    assert Event.objects.get(verb="personal_data_purged").payload["residents"] == 1
    assert purge_personal_data(days=180).residents == 0

    # Back again with the same WeChat account: a new, bound account.
    body = api_body(village_code, wechat_code=ok("o-old"), description="又来了：井盖丢了")
    assert anon.post(INTAKE_URL, body, format="json").status_code == 201
    again = User.objects.get(wechat_openid="o-old")
    assert again.pk != gone.pk and again.username.startswith("resident_")
