"""A real local HTTP server that speaks WeChat's code2session, for login tests, and
``stable_token`` + ``subscribe/send``, for notification tests (:class:`FakeSubscribe`).

Codes are scripted: ``ok:<openid>`` signs in that openid; the other codes below answer with
the errcode WeChat uses for that case.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

APPID = "wx-test-appid"
SECRET = "test-wechat-secret"

CODE_INVALID = "bad-code"
CODE_USED = "used-code"
CODE_RATE_LIMITED = "rate-limited"
CODE_BLOCKED = "blocked"
CODE_BUSY = "busy"
CODE_NOT_JSON = "not-json"
CODE_SERVER_ERROR = "server-error"
CODE_SLOW = "slow"
CODE_NO_OPENID = "no-openid"


def ok(openid: str) -> str:
    """A code that code2session exchanges for ``openid``."""
    return f"ok:{openid}"


@dataclass
class FakeWechat:
    """Scripted code2session on a pytest-httpserver; records what it was asked."""

    server: HTTPServer
    slow_seconds: float = 2.0
    requests: list[dict[str, str]] = field(default_factory=list)

    def install(self) -> None:
        self.server.expect_request("/sns/jscode2session", method="GET").respond_with_handler(
            self._code2session
        )

    def _code2session(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append(args)
        if (
            args.get("appid") != APPID
            or args.get("secret") != SECRET
            or args.get("grant_type") != "authorization_code"
        ):
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        code = args.get("js_code", "")
        if code.startswith("ok:"):
            openid = code[3:]
            return _json({"openid": openid, "session_key": "SESSION-KEY-SECRET", "unionid": ""})
        if code == CODE_USED:
            return _json({"errcode": 40163, "errmsg": "code been used"})
        if code == CODE_RATE_LIMITED:
            return _json({"errcode": 45011, "errmsg": "api minute-quota reach limit"})
        if code == CODE_BLOCKED:
            return _json({"errcode": 40226, "errmsg": "high risk user"})
        if code == CODE_BUSY:
            return _json({"errcode": -1, "errmsg": "system error"})
        if code == CODE_NOT_JSON:
            return Response("<html>bad gateway</html>", status=200, content_type="text/html")
        if code == CODE_SERVER_ERROR:
            return Response("oops", status=502)
        if code == CODE_SLOW:
            time.sleep(self.slow_seconds)
            return _json({"openid": "late", "session_key": "x"})
        if code == CODE_NO_OPENID:
            return _json({"session_key": "x"})
        return _json({"errcode": 40029, "errmsg": "invalid code"})


def _json(data: dict) -> Response:
    return Response(json.dumps(data), status=200, content_type="application/json")


# ---------------------------------------------------------------- subscribe messages

TEMPLATE_ID = "tpl-test-0001"
# What the fake accepts per data type, as WeChat documents it (longer values are refused).
_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "number": 32, "name": 10}

# Scripted replies for ``FakeSubscribe.script``: an errcode (int) or one of these.
HTTP_500 = "http-500"
SLOW = "slow"
NOT_JSON = "not-json"


@dataclass
class FakeSubscribe:
    """Scripted ``stable_token`` and ``subscribe/send`` on a pytest-httpserver.

    Tokens behave like WeChat's stable token: the same one is handed out until it is revoked
    (``revoke_token``), after which sends with it answer 40001 (or 42001) and the next
    ``stable_token`` call hands out a new one. Sends answer ``ok`` with a fresh msgid unless
    replies were scripted for the openid; every send that reached the fake is in ``sends``.
    """

    server: HTTPServer
    expires_in: int = 7200
    slow_seconds: float = 1.0
    delay_seconds: float = 0.0
    token_calls: list[dict] = field(default_factory=list)
    sends: list[dict] = field(default_factory=list)
    scripts: dict[str, list] = field(default_factory=dict)
    token_errcode: int = 0
    _token_number: int = 0
    _revoked: dict[str, int] = field(default_factory=dict)
    _msgid: int = 100000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token(self) -> str:
        return f"ACCESS-TOKEN-{self._token_number}-SECRET"

    def install(self) -> None:
        self.server.expect_request("/cgi-bin/stable_token", method="POST").respond_with_handler(
            self._stable_token
        )
        self.server.expect_request(
            "/cgi-bin/message/subscribe/send", method="POST"
        ).respond_with_handler(self._subscribe_send)

    def revoke_token(self, errcode: int = 40001) -> None:
        """WeChat drops the current token: sends with it answer ``errcode``."""
        with self._lock:
            self._revoked[self.token] = errcode

    def script(self, openid: str, *replies) -> None:
        """The next sends to ``openid`` answer these, in order; then ``ok`` again."""
        with self._lock:
            self.scripts.setdefault(openid, []).extend(replies)

    def delivered(self) -> list[dict]:
        """The sends that WeChat accepted."""
        return [send for send in self.sends if send["errcode"] == 0]

    def _stable_token(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _json({"errcode": 47001, "errmsg": "data format error"})
        with self._lock:
            self.token_calls.append(body)
            if body.get("appid") != APPID or body.get("grant_type") != "client_credential":
                return _json({"errcode": 40013, "errmsg": "invalid appid"})
            if body.get("secret") != SECRET:
                return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
            if self.token_errcode:
                return _json({"errcode": self.token_errcode, "errmsg": "system error"})
            if self._token_number == 0 or self.token in self._revoked or body.get("force_refresh"):
                self._token_number += 1
            return _json({"access_token": self.token, "expires_in": self.expires_in})

    def _subscribe_send(self, request: Request) -> Response:
        token = request.args.get("access_token", "")
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _json({"errcode": 47001, "errmsg": "data format error"})
        openid = body.get("touser", "")
        with self._lock:
            if token in self._revoked:
                reply = self._revoked[token]
            elif token != self.token or self._token_number == 0:
                reply = 40001
            else:
                queue = self.scripts.get(openid) or []
                reply = queue.pop(0) if queue else self._check(body)
            record = {"access_token": token, "body": body, "errcode": reply}
            self.sends.append(record)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if reply == HTTP_500:
            return Response("upstream error", status=500)
        if reply == SLOW:
            time.sleep(self.slow_seconds)
            return _json({"errcode": 0, "errmsg": "ok", "msgid": 1})
        if reply == NOT_JSON:
            return Response("<html>bad gateway</html>", status=200, content_type="text/html")
        if reply != 0:
            return _json({"errcode": reply, "errmsg": f"scripted error rid: {reply}"})
        with self._lock:
            self._msgid += 1
            record["msgid"] = self._msgid
        return _json({"errcode": 0, "errmsg": "ok", "msgid": record["msgid"]})

    @staticmethod
    def _check(body: dict) -> int:
        """0 when ``body`` is a well-formed send (as WeChat checks it), else 47003/40037."""
        if body.get("template_id") != TEMPLATE_ID:
            return 40037
        if not body.get("touser") or body.get("lang") != "zh_CN":
            return 47003
        if body.get("miniprogram_state") not in {"developer", "trial", "formal"}:
            return 47003
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return 47003
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value:
                return 47003
            kind = key.rstrip("0123456789")
            if len(value) > _LIMITS.get(kind, 64):
                return 47003
        return 0


def serve_subscribe(server: HTTPServer, settings, **options) -> FakeSubscribe:
    """Point ``settings`` at a FakeSubscribe on ``server``, every shipped kind on TEMPLATE_ID."""
    settings.WECHAT_APPID = APPID
    settings.WECHAT_SECRET = SECRET
    settings.WECHAT_API_BASE = server.url_for("").rstrip("/")
    settings.WECHAT_TIMEOUT = 0.5
    settings.WECHAT_SUBSCRIBE_TEMPLATES = {
        kind: {**template, "template_id": TEMPLATE_ID}
        for kind, template in settings.WECHAT_SUBSCRIBE_TEMPLATES.items()
    }
    fake = FakeSubscribe(server=server, **options)
    fake.install()
    return fake
