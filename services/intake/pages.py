"""The residents' pages: the poster's form at /q/<code>/ and the ticket at /q/t/<ticket>/.

Server-rendered Django templates, phone-first, in Chinese, no login and no script: a few
kilobytes that work on a slow connection inside WeChat's browser. The form goes through the
same serializer and write as POST /api/v1/intake/; errors are the API's Chinese details,
shown on the page (docs/intake.md).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseRedirect, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.errors import ApplicationError
from accounts.throttles import client_address
from members.models import Specialty
from services.intake import abuse, codes, ratings, tracking
from services.intake.errors import IntakeRefused
from services.intake.serializers import IntakeFormSerializer, RatingInputSerializer
from services.intake.views import submit_from
from services.models import Intake, IntakeCode

# The hidden field a person never sees and a form-filling robot fills.
HONEYPOT = "website"
FIELDS = ("specialty", "village", "description", "phone")


def _message(request, *, title: str, detail: str, status: int):
    return render(request, "intake/message.html", {"title": title, "detail": detail}, status=status)


def _form(request, code: IntakeCode, *, values=None, errors=None, detail="", status=200):
    villages = (
        [code.village]
        if code.village
        else list(code.station.villages.filter(active=True).order_by("name"))
    )
    context = {
        "code": code,
        "place": codes.place_name(code),
        "specialties": Specialty.objects.filter(active=True).order_by("id"),
        "villages": villages,
        "values": values or {},
        "errors": errors or {},
        "detail": detail,
        "honeypot": HONEYPOT,
        "max_description": IntakeFormSerializer().fields["description"].max_length,
        "max_photos": settings.INTAKE_MAX_PHOTOS,
    }
    return render(request, "intake/form.html", context, status=status)


def _csrf_failed(request) -> bool:
    """Django's own CSRF check, run here so the refusal is this page's, in Chinese."""
    return CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is not None


def _form_data(request) -> QueryDict:
    data = QueryDict(mutable=True)
    for name in FIELDS:
        value = request.POST.get(name, "")
        if value != "" or name == "description":
            data[name] = value
    return data


def _field_errors(detail) -> dict[str, str]:
    return {name: str(messages[0]) for name, messages in detail.items() if messages}


@csrf_exempt  # checked in the view, to answer in Chinese
@never_cache
def intake_page(request, code: str):
    """GET: the form; POST: submit it, then the ticket page (303)."""
    try:
        found = codes.lookup(code)
    except ApplicationError as exc:
        return _message(
            request, title="无法提交诉求", detail=str(exc.detail), status=exc.status_code
        )
    if request.method not in ("GET", "HEAD", "POST"):
        return _message(request, title="无法提交诉求", detail="不支持该操作。", status=405)
    if request.method != "POST":
        return _form(request, found)
    if _csrf_failed(request):
        return _form(
            request,
            found,
            detail="页面已过期或来源不明（安全校验失败），请刷新页面后重新填写提交。",
            status=403,
        )
    values = {name: request.POST.get(name, "") for name in FIELDS}
    try:
        abuse.check_address(client_address(request))
        if request.POST.get(HONEYPOT, ""):
            raise IntakeRefused()
        data = IntakeFormSerializer(data=_form_data(request))
        if not data.is_valid():
            errors = _field_errors(data.errors)
            return _form(
                request,
                found,
                values=values,
                errors=errors,
                detail="请修改标红的内容。",
                status=400,
            )
        intake = submit_from(request, data.validated_data, code=found, source=Intake.Source.WEB)
    except ApplicationError as exc:
        errors = _field_errors(exc.fields or {})
        return _form(
            request,
            found,
            values=values,
            errors=errors,
            detail=str(exc.detail),
            status=exc.status_code,
        )
    return HttpResponseRedirect(f"/q/t/{intake.ticket}/", status=303)


# The form may carry photos (INTAKE_MAX_PHOTOS): the body limit is the photo upload's.
intake_page.body_limit_setting = "ATTACHMENTS_MAX_UPLOAD_BYTES"
intake_page.body_limit_methods = ("POST",)


@never_cache
def ticket_page(request, ticket: str):
    """The resident's ticket: the steps with their dates, nothing personal about members."""
    intake = tracking.by_ticket(ticket)
    if intake is None:
        return _message(
            request, title="没有找到该回执", detail="请核对回执链接是否完整。", status=404
        )
    context = {"intake": intake, "ticket": tracking.ticket_view(intake)}
    return render(request, "intake/ticket.html", context)


@csrf_exempt  # checked in the view, to answer in Chinese
@never_cache
def rate_page(request, ticket: str):
    """POST the ticket page's rating form (评单); back to the ticket page (303)."""
    intake = tracking.by_ticket(ticket)
    if intake is None:
        return _message(
            request, title="没有找到该回执", detail="请核对回执链接是否完整。", status=404
        )
    if request.method != "POST":
        return HttpResponseRedirect(f"/q/t/{intake.ticket}/", status=303)

    def again(detail: str, status: int):
        context = {"intake": intake, "ticket": tracking.ticket_view(intake), "rate_detail": detail}
        return render(request, "intake/ticket.html", context, status=status)

    if _csrf_failed(request):
        return again("页面已过期或来源不明（安全校验失败），请刷新页面后重新提交。", 403)
    data = RatingInputSerializer(data=_only(request, ("score", "comment")))
    if not data.is_valid():
        return again("请选择 1–5 分；意见建议不超过 300 字。", 400)
    try:
        ratings.rate(
            intake_id=intake.pk,
            change=ratings.rating_of(intake) is not None,
            **data.validated_data,
        )
    except ApplicationError as exc:
        return again(str(exc.detail), exc.status_code)
    return HttpResponseRedirect(f"/q/t/{intake.ticket}/", status=303)


def _only(request, names) -> QueryDict:
    data = QueryDict(mutable=True)
    for name in names:
        if name in request.POST:
            data[name] = request.POST[name]
    return data
