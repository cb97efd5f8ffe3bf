"""Who may act on requests and claims. Roles come from accounts; the station rules live here."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.permissions import is_staff
from services import errors
from services.models import Claim, ServiceRequest
from stations.selectors import manages_station


class CanPostRequests(BasePermission):
    """POST requests/: station managers, village liaisons and staff; which station or village
    they may post for is checked against the input by the workflow."""

    message = "仅驿站管理员、村/社区联络员或机关工作人员可以发布需求。"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(user.is_station_manager or user.is_village_liaison or is_staff(user))


def _manages(user, service_request: ServiceRequest) -> bool:
    return is_staff(user) or manages_station(user, service_request.station_id)


class IsRequestManager(BasePermission):
    """The request's station managers, or staff."""

    message = "仅该驿站的管理员或机关工作人员可以执行此操作。"

    def has_object_permission(self, request, view, obj: ServiceRequest) -> bool:
        return _manages(request.user, obj)


class IsRequestManagerOrReadOnly(IsRequestManager):
    """Anyone signed in reads; the station's managers and staff write."""

    def has_object_permission(self, request, view, obj: ServiceRequest) -> bool:
        return request.method in SAFE_METHODS or _manages(request.user, obj)


class IsClaimant(BasePermission):
    """Only the member who made the claim (403 ``not_claimant`` for others who can see it)."""

    def has_object_permission(self, request, view, obj: Claim) -> bool:
        if obj.member.user_id != request.user.pk:
            raise errors.NotClaimant()
        return True


class IsClaimStationManager(BasePermission):
    """The claim's request's station managers, or staff."""

    message = "仅该驿站的管理员或机关工作人员可以拒绝认领。"

    def has_object_permission(self, request, view, obj: Claim) -> bool:
        return _manages(request.user, obj.request)
