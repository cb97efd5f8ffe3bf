"""Routes of campaigns, requests and claims."""

from django.urls import path

from services.requests import views

urlpatterns = [
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
]
