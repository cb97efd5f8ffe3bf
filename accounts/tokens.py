"""JWT refresh tokens: one use each.

A refresh token is spent once, by a refresh or by a logout: the INSERT of its blacklist row
(unique per token) decides which of several parallel uses wins. simplejwt's own refresh read
the blacklist first and then blacklisted with ``get_or_create``, ignoring whether it created
the row, so parallel refreshes of one token all won and each minted a live pair.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.errors import Forbidden
from accounts.models import User


def _user_of(token: Token) -> User:
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = (
        get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user_id
        else None
    )
    if user is None:
        raise InvalidToken("Token user not found")
    return user


def _outstand(token: Token, user: User) -> OutstandingToken:
    return OutstandingToken.objects.create(
        user=user,
        jti=token[api_settings.JTI_CLAIM],
        token=str(token),
        created_at=token.current_time,
        expires_at=datetime_from_epoch(token["exp"]),
    )


def _blacklist(token: Token, user: User) -> bool:
    """Blacklist ``token``: True when this call did, False when it already was.

    The blacklist row is unique per token, so of parallel calls exactly one INSERT succeeds
    (on PostgreSQL the others wait for it to commit, then fail; SQLite runs them one by one)."""
    outstanding, _created = OutstandingToken.objects.get_or_create(
        jti=token[api_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
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
    got there first); 401 ``invalid_credentials`` when the account is inactive (as simplejwt
    answers)."""
    refresh = RefreshToken(raw)  # signature, expiry, type; the blacklist is read too
    user = _user_of(refresh)
    if not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("No active account for the token.", code="no_active_account")
    with transaction.atomic():
        if not _blacklist(refresh, user):
            raise InvalidToken("Token is blacklisted")
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        _outstand(refresh, user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def logout(*, user: User, raw: str) -> None:
    """Spend the refresh token ``raw``, which must be ``user``'s.

    401 ``token_not_valid`` when it is bad, expired or spent already (a second logout, or a
    refresh got there first); 403 when it is another user's."""
    refresh = RefreshToken(raw)
    if str(refresh.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise Forbidden("只能注销自己的登录凭证。")
    if not _blacklist(refresh, user):
        raise InvalidToken("Token is blacklisted")
