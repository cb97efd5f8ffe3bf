"""Routes of the service archive."""

from django.urls import path

from services.archive import views

urlpatterns = [
    path("me/service-history/", views.MyHistoryView.as_view(), name="me-service-history"),
    path(
        "members/<int:pk>/service-history/",
        views.MemberHistoryView.as_view(),
        name="member-service-history",
    ),
    path("archive/annual-export/", views.AnnualExportView.as_view(), name="archive-annual-export"),
]
