"""WeChat subscribe messages (订阅消息): the stable access token, cached, and ``subscribe/send``.

The app secret and the access token are never logged nor written to a row: the token travels
in the query string of subscribe/send, so failed calls are logged by kind of failure only.
Each call answers with a :class:`Delivery` that tells the outbox what to do with the row.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Notification

logger = logging.getLogger(__name__)

ERRCODE_BUSY = -1
ERRCODE_TOKEN_INVALID = 40001
ERRCODE_OPENID_INVALID = 40003
ERRCODE_TEMPLATE_INVALID = 40037
ERRCODE_PAGE_INVALID = 41030
ERRCODE_TOKEN_EXPIRED = 42001
ERRCODE_NOT_SUBSCRIBED = 43101
ERRCODE_DATA_INVALID = 47003

# The token was revoked or expired on WeChat's side: fetch it again once, then resend.
TOKEN_ERRCODES = frozenset({ERRCODE_TOKEN_INVALID, ERRCODE_TOKEN_EXPIRED})
# The request itself is wrong (unknown openid, template, page or data): resending the same
# request cannot succeed, so these fail at once instead of using up the retries.
PERMANENT_ERRCODES = frozenset(
    {ERRCODE_OPENID_INVALID, ERRCODE_TEMPLATE_INVALID, ERRCODE_PAGE_INVALID, ERRCODE_DATA_INVALID}
)

# WeChat's limits per data type (characters); longer values are cut, not refused.
MAX_LENGTH = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
}
_KEEP = {
    "character_string": re.compile(r"[!-~]"),  # printable ASCII without spaces
    "number": re.compile(r"[0-9.\-]"),
    "letter": re.compile(r"[A-Za-z]"),
    "phone_number": re.compile(r"[0-9+\-]"),
}
_EMPTY = {"thing": "无", "phrase": "无", "name": "无", "number": "0"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_|]+)\}")
_TIME_FORMATS = {"time": "%Y年%m月%d日 %H:%M", "date": "%Y年%m月%d日"}


class Outcome(enum.StrEnum):
    """What became of one send."""

    SENT = "sent"
    SKIPPED = "skipped"  # in-app only: no template, no openid, or the user did not subscribe
    FAILED = "failed"  # permanently: resending cannot help
    RETRY = "retry"  # transiently: try again later


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send, WeChat's msgid when sent, and a short reason otherwise."""

    outcome: Outcome
    msgid: str = ""
    error: str = ""


class _CallFailed(Exception):
    """A WeChat call that did not answer usable JSON (network, timeout, 5xx, garbage)."""


def configured() -> bool:
    """Whether the mini-program's credentials are set."""
    return bool(settings.WECHAT_APPID and settings.WECHAT_SECRET)


def _post_json(url: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - base URL is configured, https in production
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.WECHAT_TIMEOUT) as response:  # noqa: S310
            raw = response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        exc.close()
        logger.warning("%s failed: HTTP %s", what, exc.code)
        raise _CallFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        # The kind of failure only: the URL carries the access token.
        reason = getattr(exc, "reason", None)
        kind = type(reason if isinstance(reason, BaseException) else exc).__name__
        logger.warning("%s failed: %s", what, kind)
        raise _CallFailed(kind) from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        logger.warning("%s answered with something that is not JSON", what)
        raise _CallFailed("not JSON") from None
    if not isinstance(data, dict):
        raise _CallFailed("not a JSON object")
    return data


def _token_key() -> str:
    return f"wechat:stable_token:{settings.WECHAT_APPID}"


