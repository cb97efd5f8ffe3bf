"""Routes of matching: ranked teams, invitations, the member feed and the map."""

from django.urls import path

from services.matching import views

urlpatterns = [
    path("requests/map/", views.RequestMapView.as_view(), name="request-map"),
    path(
        "requests/recommended/",
        views.RecommendedRequestsView.as_view(),
        name="request-recommended",
    ),
    path("requests/<int:pk>/matches/", views.RequestMatchesView.as_view(), name="request-matches"),
    path("requests/<int:pk>/invite/", views.RequestInviteView.as_view(), name="request-invite"),
]
