"""Routes of service records, their review and duty points."""

from django.urls import path

from services.records import attachment_views, views

urlpatterns = [
    path(
        "requests/<int:pk>/record/",
        views.RequestRecordView.as_view(),
        name="request-record",
    ),
    path("records/", views.RecordListView.as_view(), name="record-list"),
    path("records/<int:pk>/", views.RecordDetailView.as_view(), name="record-detail"),
    path("records/<int:pk>/verify/", views.RecordVerifyView.as_view(), name="record-verify"),
    path("records/<int:pk>/revoke/", views.RecordRevokeView.as_view(), name="record-revoke"),
    path(
        "records/<int:pk>/attachments/",
        attachment_views.RecordAttachmentsView.as_view(),
        name="record-attachments",
    ),
    path(
        "records/<int:pk>/attachments/<int:attachment>/",
        attachment_views.RecordAttachmentDetailView.as_view(),
        name="record-attachment",
    ),
    path("points/rules/", views.PointRuleListView.as_view(), name="point-rules"),
    path(
        "points/leaderboard/",
        views.LeaderboardView.as_view(),
        name="points-leaderboard",
    ),
]
