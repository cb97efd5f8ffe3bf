"""Request ids, the JSON request log and the Prometheus metrics (docs/operations.md, Logs and
Metrics): ids accepted, generated and refused, in the log line and the outbox row; one id from a
claim's request to its WeChat message; metric names and labels after a claim and a send; the
endpoint closed without its token."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from prometheus_client import REGISTRY

from accounts import outbox
from accounts.models import Notification
from backend import metrics, request_id
from backend.logging import JsonLineFormatter, RequestIdFilter
from services.models import Claim
from tests import fake_wechat, services_fixtures
from tests.factories import ClaimFactory, UserFactory
from tests.services_fixtures import request_url

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

TOKEN = "metrics-token-for-tests-0123456789"
HEX32 = re.compile(r"[0-9a-f]{32}")


@contextlib.contextmanager
def json_log_lines():
    """The lines the console handler of backend.settings.LOGGING (JSON formatter, request-id
    filter) writes meanwhile, parsed. The test settings log nothing otherwise."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line)


def request_lines(lines):
    return [line for line in lines if line["logger"] == "backend.request"]


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------- request ids


def test_a_well_formed_request_id_is_kept_and_returned(client, db):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-2026.12_02-abc"})
    assert response["X-Request-ID"] == "lb-2026.12_02-abc"


def test_a_request_id_is_generated_when_none_is_sent(client, db):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert HEX32.fullmatch(first) and HEX32.fullmatch(second) and first != second


@pytest.mark.parametrize(
    "sent",
    ["short", "x" * 65, "has space in it", "semi;colon-id", "中文请求标识符号", "id\nnewline1", ""],
)
def test_a_malformed_request_id_is_replaced(client, db, sent):
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert HEX32.fullmatch(response["X-Request-ID"]), response["X-Request-ID"]


