"""Role permissions reused by every app. Object rules (which station, which team) live with
the objects, in the app that owns them."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission


def is_staff(user) -> bool:
    """Staff of the CPPCC office (or a superuser)."""
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


class IsStaff(BasePermission):
    """政协机关工作人员."""

    message = "仅限政协机关工作人员。"

    def has_permission(self, request, view) -> bool:
        return is_staff(request.user)


class IsMember(BasePermission):
    """委员."""

    message = "仅限委员。"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_member)


class IsStaffOrReadOnly(BasePermission):
    """Anyone signed in reads; staff write."""

    message = "仅政协机关工作人员可以修改。"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_staff(request.user)