def access_token(*, now: datetime | None = None, stale: str = "") -> str:
    """The access token from the cache, or from ``stable_token`` when missing or near expiry.

    ``stale`` is a token WeChat just refused: it is fetched again unless another sender has
    already put a different one in the (shared) cache.
    """
    moment = (now or timezone.now()).timestamp()
    cached = cache.get(_token_key())
    if (
        isinstance(cached, dict)
        and cached.get("token")
        and cached["token"] != stale
        and moment < cached.get("fresh_until", 0)
    ):
        return cached["token"]
    # Normal mode (force_refresh false): every process gets the same valid token, and one that
    # WeChat has revoked is replaced; forced refreshes are rate-limited and revoke others' tokens.
    data = _post_json(
        f"{settings.WECHAT_API_BASE}/cgi-bin/stable_token",
        {
            "grant_type": "client_credential",
            "appid": settings.WECHAT_APPID,
            "secret": settings.WECHAT_SECRET,
            "force_refresh": False,
        },
        what="stable_token",
    )
    errcode = data.get("errcode") or 0
    token = data.get("access_token")
    expires_in = data.get("expires_in")
    if errcode or not isinstance(token, str) or not token or not isinstance(expires_in, int):
        logger.warning("stable_token answered errcode %s without a usable token", errcode)
        raise _CallFailed(f"stable_token errcode {errcode}")
    lifetime = expires_in - settings.WECHAT_TOKEN_MARGIN_SECONDS
    if lifetime <= 0:
        lifetime = max(expires_in // 2, 1)
    cache.set(
        _token_key(), {"token": token, "fresh_until": moment + lifetime}, timeout=max(expires_in, 1)
    )
    return token


def _send(token: str, message: dict[str, Any]) -> dict[str, Any]:
    query = urllib.parse.urlencode({"access_token": token})
    return _post_json(
        f"{settings.WECHAT_API_BASE}/cgi-bin/message/subscribe/send?{query}",
        message,
        what="subscribe/send",
    )


def _describe(data: dict[str, Any], token: str) -> str:
    errmsg = str(data.get("errmsg") or "")
    if token:
        errmsg = errmsg.replace(token, "***")
    return f"errcode {data.get('errcode')}: {errmsg}"[:200]


def send_subscribe(
    *,
    openid: str,
    template_id: str,
    page: str,
    data: dict[str, dict[str, str]],
    now: datetime | None = None,
) -> Delivery:
    """Send one subscribe message; a refused token is fetched again once."""
    message = {
        "touser": openid,
        "template_id": template_id,
        "page": page,
        "data": data,
        "miniprogram_state": settings.WECHAT_MINIPROGRAM_STATE,
        "lang": "zh_CN",
    }
    token = ""
    try:
        token = access_token(now=now)
        answer = _send(token, message)
        if answer.get("errcode") in TOKEN_ERRCODES:
            logger.info("subscribe/send refused the access token (errcode %s)", answer["errcode"])
            token = access_token(now=now, stale=token)
            answer = _send(token, message)
    except _CallFailed as exc:
        return Delivery(Outcome.RETRY, error=str(exc)[:200])
    errcode = answer.get("errcode") or 0
    if errcode == 0:
        msgid = answer.get("msgid")
        return Delivery(Outcome.SENT, msgid="" if msgid is None else str(msgid)[:64])
    logger.warning("subscribe/send errcode %s", errcode)
    if errcode == ERRCODE_NOT_SUBSCRIBED:
        return Delivery(Outcome.SKIPPED, error=_describe(answer, token))
    if errcode in PERMANENT_ERRCODES:
        return Delivery(Outcome.FAILED, error=_describe(answer, token))
    return Delivery(Outcome.RETRY, error=_describe(answer, token))


# ---------------------------------------------------------------- building a message


def _context(notification: Notification) -> dict[str, Any]:
    """What placeholders may name: the row's own fields win over payload keys."""
    context: dict[str, Any] = {
        key: value
        for key, value in (notification.payload or {}).items()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool)
    }
    context.update(
        title=notification.title,
        body=notification.body,
        kind=notification.kind,
        created_at=notification.created_at,
        notification_id=notification.pk,
    )
    return context


def _first(chain: str, context: dict[str, Any]) -> list[Any]:
    """The non-empty values named by ``a|b|c``, in order."""
    values = []
    for name in chain.split("|"):
        value = context.get(name)
        if value is not None and str(value).strip():
            values.append(value)
    return values


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime(_TIME_FORMATS["time"])
    return " ".join(str(value).split())


def _render(template: str, context: dict[str, Any], *, quote: bool = False) -> str:
    def one(match: re.Match[str]) -> str:
        found = _first(match.group(1), context)
        text = _text(found[0]) if found else ""
        return urllib.parse.quote(text, safe="") if quote else text

    return _PLACEHOLDER.sub(one, template)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return timezone.localtime(moment)


def _time_value(type_: str, template: str, context: dict[str, Any]) -> str:
    """A time/date field: the first value in the chain that reads as a time, else created_at."""
    whole = _PLACEHOLDER.fullmatch(template.strip())
    candidates = _first(whole.group(1), context) if whole else [_render(template, context)]
    for candidate in [*candidates, context["created_at"]]:
        moment = _as_time(candidate)
        if moment is not None:
            return moment.strftime(_TIME_FORMATS[type_])
    return ""


def field_value(type_: str, text: str) -> str:
    """``text`` cut and filtered to what WeChat accepts for a field of ``type_``."""
    text = " ".join(text.split())
    if type_ in _KEEP:
        text = "".join(_KEEP[type_].findall(text))
    limit = MAX_LENGTH.get(type_, MAX_LENGTH["thing"])
    if len(text) > limit:
        # A thing reads better with an ellipsis; the other types are codes and must not get one.
        text = text[: limit - 1] + "…" if type_ == "thing" else text[:limit]
    return text or _EMPTY.get(type_, "-")


def message_for(notification: Notification) -> dict[str, Any] | None:
    """The template id, page and data for ``notification``, or None when its kind has none."""
    template = settings.WECHAT_SUBSCRIBE_TEMPLATES.get(notification.kind)
    if not template or not template.get("template_id"):
        return None
    context = _context(notification)
    data = {}
    for key, spec in template.get("data", {}).items():
        type_ = spec.get("type", "thing")
        source = str(spec.get("value", ""))
        if type_ in _TIME_FORMATS:
            value = _time_value(type_, source, context)
        else:
            value = field_value(type_, _render(source, context))
        data[key] = {"value": value}
    return {
        "template_id": template["template_id"],
        "page": _render(template.get("page", ""), context, quote=True),
        "data": data,
    }


def deliver(notification: Notification, *, now: datetime | None = None) -> Delivery:
    """Send ``notification`` as a subscribe message, or say why it stays in-app only."""
    message = message_for(notification)
    if message is None:
        return Delivery(Outcome.SKIPPED, error="该类通知未配置订阅消息模板（仅站内）")
    user = notification.user
    if not user.is_active:
        return Delivery(Outcome.SKIPPED, error="接收人账号已停用")
    if not user.wechat_openid:
        return Delivery(Outcome.SKIPPED, error="接收人未绑定微信")
    if not configured():
        return Delivery(Outcome.SKIPPED, error="未配置微信（WECHAT_APPID / WECHAT_SECRET）")
    return send_subscribe(openid=user.wechat_openid, now=now, **message)
