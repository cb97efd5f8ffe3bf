"""Who may change geography: staff everything, a station manager their own stations."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.permissions import is_staff


class CanEditStation(BasePermission):
    """Anyone signed in reads; staff write; a manager may PATCH the stations they manage."""

    message = "只有政协机关工作人员或该驿站的管理员可以修改。"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS or is_staff(user):
            return True
        return request.method == "PATCH" and user.is_station_manager

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS or is_staff(request.user):
            return True
        return obj.managers.filter(pk=request.user.pk).exists()
