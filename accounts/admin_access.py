"""Who sees which admin section: the machinery tables (login tokens, idempotency keys) are for
superusers only; staff see the sections they work in."""

from __future__ import annotations

from django.contrib import admin


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Hidden from staff who are not superusers: not in the index, 403 on its pages."""

    def has_module_permission(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
