"""Personal data (个人信息, PIPL): the one place that decides who sees what of a person.

- Phone numbers: in full to staff and to the person themself; everyone else sees
  ``138****1234``. Every full number shown to staff (not their own) leaves a ``pii_viewed``
  Event (accounts.pii_audit).
- Names: in full to staff, station managers and the person themself; everyone else sees the
  surname and one ``*`` per further character (``王*``).
- Home location (常住地): to staff and the person themself only; others get null.

Every serializer that shows a person's name, phone or home uses the fields below, so the rule
cannot drift between endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.permissions import is_staff
from accounts.pii_audit import note_view


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: enough of the user to apply the rules without more queries."""

    user_id: int | None
    staff: bool
    manager: bool


NOBODY = Viewer(user_id=None, staff=False, manager=False)


def viewer_of(user) -> Viewer:
    """The Viewer for a request's user (anonymous users see everything masked)."""
    if user is None or not user.is_authenticated:
        return NOBODY
    return Viewer(user_id=user.pk, staff=is_staff(user), manager=bool(user.is_station_manager))


def mask_phone(phone: str) -> str:
    """``13812341234`` → ``138****1234``; other lengths keep at most the last four digits."""
    if not phone:
        return ""
    if len(phone) == 11:
        return f"{phone[:3]}****{phone[-4:]}"
    if len(phone) > 6:
        return "*" * (len(phone) - 4) + phone[-4:]
    return "*" * len(phone)


def mask_name(name: str) -> str:
    """``王丽`` → ``王*``, ``欧阳娜娜`` → ``欧***``: the first character and one star per other."""
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def sees_phone(viewer: Viewer, subject_user_id: int | None) -> bool:
    """Staff and the person themself see the full phone number."""
    return viewer.staff or (viewer.user_id is not None and viewer.user_id == subject_user_id)


def sees_name(viewer: Viewer, subject_user_id: int | None) -> bool:
    """Staff, station managers and the person themself see the full name."""
    return viewer.manager or sees_phone(viewer, subject_user_id)


def sees_home(viewer: Viewer, subject_user_id: int | None) -> bool:
    """Staff and the person themself see where a member lives."""
    return sees_phone(viewer, subject_user_id)


def shown_name(viewer: Viewer, subject_user_id: int | None, name: str) -> str:
    """The name as ``viewer`` may see it."""
    return name if sees_name(viewer, subject_user_id) else mask_name(name)


def context_viewer(context: dict) -> Viewer:
    """The Viewer in a serializer context: ``viewer`` if given, else the request's user."""
    if "viewer" in context:
        return context["viewer"]
    request = context.get("request")
    return viewer_of(getattr(request, "user", None))


class _PersonField(serializers.Field):
    """Reads ``attr`` and the person's user id from the object itself (``source="*"``)."""

    def __init__(self, *, attr: str, user_id_attr: str = "user_id", **kwargs):
        self.attr = attr
        self.user_id_attr = user_id_attr
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def subject(self, obj) -> tuple[int | None, str]:
        return getattr(obj, self.user_id_attr), getattr(obj, self.attr) or ""


@extend_schema_field(OpenApiTypes.STR)
class NameField(_PersonField):
    """A person's name, masked unless the viewer may see it."""

    def __init__(self, *, attr: str = "name", **kwargs):
        super().__init__(attr=attr, **kwargs)

    def to_representation(self, obj) -> str:
        user_id, name = self.subject(obj)
        return shown_name(context_viewer(self.context), user_id, name)


@extend_schema_field(OpenApiTypes.STR)
class PhoneField(_PersonField):
    """A person's phone number, masked unless the viewer may see it."""

    def __init__(self, *, attr: str = "phone", **kwargs):
        super().__init__(attr=attr, **kwargs)

    def to_representation(self, obj) -> str:
        user_id, phone = self.subject(obj)
        viewer = context_viewer(self.context)
        if not sees_phone(viewer, user_id):
            return mask_phone(phone)
        if phone and viewer.staff and viewer.user_id != user_id:
            # Staff reading someone else's full number leaves an Event (one INSERT per response).
            note_view(actor_id=viewer.user_id, obj=obj, field_name=self.attr)
        return phone


@extend_schema_field({"type": "number", "format": "double", "nullable": True})
class HomeCoordinateField(_PersonField):
    """A member's home latitude or longitude, null unless the viewer may see it."""

    def to_representation(self, obj) -> float | None:
        user_id, _ = self.subject(obj)
        if not sees_home(context_viewer(self.context), user_id):
            return None
        return getattr(obj, self.attr)

    def subject(self, obj) -> tuple[int | None, str]:
        return getattr(obj, self.user_id_attr), ""
