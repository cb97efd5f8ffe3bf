"""Routes of statistics, the follow-up list and exports (the dashboard page is backend's)."""

from django.urls import path

from services.stats import views

urlpatterns = [
    path("stats/summary/", views.SummaryView.as_view(), name="stats-summary"),
    path("stats/breakdown/", views.BreakdownView.as_view(), name="stats-breakdown"),
    path("stats/unclaimed/", views.UnclaimedView.as_view(), name="stats-unclaimed"),
    path("stats/export/", views.ExportView.as_view(), name="stats-export"),
]
