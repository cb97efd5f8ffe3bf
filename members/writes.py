"""Every write of specialties, teams and members, and account activation.

Each public function runs in one transaction and leaves an Event per changed row, except
``new_member`` and ``apply_member``: the building blocks the roster import (:mod:`members.roster`)
shares, which leave the transaction and the Event to their caller. Nothing is deleted: teams,
specialties and members are deactivated (``active=False``) instead.

Accounts (激活流程): a member created here or by the roster import gets a login account whose
username is the phone number and which has **no usable password**. A one-time activation code
(8 characters, valid ``MEMBER_ACTIVATION_DAYS``) is returned once to staff, who hand it to the
member; the member sets a password with ``POST /api/v1/members/activate/`` and from then on
logs in (or binds WeChat) with phone + password. Only a keyed hash of the code is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.audit import record_event
from accounts.errors import VALIDATION_ERROR, InvalidInput
from accounts.models import User
from members.errors import (
    ActivationInvalid,
    DuplicateCode,
    DuplicateName,
    InvalidLeader,
    PhoneTaken,
)
from members.models import Member, Specialty, Team
from stations.geo import Point
from stations.models import Town
from stations.writes import jsonable

# No 0/O, 1/I/L: the code is read aloud or copied from paper.
ACTIVATION_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ACTIVATION_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Activation:
    """A one-time code as handed to staff; only its hash is stored."""

    code: str
    expires_at: datetime


# ------------------------------------------------------------------ specialties


def _save_specialty(specialty: Specialty) -> None:
    try:
        with transaction.atomic():
            specialty.save()
    except IntegrityError as exc:
        others = Specialty.objects.exclude(pk=specialty.pk)
        if others.filter(code=specialty.code).exists():
            message = f"专长代码“{specialty.code}”已存在。"
            raise DuplicateCode(message, fields={"code": [message]}) from exc
        message = f"专长“{specialty.name}”已存在。"
        raise DuplicateName(message, fields={"name": [message]}) from exc


@transaction.atomic
def specialty_create(*, actor: User, code: str, name: str, active: bool = True) -> Specialty:
    """Create a specialty (专长)."""
    specialty = Specialty(code=code, name=name, active=active)
    _save_specialty(specialty)
    record_event(actor=actor, verb="specialty.created", obj=specialty, payload={"code": code})
    return specialty


@transaction.atomic
def specialty_update(*, actor: User, specialty: Specialty, changes: Mapping[str, Any]) -> Specialty:
    """Change a specialty; ``active=False`` deactivates it."""
    for key, value in changes.items():
        setattr(specialty, key, value)
    _save_specialty(specialty)
    record_event(actor=actor, verb="specialty.updated", obj=specialty, payload=jsonable(changes))
    return specialty


# ------------------------------------------------------------------ teams


def _check_leader(leader: User | None) -> None:
    if leader is not None and not Member.objects.filter(user=leader, active=True).exists():
        raise InvalidLeader(fields={"leader": ["团队负责人必须是在册委员。"]})


def _save_team(team: Team) -> None:
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError as exc:
        message = f"团队“{team.name}”已存在。"
        raise DuplicateName(message, fields={"name": [message]}) from exc


@transaction.atomic
def team_create(
    *,
    actor: User,
    name: str,
    sector: str = "",
    home_town: Town | None = None,
    home: Point | None = None,
    specialties: Iterable[Specialty] = (),
    leader: User | None = None,
    active: bool = True,
) -> Team:
    """Create a team (委员团队)."""
    _check_leader(leader)
    team = Team(
        name=name,
        sector=sector,
        home_town=home_town,
        home_lat=home.lat if home else None,
        home_lng=home.lng if home else None,
        leader=leader,
        active=active,
    )
    _save_team(team)
    specialties = list(specialties)
    team.specialties.set(specialties)
    record_event(
        actor=actor,
        verb="team.created",
        obj=team,
        payload=jsonable({"name": name, "specialties": specialties, "leader": leader}),
    )
    return team


@transaction.atomic
def team_update(*, actor: User, team: Team, changes: Mapping[str, Any]) -> Team:
    """Change a team; ``active=False`` deactivates it (its members stay, teamless or not)."""
    if "leader" in changes:
        _check_leader(changes["leader"])
    for key, value in changes.items():
        if key == "home":
            team.home_lat = value.lat if value else None
            team.home_lng = value.lng if value else None
        elif key != "specialties":
            setattr(team, key, value)
    _save_team(team)
    if "specialties" in changes:
        team.specialties.set(changes["specialties"])
    record_event(actor=actor, verb="team.updated", obj=team, payload=jsonable(changes))
    return team


# ------------------------------------------------------------------ members and accounts


def _code_hash(member_id: int, code: str) -> str:
    # Keyed with SECRET_KEY: a leaked database alone does not let anyone try codes offline.
    return salted_hmac("members.activation", f"{member_id}:{code.upper()}").hexdigest()


def _issue_activation(member: Member) -> Activation:
    """Put a fresh code on ``member`` (the caller saves it) and return it."""
    code = "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_LENGTH))
    expires_at = timezone.now() + timedelta(days=settings.MEMBER_ACTIVATION_DAYS)
    member.activation_code_hash = _code_hash(member.pk, code)
    member.activation_expires_at = expires_at
    return Activation(code=code, expires_at=expires_at)


def _account_for(*, phone: str, name: str) -> User:
    """The login account for a new member: an existing one named by the phone, or a new one."""
    user = User.objects.filter(username=phone).first()
    if user is None:
        user = User(username=phone, name=name, phone=phone, is_member=True)
        user.set_unusable_password()
    else:
        if Member.objects.filter(user=user).exists():
            raise PhoneTaken(fields={"phone": [f"手机号 {phone} 已是其他委员的登录账号。"]})
        user.name, user.phone, user.is_member = name, phone, True
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise PhoneTaken(fields={"phone": [f"手机号 {phone} 已被其他账号使用。"]}) from exc
    return user


def _save_member(member: Member) -> None:
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        raise PhoneTaken(fields={"phone": [f"手机号 {member.phone} 已被其他委员使用。"]}) from exc


def new_member(
    *,
    phone: str,
    name: str,
    sector: str,
    team: Team | None,
    specialties: Iterable[Specialty],
    home: Point | None,
    active: bool = True,
) -> tuple[Member, Activation | None]:
    """Create a member and their account; the caller holds the transaction and records the Event."""
    if Member.objects.filter(phone=phone).exists():
        raise PhoneTaken(fields={"phone": [f"手机号 {phone} 已被其他委员使用。"]})
    user = _account_for(phone=phone, name=name)
    member = Member(
        user=user,
        name=name,
        phone=phone,
        sector=sector,
        team=team,
        home_lat=home.lat if home else None,
        home_lng=home.lng if home else None,
        active=active,
    )
    _save_member(member)
    member.specialties.set(list(specialties))
    activation = None
    if not user.has_usable_password():
        activation = _issue_activation(member)
        member.save(update_fields=["activation_code_hash", "activation_expires_at"])
    if not active:
        User.objects.filter(pk=user.pk).update(is_member=False)
    return member, activation


@transaction.atomic
def member_create(
    *,
    actor: User,
    name: str,
    phone: str,
    sector: str = "",
    team: Team | None = None,
    specialties: Iterable[Specialty] = (),
    home: Point | None = None,
    active: bool = True,
) -> tuple[Member, Activation | None]:
    """Create a member and their account; returns the activation code for a new account."""
    specialties = list(specialties)
    member, activation = new_member(
        phone=phone,
        name=name,
        sector=sector,
        team=team,
        specialties=specialties,
        home=home,
        active=active,
    )
    record_event(
        actor=actor,
        verb="member.created",
        obj=member,
        payload=jsonable({"team": team, "specialties": specialties, "source": "api"}),
    )
    return member, activation


def apply_member(member: Member, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` on the member and keep its account's name, phone, login and role.

    The caller holds the transaction and records the Event.
    """
    user = member.user
    user_fields: set[str] = set()
    for key, value in changes.items():
        if key == "home":
            member.home_lat = value.lat if value else None
            member.home_lng = value.lng if value else None
        elif key == "specialties":
            continue
        elif key == "phone" and value != member.phone:
            if user.username == member.phone:
                # The login name is the phone; follow the new number unless someone has it.
                if User.objects.filter(username=value).exclude(pk=user.pk).exists():
                    raise PhoneTaken(fields={"phone": [f"手机号 {value} 已被其他账号使用。"]})
                user.username = value
                user_fields.add("username")
            member.phone = user.phone = value
            user_fields.add("phone")
        elif key == "name":
            member.name = user.name = value
            user_fields.add("name")
        elif key == "active":
            member.active = value
            user.is_member = value
            user_fields.add("is_member")
        else:
            setattr(member, key, value)
    _save_member(member)
    if user_fields:
        try:
            with transaction.atomic():
                user.save(update_fields=sorted(user_fields))
        except IntegrityError as exc:
            raise PhoneTaken(fields={"phone": ["该手机号已被其他账号使用。"]}) from exc
    if "specialties" in changes:
        member.specialties.set(list(changes["specialties"]))


