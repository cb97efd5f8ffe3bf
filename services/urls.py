"""The services app's routes: each capability's own, in one list."""

from django.urls import include, path

from services import stats_views

urlpatterns = [
    # Fixed paths (requests/map/, requests/recommended/) before any requests/<pk>/ pattern.
    path("", include("services.matching.urls")),
    path("", include("services.requests.urls")),
    path("", include("services.records.urls")),
    path("stats/summary/", stats_views.SummaryView.as_view(), name="stats-summary"),
    path("stats/breakdown/", stats_views.BreakdownView.as_view(), name="stats-breakdown"),
    path("stats/unclaimed/", stats_views.UnclaimedView.as_view(), name="stats-unclaimed"),
    path("stats/export/", stats_views.ExportView.as_view(), name="stats-export"),
]
