"""Reads of specialties, teams and members: what each user may see; the /me/ section."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from accounts.permissions import is_staff
from members.models import Member, Specialty, Team
from members.serializers import MeSectionSerializer, OwnProfileSerializer, OwnTeamSerializer
from stations import selectors as station_selectors
from stations.serializers import StationBriefSerializer, VillageBriefSerializer


def specialty_list(*, user: User) -> QuerySet[Specialty]:
    """Specialties visible to ``user``: staff see inactive ones too."""
    specialties = Specialty.objects.all()
    return specialties if is_staff(user) else specialties.filter(active=True)


def team_list(*, user: User) -> QuerySet[Team]:
    """Teams visible to ``user``, with leader, specialties and active member count."""
    teams = (
        Team.objects.select_related("leader")
        .prefetch_related("specialties")
        .annotate(member_count=Count("members", filter=Q(members__active=True)))
        # Meta.ordering is dropped from GROUP BY queries; pagination needs a stable order.
        .order_by("id")
    )
    return teams if is_staff(user) else teams.filter(active=True)


def member_list(*, user: User) -> QuerySet[Member]:
    """Members visible to ``user`` (masking is the serializer's job, via members.pii)."""
    members = Member.objects.select_related("team").prefetch_related("specialties")
    return members if is_staff(user) else members.filter(active=True)


def me_section(user: User) -> dict[str, Any]:
    """/me/ provider: own member profile, team, stations managed, villages liaised (the shape
    of ``me_section.serializer``)."""
    member = (
        Member.objects.select_related("team")
        .prefetch_related(
            "specialties", Prefetch("team__specialties", queryset=Specialty.objects.all())
        )
        .filter(user=user)
        .first()
    )
    team = member.team if member and member.team_id and member.team.active else None
    return {
        "member": OwnProfileSerializer(member).data if member else None,
        "team": OwnTeamSerializer(team).data if team else None,
        "stations_managed": StationBriefSerializer(
            station_selectors.stations_managed(user=user), many=True
        ).data,
        "villages_liaised": VillageBriefSerializer(
            station_selectors.villages_liaised(user=user), many=True
        ).data,
    }


me_section.serializer = MeSectionSerializer
