"""Routes of the console (/console/), and its sign-in (the dashboard's login rules)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse

from services.console import intake, needs, records, teams
from services.console.access import FORBIDDEN, LOGIN_URL
from services.stats.dashboard import DashboardLoginForm

app_name = "console"


class ConsoleLoginForm(DashboardLoginForm):
    """The dashboard's login form (the API's accounts, the login rate): staff and managers."""

    error_messages = {**DashboardLoginForm.error_messages, "not_allowed": FORBIDDEN}


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    authentication_form = ConsoleLoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("console:index")


class LogoutView(auth_views.LogoutView):
    """POST only: sign out and back to the login page."""

    def get_success_url(self):
        return reverse(LOGIN_URL)


urlpatterns = [
    path("", needs.index, name="index"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("needs/new/", needs.new, name="need-new"),
    path("needs/<int:pk>/", needs.detail, name="need"),
    path("needs/<int:pk>/edit/", needs.edit, name="need-edit"),
    path("needs/<int:pk>/invite/", teams.invite, name="need-invite"),
    path("records/", records.queue, name="records"),
    path("records/<int:pk>/", records.detail, name="record"),
    path("records/<int:pk>/verify/", records.verify, name="record-verify"),
    path("intake/", intake.queue, name="intake"),
    path("intake/<int:pk>/", intake.detail, name="intake-detail"),
    path("intake/<int:pk>/accept/", intake.accept, name="intake-accept"),
    path("intake/<int:pk>/merge/", intake.merge, name="intake-merge"),
    path("intake/<int:pk>/refer/", intake.refer, name="intake-refer"),
    path("intake/<int:pk>/decline/", intake.decline, name="intake-decline"),
]
