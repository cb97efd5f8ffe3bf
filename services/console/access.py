"""Who may use the console, which stations they see, and how an action answers.

Staff and station managers only, as the API's manager endpoints: staff see every station, a
manager the stations they manage (``stations.selectors.managed_station_ids``); anything of
another station is 404, never named. Every action calls the API's write function and turns its
``ApplicationError`` into the page's error (the same Chinese ``detail``, the same status);
a success is Post/Redirect/Get with a flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.errors import ApplicationError
from accounts.permissions import is_staff
from stations.selectors import managed_station_ids

LOGIN_URL = "console:login"

FORBIDDEN = "管理工作台仅对驿站/工作室管理员和政协机关工作人员开放。"
NOT_FOUND = "没有找到该内容，或不属于您管理的驿站。"


def may_use_console(user) -> bool:
    """Staff and station managers."""
    return bool(user.is_authenticated and (is_staff(user) or user.is_station_manager))


def station_ids(user) -> set[int] | None:
    """The stations ``user`` acts for: None for staff (every station), else those managed."""
    return None if is_staff(user) else managed_station_ids(user)


def scoped(queryset: QuerySet, user, field: str = "station_id") -> QuerySet:
    """``queryset`` limited to the user's stations (staff: unchanged)."""
    ids = station_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


def desk(view: Callable) -> Callable:
    """Signed-in staff and managers; others to the login page, or the 403 page."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse(LOGIN_URL)}?next={quote(request.get_full_path())}")
        if not may_use_console(request.user):
            return render(request, "console/forbidden.html", {"message": FORBIDDEN}, status=403)
        try:
            return view(request, *args, **kwargs)
        except Http404:
            # Unknown, or another station's: the same page, which names nothing.
            return render(
                request,
                "console/forbidden.html",
                {"message": NOT_FOUND, "title": "没有找到"},
                status=404,
            )

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _gate(methods: tuple[str, ...]):
    def decorate(view: Callable) -> Callable:
        wrapped = require_http_methods(list(methods))(desk(view))
        # The methods it answers (tests/test_permission_matrix.py reads them).
        wrapped.http_methods = methods
        return wrapped

    return decorate


# A page (GET), a page with its form (GET and POST), an action (POST): each behind ``desk``.
page = _gate(("GET",))
form_page = _gate(("GET", "POST"))
action = _gate(("POST",))


def one(queryset: QuerySet, user, pk: int, field: str = "station_id"):
    """The row ``pk`` of the user's stations, else 404."""
    found = scoped(queryset, user, field).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


class Refused(Exception):
    """A form the API's serializer refused: its first message and the messages per field."""

    def __init__(self, detail: str, fields: dict[str, str], status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields
        self.status = status


def act(
    request: HttpRequest,
    write: Callable[[], object],
    *,
    done: Callable[[object], tuple[str, str]],
    again: Callable[[str, dict[str, str], int], HttpResponse],
) -> HttpResponse:
    """Run one write; on success flash ``done(result)``'s message and redirect to its URL
    (303), on refusal render ``again(detail, field errors, status)``: nothing was written."""
    try:
        result = write()
    except Refused as exc:
        return again(exc.detail, exc.fields, exc.status)
    except ApplicationError as exc:
        return again(str(exc.detail), field_errors(exc.fields or {}), exc.status_code)
    message, url = done(result)
    messages.success(request, message)
    return HttpResponseRedirect(url, status=303)


def field_errors(fields: dict) -> dict[str, str]:
    """``{field: [messages]}`` (an error's or a serializer's) → ``{field: first message}``."""
    found: dict[str, str] = {}
    for name, problems in fields.items():
        if isinstance(problems, dict):
            for inner, more in field_errors(problems).items():
                found.setdefault(f"{name}.{inner}", more)
        elif isinstance(problems, (list, tuple)) and problems:
            first = problems[0]
            found[name] = (
                next(iter(field_errors(first).values()), "")
                if isinstance(first, dict)
                else str(first)
            )
        elif problems:
            found[name] = str(problems)
    return found
