"""The services app's routes: each capability's own, in one list."""

from django.urls import include, path

urlpatterns = [
    # Fixed paths (requests/map/, requests/recommended/) before any requests/<pk>/ pattern.
    path("", include("services.matching.urls")),
    path("", include("services.requests.urls")),
    path("", include("services.records.urls")),
    path("", include("services.stats.urls")),
    path("", include("services.attachments.urls")),
    path("", include("services.archive.urls")),
    path("", include("services.certificates.urls")),
    path("", include("services.me.urls")),
    path("", include("services.teams.urls")),
    path("", include("services.series.urls")),
    path("", include("services.ical.urls")),
    path("", include("services.intake.urls")),
    path("", include("services.enterprises.urls")),
]