@transaction.atomic
def member_update(*, actor: User, member: Member, changes: Mapping[str, Any]) -> Member:
    """Change a member; ``active=False`` takes them off the roster (and the member role)."""
    apply_member(member, changes)
    # Field names only: the audit trail should not become a second copy of personal data.
    record_event(
        actor=actor, verb="member.updated", obj=member, payload={"fields": sorted(changes)}
    )
    return member


@transaction.atomic
def member_issue_activation(*, actor: User, member: Member) -> Activation:
    """A new activation code for ``member`` (the old one stops working); staff hand it over."""
    activation = _issue_activation(member)
    member.save(update_fields=["activation_code_hash", "activation_expires_at", "updated_at"])
    record_event(actor=actor, verb="member.activation_issued", obj=member)
    return activation


@transaction.atomic
def member_activate(*, phone: str, code: str, password: str) -> Member:
    """Set the password of ``phone``'s account with its one-time code; the code is used up."""
    member = Member.objects.select_related("user").filter(phone=phone, active=True).first()
    now = timezone.now()
    if (
        member is None
        or not member.user.is_active
        or not member.activation_code_hash
        or member.activation_expires_at is None
        or member.activation_expires_at <= now
        or not constant_time_compare(member.activation_code_hash, _code_hash(member.pk, code))
    ):
        raise ActivationInvalid()
    try:
        validate_password(password, member.user)
    except DjangoValidationError as exc:
        raise InvalidInput(
            f"密码不符合要求：{exc.messages[0]}",
            code=VALIDATION_ERROR,
            fields={"password": list(exc.messages)},
        ) from None
    # Spend the code with a conditional UPDATE: of two concurrent activations, one wins.
    spent = Member.objects.filter(
        pk=member.pk, activation_code_hash=member.activation_code_hash
    ).update(activation_code_hash="", activation_expires_at=None)
    if spent != 1:
        raise ActivationInvalid()
    member.user.set_password(password)
    member.user.save(update_fields=["password"])
    record_event(actor=member.user, verb="member.activated", obj=member)
    return member
