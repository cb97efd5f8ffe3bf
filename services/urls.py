from django.urls import include, path

from services import records_views, stats_views, views

urlpatterns = [
    # Fixed paths (requests/map/, requests/recommended/) before any requests/<pk>/ pattern.
    path("", include("services.matching.urls")),
    path("campaigns/", views.CampaignListView.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("requests/", views.RequestListView.as_view(), name="request-list"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="request-detail"),
    path("requests/<int:pk>/cancel/", views.RequestCancelView.as_view(), name="request-cancel"),
    path("requests/<int:pk>/events/", views.RequestEventsView.as_view(), name="request-events"),
    path("requests/<int:pk>/claims/", views.RequestClaimView.as_view(), name="request-claim"),
    path("claims/", views.ClaimListView.as_view(), name="claim-list"),
    path("claims/<int:pk>/", views.ClaimDetailView.as_view(), name="claim-detail"),
    path("claims/<int:pk>/cancel/", views.ClaimCancelView.as_view(), name="claim-cancel"),
    path("claims/<int:pk>/check-in/", views.ClaimCheckInView.as_view(), name="claim-check-in"),
    path("claims/<int:pk>/check-out/", views.ClaimCheckOutView.as_view(), name="claim-check-out"),
    path("claims/<int:pk>/reject/", views.ClaimRejectView.as_view(), name="claim-reject"),
    # Statistics, the follow-up list and exports (services.stats_views).
    path("stats/summary/", stats_views.SummaryView.as_view(), name="stats-summary"),
    path("stats/breakdown/", stats_views.BreakdownView.as_view(), name="stats-breakdown"),
    path("stats/unclaimed/", stats_views.UnclaimedView.as_view(), name="stats-unclaimed"),
    path("stats/export/", stats_views.ExportView.as_view(), name="stats-export"),
    # Service records, their review, duty points (services.records_views).
    path(
        "requests/<int:pk>/record/",
        records_views.RequestRecordView.as_view(),
        name="request-record",
    ),
    path("records/", records_views.RecordListView.as_view(), name="record-list"),
    path("records/<int:pk>/", records_views.RecordDetailView.as_view(), name="record-detail"),
    path(
        "records/<int:pk>/verify/", records_views.RecordVerifyView.as_view(), name="record-verify"
    ),
    path(
        "records/<int:pk>/revoke/", records_views.RecordRevokeView.as_view(), name="record-revoke"
    ),
    path("points/rules/", records_views.PointRuleListView.as_view(), name="point-rules"),
    path(
        "points/leaderboard/",
        records_views.LeaderboardView.as_view(),
        name="points-leaderboard",
    ),
]
