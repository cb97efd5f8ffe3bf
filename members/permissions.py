"""Who reads the roster: anyone holding a role; who writes it: staff."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.permissions import is_staff


def holds_a_role(user) -> bool:
    """A member, station manager, village liaison or staff."""
    return bool(
        user
        and user.is_authenticated
        and (user.is_member or user.is_station_manager or user.is_village_liaison or is_staff(user))
    )


class RosterReadStaffWrite(BasePermission):
    """Members, managers and liaisons read teams and members (masked); staff write."""

    message = "仅政协机关工作人员可以修改；查看需委员、驿站管理员或村社联络员身份。"

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return holds_a_role(request.user)
        return is_staff(request.user)
