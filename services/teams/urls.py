"""Routes of team leaders and assignments (派单)."""

from django.urls import path

from services.teams import views

urlpatterns = [
    path("teams/<int:pk>/claims/", views.TeamClaimsView.as_view(), name="team-claims"),
    path("teams/<int:pk>/requests/", views.TeamRequestsView.as_view(), name="team-requests"),
    path("teams/<int:pk>/summary/", views.TeamSummaryView.as_view(), name="team-summary"),
    path(
        "requests/<int:pk>/assignments/",
        views.RequestAssignView.as_view(),
        name="request-assignments",
    ),
    path("assignments/", views.AssignmentListView.as_view(), name="assignment-list"),
    path(
        "assignments/<int:pk>/accept/",
        views.AssignmentAcceptView.as_view(),
        name="assignment-accept",
    ),
    path(
        "assignments/<int:pk>/decline/",
        views.AssignmentDeclineView.as_view(),
        name="assignment-decline",
    ),
]
