"""Open311 GeoReport v2, included at ``open311/v2/`` by backend.urls (JSON format only)."""

from django.urls import path

from services.open311 import views

urlpatterns = [
    path("services.json", views.ServiceListView.as_view(), name="open311-services"),
    path("requests.json", views.RequestListView.as_view(), name="open311-requests"),
    path(
        "requests/<str:service_request_id>.json",
        views.RequestDetailView.as_view(),
        name="open311-request",
    ),
]
