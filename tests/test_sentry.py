"""The Sentry scrubber on real events: the SDK is pointed at a local HTTP server posing as
Sentry's ingest, a request fails through the real WSGI handler, and the envelope it posts holds
no phone, name, token or WeChat code anywhere (docs/operations.md, Error reporting)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import zlib

import pytest
import sentry_sdk
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.envelope import Envelope
from werkzeug import Request, Response

from backend import sentry

PHONE = "13812345678"
PHONE_SPACED = "139 8765 4321"
NAME = "张秀英"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJ1c2VyX2lkIjo0MiwidG9rZW5fdHlwZSI6ImFjY2VzcyJ9."
    "c2lnbmF0dXJlLXRoYXQtaXMtbm90LXJlYWw"
)
REFRESH = "refresh-token-value-9f8e7d6c5b4a"
WX_CODE = "0a1B2c3D4e5F6g7H8i9J"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
SECRETS = [PHONE, PHONE_SPACED, NAME, JWT, REFRESH, WX_CODE, OPENID, SESSION_KEY]


@csrf_exempt
def boom(request):
    # Frame variables the SDK sends with the stack trace.
    phone = PHONE
    contact_name = NAME
    session_key = SESSION_KEY
    user = f"<User: {contact_name}>"
    logging.getLogger("services.requests").warning("claim by %s failed", PHONE_SPACED)
    raise RuntimeError(f"sign-in failed for {phone} with {JWT} ({len(session_key + user)})")


def fine(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("boom/", boom), path("fine/", fine)]


def _decode(request: Request) -> bytes:
    body = request.get_data()
    encoding = request.headers.get("Content-Encoding", "")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli

        return brotli.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


@pytest.fixture
def ingest(httpserver):
    """A local server answering Sentry's envelope endpoint; the decoded envelopes it got."""
    received: list[bytes] = []

    def handler(request: Request) -> Response:
        received.append(_decode(request))
        return Response(json.dumps({"id": "0" * 32}), content_type="application/json")

    httpserver.expect_request("/api/1/envelope/").respond_with_handler(handler)
    dsn = f"http://publickey@{httpserver.host}:{httpserver.port}/1"
    sentry.init(dsn, "test", 0.0)
    yield received
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.init(dsn=None)


def wsgi_post(path_info: str, query: str, body: bytes, headers: dict[str, str]):
    from backend.wsgi import application

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **{"HTTP_" + key.upper().replace("-", "_"): value for key, value in headers.items()},
    }
    status: list[str] = []
    chunks = application(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(chunks)
    return status[0]


def test_a_real_error_event_leaves_scrubbed(ingest, settings, caplog):
    caplog.set_level(logging.INFO, logger="services.requests")  # the test settings log nothing
    settings.ROOT_URLCONF = __name__
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    body = json.dumps(
        {"code": WX_CODE, "phone": PHONE, "name": NAME, "refresh": REFRESH, "note": f"call {PHONE}"}
    ).encode()
    status = wsgi_post(
        "/boom/",
        f"js_code={WX_CODE}&openid={OPENID}&page=2",
        body,
        {
            "Authorization": f"Bearer {JWT}",
            "Cookie": f"sessionid={REFRESH}",
            "X-Api-Key": REFRESH,
            "X-Request-ID": "sentry-req-0001",
        },
    )
    assert status.startswith("500")
    sentry_sdk.flush(timeout=5)
    assert ingest, "the SDK sent nothing to the local ingest"
    items = [item for envelope in ingest for item in Envelope.deserialize(envelope).items]
    # Every item of every envelope, as text with Chinese unescaped.
    text = "\n".join(
        json.dumps(json.loads(item.payload.get_bytes()), ensure_ascii=False) for item in items
    )
    for secret in SECRETS:
        assert secret not in text, (secret, text[max(text.find(secret) - 300, 0) :][:400])
    # Still a useful event: the error's type, where it happened, the route, the breadcrumb.
    events = [json.loads(item.payload.get_bytes()) for item in items if item.type == "event"]
    (event,) = events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert "[Filtered]" in exception["value"]
    frames = exception["stacktrace"]["frames"]
    assert frames[-1]["function"] == "boom"
    # Frame variables are never sent: reprs of users and members carry names.
    assert all("vars" not in frame for frame in frames)
    assert event["request"]["data"]["name"] == "[Filtered]"
    assert event["request"]["data"]["note"] == "call [Filtered]"
    assert event["request"]["headers"]["X-Request-Id"] == "sentry-req-0001"
    assert event["request"]["url"].endswith("/boom/")
    assert "page=2" in event["request"]["query_string"]
    assert any(
        "claim by" in (crumb.get("message") or "") for crumb in event["breadcrumbs"]["values"]
    )
    assert event["contexts"]["runtime"]["name"] == "CPython"  # technical names are kept


def test_the_scrubber_leaves_ordinary_text_alone():
    event = {"message": "名额已满（request 42, 3 slots, 2026-12-02 09:00）", "extra": {"count": 12}}
    assert sentry.scrub_event(event, {}) == event


@pytest.mark.parametrize(
    ("text", "left"),
    [
        (f"+86 {PHONE} called", "[Filtered] called"),
        ("order 2026120212345678901", "order 2026120212345678901"),  # long digits: no phone
        (f"Authorization: Bearer {REFRESH}", "Authorization: Bearer [Filtered]"),
        (f"https://api.weixin.qq.com/sns/jscode2session?appid=wx1&js_code={WX_CODE}", None),
        (f'{{"openid": "{OPENID}", "kind": "claim"}}', None),
    ],
)
def test_scrub_text(text, left):
    scrubbed = sentry.scrub_text(text)
    for secret in SECRETS:
        assert secret not in scrubbed
    if left is not None:
        assert scrubbed == left