def test_error_responses_carry_the_id_too(client, db):
    response = client.get("/api/v1/no-such-thing/", headers={"X-Request-ID": "req-404-abcdef"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-404-abcdef"


def test_outside_a_request_there_is_no_id():
    assert request_id.current() == ""
    with request_id.bound("task-0001"):
        assert request_id.current() == "task-0001"
    assert request_id.current() == ""


# ---------------------------------------------------------------- the request log line


def test_one_json_line_per_request_with_route_status_user_and_id(world, client_for, open_request):
    client = client_for(world.alice.user)
    with json_log_lines() as lines:
        response = client.post(
            request_url(open_request, "claims/"), headers={"X-Request-ID": "claim-req-0001"}
        )
    assert response.status_code == 201, response.content
    (line,) = request_lines(lines)
    assert line["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", line["time"])
    assert line["method"] == "POST"
    assert line["route"] == "api/v1/requests/<int:pk>/claims/"
    assert line["status"] == 201
    assert line["user_id"] == world.alice.user.pk
    assert line["request_id"] == "claim-req-0001"
    assert line["duration_ms"] > 0 and line["db_ms"] > 0
    # The path with the id is not in the line, only its template.
    assert f"/{open_request.pk}/" not in line["message"]


def test_anonymous_and_unmatched_requests_are_logged(client, db):
    with json_log_lines() as lines:
        client.get("/nowhere", headers={"X-Request-ID": "anon-req-0001"})
    (line,) = request_lines(lines)
    assert line["route"] == metrics.UNMATCHED_ROUTE
    assert line["status"] == 404 and line["user_id"] is None
    assert line["request_id"] == "anon-req-0001"


def test_other_loggers_write_json_with_the_request_id():
    with json_log_lines() as lines, request_id.bound("other-logger-1"):
        logging.getLogger("services.anything").warning("名额已满 %s", 3)
    (line,) = [line for line in lines if line["logger"] == "services.anything"]
    assert line["message"] == "名额已满 3"
    assert line["level"] == "WARNING" and line["request_id"] == "other-logger-1"


LOG_SCRIPT = """
import django, logging
django.setup()
from backend import request_id
with request_id.bound("wired-req-01"):
    logging.getLogger("services.x").warning("你好 %s", 1)
"""


@pytest.mark.parametrize("fmt", ["json", "text", None])
def test_the_shipped_logging_settings_write_json_or_text(fmt, tmp_path):
    """backend.settings.LOGGING as a process really loads it (the test settings silence logs)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "SECRET_KEY": "x" * 50,
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }
    env.pop("LOG_FORMAT", None)
    if fmt:
        env["LOG_FORMAT"] = fmt
    done = subprocess.run(
        [sys.executable, "-c", LOG_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    if fmt == "text":
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING services.x \[wired-req-01\] 你好 1", line
        ), line
    else:
        record = json.loads(line)
        assert record["logger"] == "services.x" and record["level"] == "WARNING"
        assert record["message"] == "你好 1" and record["request_id"] == "wired-req-01"
        assert set(record) == {"time", "level", "logger", "message", "request_id"}


def test_a_bad_log_format_stops_start_up(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", "SECRET_KEY": "x" * 50}
    env["LOG_FORMAT"] = "xml"
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "LOG_FORMAT must be json or text" in done.stderr


# ---------------------------------------------------------------- the id in the outbox


@pytest.fixture
def wx(httpserver, settings) -> fake_wechat.FakeSubscribe:
    return fake_wechat.serve_subscribe(httpserver, settings)


def test_one_id_follows_a_claim_to_its_wechat_message(world, client_for, open_request, wx):
    """alice cancels; charlie, first on the waitlist, is promoted and told on WeChat: the
    request id of alice's cancel is on the row and on the send's log lines."""
    open_request.slots = 1
    open_request.save()
    mine = client_for(world.alice.user).post(request_url(open_request, "claims/"))
    assert mine.status_code == 201
    world.charlie.user.wechat_openid = "openid-charlie"
    world.charlie.user.save(update_fields=["wechat_openid"])
    ClaimFactory(request=open_request, member=world.charlie, status="waitlisted")
    response = client_for(world.alice.user).post(
        f"/api/v1/claims/{mine.json()['id']}/cancel/",
        {"reason": "临时有事"},
        format="json",
        headers={"X-Request-ID": "cancel-req-42"},
    )
    assert response.status_code == 200, response.content
    row = Notification.objects.get(user=world.charlie.user, kind="claim_promoted")
    assert row.request_id == "cancel-req-42"
    assert Claim.objects.get(member=world.charlie).status == "claimed"

    with json_log_lines() as lines:
        report = outbox.drain()
    assert report["sent"] >= 1
    assert wx.delivered()[-1]["body"]["touser"] == "openid-charlie"
    sent = [
        line
        for line in lines
        if line["logger"] == "accounts.outbox" and str(row.pk) in line["message"]
    ]
    assert sent and all(line["request_id"] == "cancel-req-42" for line in sent)


def test_rows_written_outside_a_request_have_no_id(db):
    row = Notification.objects.create(user=UserFactory(), kind="reminder", title="提醒")
    assert row.request_id == ""


# ---------------------------------------------------------------- metrics


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> str:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=")
        return response.content.decode()

    return get


def test_metrics_is_404_without_a_configured_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"]
)
def test_metrics_refuses_without_its_token(client, db, settings, header):
    settings.METRICS_TOKEN = TOKEN
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuses_post(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


def test_metrics_after_a_claim_and_a_send(world, client_for, open_request, wx, scrape):
    route = "api/v1/requests/<int:pk>/claims/"
    won = sample("claims_total", outcome="won", reason="")
    refused = sample("claims_total", outcome="refused", reason="already_claimed")
    count = sample("http_request_duration_seconds_count", route=route, method="POST", status="201")
    client = client_for(world.alice.user)
    assert client.post(request_url(open_request, "claims/")).status_code == 201
    assert client.post(request_url(open_request, "claims/")).status_code == 409
    assert sample("claims_total", outcome="won", reason="") == won + 1
    assert sample("claims_total", outcome="refused", reason="already_claimed") == refused + 1
    assert (
        sample("http_request_duration_seconds_count", route=route, method="POST", status="201")
        == count + 1
    )

    user = UserFactory(wechat_openid="openid-metrics")
    wx.script("openid-metrics", 43101)  # the member did not subscribe: skipped, errcode 43101
    failures = sample("outbox_send_failures_total", errcode="43101")
    from accounts.audit import notify

    notify(user=user, kind="reminder", title="明天 9:00 有服务")
    pending = Notification.objects.create(user=user, kind="reminder", title="稍后")
    Notification.objects.filter(pk=pending.pk).update(next_attempt_at="2999-01-01T00:00:00Z")
    outbox.drain()
    assert sample("outbox_send_failures_total", errcode="43101") == failures + 1

    text = scrape()
    assert (
        f'http_request_duration_seconds_bucket{{le="0.005",method="POST",route="{route}",status="201"}}'
        in text
    )
    assert f'http_request_db_seconds_count{{route="{route}"}}' in text
    assert 'claims_total{outcome="won",reason=""}' in text
    assert 'claims_total{outcome="refused",reason="already_claimed"}' in text
    assert 'outbox_sends_total{outcome="skipped"}' in text
    assert 'outbox_send_failures_total{errcode="43101"}' in text
    assert 'outbox_backlog{status="pending"} 1.0' in text
    assert 'outbox_backlog{status="sending"} 0.0' in text
    age = re.search(r"^outbox_oldest_pending_age_seconds (\S+)$", text, re.M)
    assert age and float(age.group(1)) >= 0


def test_throttled_requests_are_counted_by_scope(world, client_for, open_request, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "claims": "1/min",
        },
    }
    before = sample("http_requests_throttled_total", scope="claims")
    client = client_for(world.alice.user)
    client.post(request_url(open_request, "claims/"))
    assert client.post(request_url(open_request, "claims/")).status_code == 429
    assert sample("http_requests_throttled_total", scope="claims") == before + 1


@pytest.mark.parametrize(
    ("outcome", "error", "label"),
    [
        ("failed", "errcode 40003: invalid openid", "40003"),
        ("retry", "errcode -1: system busy", "-1"),
        ("retry", "HTTP 502", "http_502"),
        ("retry", "URLError", "network"),
        ("retry", "internal error: KeyError", "internal"),
        ("skipped", "errcode 43101: user refuse to accept the msg", "43101"),
    ],
)
def test_send_failures_are_labelled_by_errcode(outcome, error, label):
    before = sample("outbox_send_failures_total", errcode=label)
    metrics.send_finished(outcome, error)
    assert sample("outbox_send_failures_total", errcode=label) == before + 1


def test_sends_that_went_out_or_were_in_app_only_are_no_failures():
    before = sum(
        s.value for s in metrics.SEND_FAILURES.collect()[0].samples if s.name.endswith("_total")
    )
    metrics.send_finished("sent")
    metrics.send_finished("skipped", "no template for this kind")
    after = sum(
        s.value for s in metrics.SEND_FAILURES.collect()[0].samples if s.name.endswith("_total")
    )
    assert after == before


def test_cache_errors_are_counted_by_use():
    before = sample("cache_errors_total", use="throttle")
    metrics.record_cache_error("throttle")
    assert sample("cache_errors_total", use="throttle") == before + 1


def test_a_scrape_without_the_database_still_serves_the_counters(
    client, django_db_blocker, settings
):
    from tests.test_health import database_unreachable

    settings.METRICS_TOKEN = TOKEN
    with database_unreachable(django_db_blocker):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "http_request_duration_seconds_bucket" in text
    assert "outbox_backlog" not in text
