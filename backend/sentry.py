"""Optional error reporting to Sentry (docs/operations.md, 错误上报 / Error reporting).

On only when ``SENTRY_DSN`` is set (settings call :func:`init`). Every event and transaction
passes :func:`scrub_event` before it leaves the process: phones (Chinese mobile numbers), names,
tokens (JWTs, ``Authorization``, refresh tokens, API keys, cookies) and WeChat's codes and ids
(``code``, ``js_code``, ``openid``, ``unionid``, ``session_key``) are replaced in every part of
the event — request, headers, query string, body, frame variables, breadcrumbs, extra, tags,
messages and exception values. Names are found by key (``name``, ``contact_name`` …) only: free
text cannot be searched for them, so frame variables (whose reprs carry names) are not sent at
all, and the code logs ids, never names. ``send_default_pii`` stays off, so the SDK sends no
user, IP address or cookies of its own.
"""

from __future__ import annotations

import re
from typing import Any

FILTERED = "[Filtered]"

# Keys whose value goes whatever it is (compared lower-case, "-" as "_").
SECRET_KEY_PARTS = (
    "phone",
    "mobile",
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "openid",
    "unionid",
    "session_key",
    "sessionid",
    "csrf",
    "api_key",
    "signature",
    "id_card",
)
SECRET_KEYS = frozenset(
    {
        "name",
        "real_name",
        "full_name",
        "first_name",
        "last_name",
        "username",
        "contact",
        "contact_name",
        "resident_name",
        "code",
        "js_code",
        "refresh",
        "access",
        "touser",
    }
)
# Parts of an event that describe the SDK, the runtime and the code, not the request: their
# "name" (runtime, os, sdk) is kept.
TECHNICAL_SECTIONS = frozenset({"sdk", "contexts", "modules", "debug_meta"})

_PHONE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_QUERY = re.compile(
    r"(?i)(?<![A-Za-z0-9_])("
    r"code|js_code|openid|unionid|session_key|access_token|refresh_token|refresh|token|"
    r"phone|contact_phone|password|secret|key"
    r")=([^&\s\"']*)"
)
_JSON_PAIR = re.compile(
    r"(?i)\"(code|js_code|openid|unionid|session_key|access|refresh|token|access_token|"
    r"refresh_token|password|phone|contact_phone|name|contact_name|real_name)\"\s*:\s*\"[^\"]*\""
)


def _secret_key(key: str, technical: bool) -> bool:
    normal = key.lower().replace("-", "_")
    if any(part in normal for part in SECRET_KEY_PARTS):
        return True
    return not technical and normal in SECRET_KEYS


def scrub_text(text: str) -> str:
    """A string with phones, tokens and WeChat codes replaced."""
    text = _JSON_PAIR.sub(lambda m: f'"{m.group(1)}": "{FILTERED}"', text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}={FILTERED}", text)
    text = _JWT.sub(FILTERED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {FILTERED}", text)
    return _PHONE.sub(FILTERED, text)


def _scrub(value: Any, technical: bool) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: (
                FILTERED
                if isinstance(key, str) and _secret_key(key, technical) and value[key] is not None
                else _scrub(value[key], technical)
            )
            for key in value
        }
    if isinstance(value, (list, tuple)):
        # Headers and query pairs come as [name, value] lists.
        if len(value) == 2 and isinstance(value[0], str) and _secret_key(value[0], technical):
            return [value[0], FILTERED]
        return [_scrub(item, technical) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send`` (and ``before_send_transaction``): the event, scrubbed."""
    return {key: _scrub(value, key in TECHNICAL_SECTIONS) for key, value in event.items()}


def init(dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        # Frame variables hold model instances whose repr is a person's name: never sent.
        include_local_variables=False,
        traces_sample_rate=traces_sample_rate,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        # Request bodies are sent small only, and scrubbed like the rest.
        max_request_body_size="small",
    )
