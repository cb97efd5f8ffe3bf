"""The subscribe-message sender against a real local stable_token + subscribe/send server."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts import wechat_messages
from accounts.audit import notify
from accounts.wechat_messages import Outcome, deliver, field_value, message_for
from tests import fake_wechat
from tests.factories import UserFactory

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", name="王丽", is_member=True, wechat_openid="openid-alice")


def promoted(user, **payload):
    return notify(
        user=user,
        kind="claim_promoted",
        title="您已从候补转为正式认领",
        body="请按时到场签到。",
        payload={"request_id": 7, "request_title": "法律咨询进村", **payload},
    )


def test_it_sends_a_well_formed_subscribe_message(wx, alice, settings):
    settings.WECHAT_MINIPROGRAM_STATE = "trial"
    row = promoted(alice, starts_at="2026-12-01T01:30:00+00:00")
    delivery = deliver(row)
    assert delivery.outcome == Outcome.SENT
    assert delivery.msgid == str(wx.sends[-1]["msgid"])
    [send] = wx.sends
    assert send["access_token"] == wx.token
    assert send["body"] == {
        "touser": "openid-alice",
        "template_id": fake_wechat.TEMPLATE_ID,
        "page": f"pages/notifications/index?id={row.pk}",
        "data": {
            "thing1": {"value": "法律咨询进村"},
            "time2": {"value": "2026年12月01日 09:30"},  # shown in Asia/Shanghai
            "thing3": {"value": "请按时到场签到。"},
        },
        "miniprogram_state": "trial",
        "lang": "zh_CN",
    }
    assert wx.token_calls == [
        {
            "grant_type": "client_credential",
            "appid": fake_wechat.APPID,
            "secret": fake_wechat.SECRET,
            "force_refresh": False,
        }
    ]


def test_one_token_call_serves_many_sends(wx, alice):
    for _ in range(5):
        assert deliver(promoted(alice)).outcome == Outcome.SENT
    assert len(wx.token_calls) == 1
    assert len(wx.delivered()) == 5


def test_the_token_is_fetched_again_shortly_before_it_expires(wx, alice, settings):
    settings.WECHAT_TOKEN_MARGIN_SECONDS = 300
    t0 = timezone.now()
    deliver(promoted(alice), now=t0)
    deliver(promoted(alice), now=t0 + timedelta(seconds=7200 - 301))
    assert len(wx.token_calls) == 1
    deliver(promoted(alice), now=t0 + timedelta(seconds=7200 - 300))
    assert len(wx.token_calls) == 2


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_refused_token_is_fetched_again_once_and_the_message_resent(wx, alice, errcode):
    deliver(promoted(alice))
    old = wx.token
    wx.revoke_token(errcode)
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.SENT
    assert len(wx.token_calls) == 2
    assert [s["errcode"] for s in wx.sends] == [0, errcode, 0]
    assert wx.sends[-1]["access_token"] == wx.token != old
    # The new token is cached for the next send.
    deliver(promoted(alice))
    assert len(wx.token_calls) == 2


def test_a_token_refused_twice_is_a_retry_not_a_loop(wx, alice):
    wx.script("openid-alice", 40001, 40001, 40001)
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.RETRY
    assert "40001" in delivery.error
    assert len(wx.sends) == 2
    assert len(wx.token_calls) == 2


def test_another_senders_fresh_token_in_the_cache_is_used_without_a_call(wx, alice):
    deliver(promoted(alice))
    stale = wx.token
    wx.revoke_token()
    # Another process already fetched the new token and cached it.
    fresh = wechat_messages.access_token(stale=stale)
    assert fresh != stale
    calls = len(wx.token_calls)
    assert wechat_messages.access_token(stale=stale) == fresh
    assert len(wx.token_calls) == calls


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (43101, Outcome.SKIPPED),  # the user has not subscribed or used up the subscription
        (40003, Outcome.FAILED),  # invalid openid
        (40037, Outcome.FAILED),  # invalid template id
        (47003, Outcome.FAILED),  # invalid data
        (41030, Outcome.FAILED),  # invalid page
        (-1, Outcome.RETRY),  # system busy
        (45009, Outcome.RETRY),  # an errcode we do not know: retried, bounded by max attempts
        (fake_wechat.HTTP_500, Outcome.RETRY),
        (fake_wechat.NOT_JSON, Outcome.RETRY),
        (fake_wechat.SLOW, Outcome.RETRY),
    ],
)
def test_each_answer_maps_to_an_outcome(wx, alice, settings, reply, outcome):
    settings.WECHAT_TIMEOUT = 0.2
    wx.slow_seconds = 0.5
    wx.script("openid-alice", reply)
    delivery = deliver(promoted(alice))
    assert delivery.outcome == outcome
    assert delivery.msgid == ""
    assert delivery.error
    assert wx.token not in delivery.error


def test_unreachable_wechat_is_a_retry(alice, settings):
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {
        "claim_promoted": {"template_id": "t", "page": "p", "data": {"thing1": {"value": "x"}}}
    }
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.RETRY
    assert "ConnectionRefusedError" in delivery.error


@pytest.mark.parametrize("errcode", [40013, 40125, -1])
def test_stable_token_errors_are_retries(wx, alice, errcode):
    wx.token_errcode = errcode
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.RETRY
    assert str(errcode) in delivery.error
    assert wx.sends == []
    assert cache.get(wechat_messages._token_key()) is None


def test_wrong_secret_is_a_retry(wx, alice, settings):
    settings.WECHAT_SECRET = "wrong"
    assert deliver(promoted(alice)).outcome == Outcome.RETRY
    assert wx.sends == []


def test_a_kind_without_template_is_in_app_only(wx, alice, settings):
    row = notify(user=alice, kind="welcome", title="欢迎使用")
    assert deliver(row).outcome == Outcome.SKIPPED
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {
        **settings.WECHAT_SUBSCRIBE_TEMPLATES,
        "claim_promoted": {
            **settings.WECHAT_SUBSCRIBE_TEMPLATES["claim_promoted"],
            "template_id": "",
        },
    }
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.SKIPPED
    assert "模板" in delivery.error
    assert wx.sends == [] and wx.token_calls == []


def test_a_user_without_openid_is_skipped(wx, db):
    delivery = deliver(promoted(UserFactory(is_member=True)))
    assert delivery.outcome == Outcome.SKIPPED
    assert "未绑定微信" in delivery.error
    assert wx.sends == []


def test_an_inactive_user_is_skipped(wx, db):
    user = UserFactory(is_member=True, is_active=False, wechat_openid="openid-gone")
    assert deliver(promoted(user)).outcome == Outcome.SKIPPED
    assert wx.sends == []


def test_without_wechat_credentials_messages_stay_in_app(wx, alice, settings):
    settings.WECHAT_APPID = ""
    delivery = deliver(promoted(alice))
    assert delivery.outcome == Outcome.SKIPPED
    assert "WECHAT_APPID" in delivery.error
    assert wx.token_calls == []


def test_every_shipped_kind_builds_a_message_wechat_accepts(wx, alice, settings):
    kinds = [
        "request_cancelled",
        "claim_promoted",
        "claim_expired",
        "claim_rejected",
        "team_invited",
        "reminder",
        "record_verified",
        "record_rejected",
    ]
    assert set(kinds) <= set(settings.WECHAT_SUBSCRIBE_TEMPLATES)
    for kind in kinds:
        row = notify(user=alice, kind=kind, title="一个相当长的标题" * 5, body="说明" * 40)
        assert deliver(row).outcome == Outcome.SENT, kind
    assert len(wx.delivered()) == len(kinds)


def test_long_values_are_cut_to_wechats_limits(wx, alice):
    row = promoted(alice, request_title="定海区昌国街道新螺头村法律咨询与矛盾纠纷调解志愿服务活动")
    message = message_for(row)
    assert message["data"]["thing1"]["value"] == "定海区昌国街道新螺头村法律咨询与矛盾纠…"
    assert len(message["data"]["thing1"]["value"]) == 20
    assert deliver(row).outcome == Outcome.SENT


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("thing", "  两行\n文字  ", "两行 文字"),
        ("thing", "", "无"),
        ("phrase", "审核已经通过", "审核已经通"),
        ("name", "欧阳一二三四五六七八九十", "欧阳一二三四五六七八"),
        ("character_string", "NO. 2026-0001 号", "NO.2026-0001"),
        ("character_string", "x" * 40, "x" * 32),
        ("number", "共 12 人", "12"),
        ("number", "", "0"),
        ("letter", "ab12cd", "abcd"),
        ("phone_number", "138 0000 1111", "13800001111"),
    ],
)
def test_field_values_follow_the_type_rules(type_, text, expected):
    assert field_value(type_, text) == expected


def test_time_fields_fall_back_to_created_at_and_pages_are_quoted(wx, alice, settings):
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {
        "reminder": {
            "template_id": fake_wechat.TEMPLATE_ID,
            "page": "pages/request/detail?id={request_id}&t={request_title}",
            "data": {
                "time1": {"type": "time", "value": "{starts_at}"},
                "date2": {"type": "date", "value": "{starts_at}"},
                "thing3": {"type": "thing", "value": "活动：{request_title}"},
                "thing4": {"type": "thing", "value": "{missing|also_missing}"},
            },
        }
    }
    row = notify(
        user=alice,
        kind="reminder",
        title="明天有服务",
        payload={"request_id": 9, "request_title": "义诊 & 咨询", "starts_at": "not a time"},
    )
    message = message_for(row)
    created = timezone.localtime(row.created_at)
    assert (
        message["page"]
        == "pages/request/detail?id=9&t=%E4%B9%89%E8%AF%8A%20%26%20%E5%92%A8%E8%AF%A2"
    )
    assert message["data"]["time1"]["value"] == created.strftime("%Y年%m月%d日 %H:%M")
    assert message["data"]["date2"]["value"] == created.strftime("%Y年%m月%d日")
    assert message["data"]["thing3"]["value"] == "活动：义诊 & 咨询"
    assert message["data"]["thing4"]["value"] == "无"


def test_secret_and_token_never_reach_the_log_or_the_row(wx, alice, caplog, settings):
    caplog.set_level("DEBUG")
    settings.WECHAT_TIMEOUT = 0.2
    wx.slow_seconds = 0.5
    deliver(promoted(alice))
    first_token = wx.token
    wx.revoke_token()
    deliver(promoted(alice))
    for reply in (-1, 40003, fake_wechat.HTTP_500, fake_wechat.NOT_JSON, fake_wechat.SLOW):
        wx.script("openid-alice", reply)
        deliver(promoted(alice))
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "subscribe/send" in ours
    for secret in (fake_wechat.SECRET, first_token, wx.token):
        assert secret not in ours


def test_the_token_is_shared_through_the_redis_cache(wx, alice, settings):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_TEST_URL}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            "KEY_PREFIX": "wwqz-test-token",
        }
    }
    try:
        assert deliver(promoted(alice)).outcome == Outcome.SENT
        # Another sender (its own thread, so its own cache client) finds the token in Redis.
        row = promoted(alice)
        outcomes = []
        other = threading.Thread(target=lambda: outcomes.append(deliver(row).outcome))
        other.start()
        other.join()
        assert outcomes == [Outcome.SENT]
        assert len(wx.token_calls) == 1
        assert cache.ttl(wechat_messages._token_key()) <= 7200
    finally:
        cache.delete(wechat_messages._token_key())
