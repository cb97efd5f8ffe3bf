"""JWT authentication that refuses the tokens of ended sessions (accounts.tokens)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts.tokens import check_current


class SessionJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication; the user's TokenState comes in the same query as the user
    (a LEFT JOIN on its primary key), and a token of an ended session or an older version is
    401 ``token_not_valid``. No extra query, nothing cached, so nothing is ever stale."""

    def get_user(self, validated_token):
        # simplejwt's get_user, with select_related and the session check.
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken(_("Token contained no recognizable user identification")) from None
        users = self.user_model.objects.select_related("token_state")
        try:
            user = users.get(**{api_settings.USER_ID_FIELD: user_id})
        except self.user_model.DoesNotExist:
            raise AuthenticationFailed(_("User not found"), code="user_not_found") from None
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        check_current(validated_token, user)
        return user


class SessionJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of simplejwt (``jwtAuth``), for the subclass."""

    target_class = "accounts.authentication.SessionJWTAuthentication"
