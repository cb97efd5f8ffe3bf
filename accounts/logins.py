"""Sign-in flows that change state: binding a WeChat openid to an account."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import errors
from accounts.audit import record_event
from accounts.errors import Conflict, NotAuthenticated
from accounts.models import User
from accounts.wechat import code2session


class WechatUnbound(NotAuthenticated):
    default_code = errors.WECHAT_UNBOUND
    default_detail = "该微信尚未绑定账号，请输入用户名和密码完成首次绑定。"


class InvalidCredentials(NotAuthenticated):
    default_code = errors.INVALID_CREDENTIALS
    default_detail = "用户名或密码错误，或账号已停用。"


class WechatAlreadyBound(Conflict):
    default_code = errors.WECHAT_ALREADY_BOUND
    default_detail = "该微信或该账号已绑定其他账号/微信。"


def wechat_login(*, code: str, username: str = "", password: str = "") -> User:
    """The user bound to the openid behind ``code``; binds it first when credentials are given."""
    session = code2session(code)
    bound = User.objects.filter(wechat_openid=session.openid).first()
    if bound is not None:
        if not bound.is_active:
            raise InvalidCredentials()
        if username and username != bound.username:
            raise WechatAlreadyBound()
        return bound
    if not username:
        raise WechatUnbound()
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    return _bind(user=user, openid=session.openid)


def _bind(*, user: User, openid: str) -> User:
    try:
        with transaction.atomic():
            # Conditional UPDATE: an account already bound to another openid keeps it, and the
            # unique openid column stops two accounts taking one openid at the same time.
            updated = User.objects.filter(pk=user.pk, wechat_openid__isnull=True).update(
                wechat_openid=openid, wechat_bound_at=timezone.now()
            )
            if updated:
                record_event(actor=user, verb="wechat_bound", obj=user)
    except IntegrityError:
        raise WechatAlreadyBound() from None
    user.refresh_from_db()
    # A parallel request may have bound this same pair first: that is the same outcome.
    if user.wechat_openid != openid:
        raise WechatAlreadyBound()
    return user
