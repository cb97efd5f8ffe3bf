"""JWT sessions: what a token carries, one use per refresh token, and what ends a session.

Every login (password or WeChat) starts a *session*: its refresh token carries a session id
(``sid``) and the user's token version (``ver``); rotation keeps both, and every access token
copies them. A request is refused (401 ``token_not_valid``) when

- its ``ver`` is not the user's current version: a password change raised it and so ended
  every session (``TokenState.end_all``);
- its ``sid`` is one the user logged out of (``end_session``): logout ends that one session,
  on that phone, and leaves the user's other sessions alone.

Both are read from the ``TokenState`` row fetched with the user in the one query simplejwt
makes anyway (``accounts.authentication``), so the check costs no query and nothing is cached.

A refresh token is spent once, by a refresh or by a logout: the INSERT of its blacklist row
(unique per token) decides which of several parallel uses wins; simplejwt's own refresh read
the blacklist first and used ``get_or_create``, so parallel refreshes all won.

Tokens without ``ver``/``sid`` (minted by plain simplejwt, or before sessions had ids) count
as version 0; refreshing one gives the new pair a session id, logging out with one ends every
session of the user, since there is no other way to reach its access tokens.
"""

from __future__ import annotations

import secrets
import time

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.errors import Forbidden
from accounts.models import TokenState, User

VERSION_CLAIM = "ver"
SESSION_CLAIM = "sid"
# The sessions a user ended that are remembered at once; one more raises the version instead
# (ends every session), so the row loaded with every request stays small.
MAX_ENDED_SESSIONS = 100
# An ended session is remembered as long as a refresh token minted in it can live, plus this
# much for clocks and requests in flight.
ENDED_SESSION_MARGIN_SECONDS = 60


class SessionRefreshToken(RefreshToken):
    """simplejwt's refresh token, minted with the user's token version and a new session id."""

    @classmethod
    def for_user(cls, user: User) -> SessionRefreshToken:  # type: ignore[override]
        # simplejwt's Token.for_user and BlacklistMixin.for_user, with the two claims set before
        # the outstanding row stores the token.
        token = cls()
        token[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
        token[VERSION_CLAIM] = version_of(user)
        token[SESSION_CLAIM] = new_session_id()
        _outstand(token, user)
        return token


class _RefreshClaims(Token):
    """A refresh token's signature, expiry and type, without its blacklist entry (logout)."""

    token_type = "refresh"  # noqa: S105 - a token type, not a secret
    lifetime = api_settings.REFRESH_TOKEN_LIFETIME


def new_session_id() -> str:
    return secrets.token_urlsafe(12)


def state_of(user: User) -> TokenState | None:
    try:
        return user.token_state
    except TokenState.DoesNotExist:
        return None


def version_of(user: User) -> int:
    state = state_of(user)
    return state.version if state else 0


def is_current(token: Token, state: TokenState | None) -> bool:
    """Whether ``token`` belongs to no ended session and the user's current version."""
    version = state.version if state else 0
    if token.get(VERSION_CLAIM, 0) != version:
        return False
    sid = token.get(SESSION_CLAIM)
    return not (sid and state and sid in state.ended_sessions)


def check_current(token: Token, user: User) -> None:
    """401 ``token_not_valid`` unless ``token`` is of a session of ``user`` still going on."""
    if not is_current(token, state_of(user)):
        raise InvalidToken("Token revoked: session ended or password changed")


def _user_of(token: Token) -> User:
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = (
        get_user_model()
        .objects.select_related("token_state")
        .filter(**{api_settings.USER_ID_FIELD: user_id})
        .first()
        if user_id
        else None
    )
    if user is None:
        raise InvalidToken("Token user not found")
    return user


def _outstanding_fields(token: Token, user: User) -> dict:
    return {
        "user": user,
        "token": str(token),
        "created_at": token.current_time,
        "expires_at": datetime_from_epoch(token["exp"]),
    }


def _outstand(token: Token, user: User) -> OutstandingToken:
    return OutstandingToken.objects.create(
        jti=token[api_settings.JTI_CLAIM], **_outstanding_fields(token, user)
    )


def _blacklist(token: Token, user: User) -> bool:
    """Blacklist ``token``: True when this call did, False when it already was.

    The blacklist row is unique per token, so of parallel calls exactly one INSERT succeeds
    (on PostgreSQL the others wait for it to commit, then fail; SQLite runs them one by one)."""
    outstanding, _created = OutstandingToken.objects.get_or_create(
        jti=token[api_settings.JTI_CLAIM], defaults=_outstanding_fields(token, user)
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        return False
    return True


def rotate(raw: str) -> dict[str, str]:
    """Spend the refresh token ``raw``; the one caller that spends it gets a new pair.

    401 ``token_not_valid`` for a bad, expired or spent token (a parallel refresh or a logout
    got there first) and for a token of an ended session; 401 ``invalid_credentials`` when the
    account is inactive (as simplejwt answers)."""
    refresh = SessionRefreshToken(raw)  # signature, expiry, type; the blacklist is read too
    user = _user_of(refresh)
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("No active account for the token.", code="no_active_account")
    check_current(refresh, user)
    with transaction.atomic():
        if not _blacklist(refresh, user):
            raise InvalidToken("Token is blacklisted")
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh[VERSION_CLAIM] = version_of(user)
        if not refresh.get(SESSION_CLAIM):
            refresh[SESSION_CLAIM] = new_session_id()
        _outstand(refresh, user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def end_session(*, user: User, raw: str) -> None:
    """Log out of the session of the refresh token ``raw``, which must be ``user``'s.

    Every token of that session stops working: this refresh token (blacklisted), the ones
    rotated from it, the access tokens minted in it. The user's other sessions go on. Any
    token of a session still going on names it, one already rotated too, so a logout racing a
    refresh still ends the session. 401 ``token_not_valid`` when the session has ended already
    (a second logout), or the token is bad or expired; 403 when it is another user's."""
    refresh = _RefreshClaims(raw)
    if str(refresh.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise Forbidden("只能注销自己的登录凭证。")
    with transaction.atomic():
        state = TokenState.locked(user_id=user.pk)
        if not is_current(refresh, state):
            raise InvalidToken("Session already ended")
        sid = refresh.get(SESSION_CLAIM)
        now = int(time.time())
        ended = {s: until for s, until in state.ended_sessions.items() if until > now}
        if sid and len(ended) < MAX_ENDED_SESSIONS:
            lifetime = api_settings.REFRESH_TOKEN_LIFETIME.total_seconds()
            ended[sid] = now + int(lifetime) + ENDED_SESSION_MARGIN_SECONDS
        else:
            # A token without a session id, or too many ended sessions to remember: end them all.
            state.version += 1
            ended = {}
        state.ended_sessions = ended
        state.save(update_fields=["version", "ended_sessions", "updated_at"])
        _blacklist(refresh, user)
