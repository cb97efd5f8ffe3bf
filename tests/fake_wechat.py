"""A real local HTTP server that speaks WeChat's code2session, for login tests.

Codes are scripted: ``ok:<openid>`` signs in that openid; the other codes below answer with
the errcode WeChat uses for that case.
"""

from __future__ import annotations

import json
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
