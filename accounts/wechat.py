"""WeChat mini-program login: ``code2session`` (jscode2session) over HTTPS.

Neither the app secret nor the session_key is ever logged or returned: the session_key is
dropped as soon as the response is read, since this backend never decrypts user data.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from accounts import errors
from accounts.errors import (
    Forbidden,
    NotAuthenticated,
    TooManyRequests,
    Unavailable,
)

logger = logging.getLogger(__name__)

ERRCODE_BUSY = -1
ERRCODE_CODE_INVALID = 40029
ERRCODE_CODE_USED = 40163
ERRCODE_RATE_LIMIT = 45011
ERRCODE_USER_BLOCKED = 40226


class WechatCodeInvalid(NotAuthenticated):
    """401: the login code is the credential, and WeChat says it is invalid or used."""

    default_code = errors.WECHAT_CODE_INVALID
    default_detail = "微信登录凭证无效或已过期，请重新进入小程序。"


class WechatRateLimited(TooManyRequests):
    default_code = errors.WECHAT_RATE_LIMITED
    default_detail = "微信登录过于频繁，请稍后再试。"


class WechatUserBlocked(Forbidden):
    default_code = errors.WECHAT_USER_BLOCKED
    default_detail = "该微信用户已被限制登录。"


class WechatUnavailable(Unavailable):
    default_code = errors.WECHAT_UNAVAILABLE
    default_detail = "微信服务暂时不可用，请稍后再试。"


@dataclass(frozen=True)
class WechatSession:
    """What login needs from code2session: the user's openid (and unionid when present)."""

    openid: str
    unionid: str = ""


def code2session(code: str) -> WechatSession:
    """Exchange a ``wx.login`` code for the user's openid, mapping WeChat's errcodes."""
    if not (settings.WECHAT_APPID and settings.WECHAT_SECRET):
        raise WechatUnavailable("未配置微信登录（WECHAT_APPID / WECHAT_SECRET）。")
    query = urllib.parse.urlencode(
        {
            "appid": settings.WECHAT_APPID,
            "secret": settings.WECHAT_SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        }
    )
    url = f"{settings.WECHAT_API_BASE}/sns/jscode2session?{query}"
    try:
        with urllib.request.urlopen(url, timeout=settings.WECHAT_TIMEOUT) as response:  # noqa: S310 - base URL is configured, https in production
            raw = response.read(64 * 1024)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        # Log the kind of failure only: the URL carries the secret.
        logger.warning("code2session failed: %s", type(exc).__name__)
        raise WechatUnavailable() from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        logger.warning("code2session answered with something that is not JSON")
        raise WechatUnavailable() from None
    if not isinstance(data, dict):
        raise WechatUnavailable()

    errcode = data.get("errcode") or 0
    if errcode in (ERRCODE_CODE_INVALID, ERRCODE_CODE_USED):
        raise WechatCodeInvalid()
    if errcode == ERRCODE_RATE_LIMIT:
        raise WechatRateLimited(wait=60)
    if errcode == ERRCODE_USER_BLOCKED:
        raise WechatUserBlocked()
    if errcode:
        logger.warning("code2session errcode %s", errcode)
        raise WechatUnavailable()
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid or len(openid) > 64:
        logger.warning("code2session answered without a usable openid")
        raise WechatUnavailable()
    unionid = data.get("unionid")
    return WechatSession(openid=openid, unionid=unionid if isinstance(unionid, str) else "")
