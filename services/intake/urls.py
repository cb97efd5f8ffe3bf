"""Routes of the residents' intake (API; the public pages are in services/intake/page_urls.py)."""

from django.urls import path

from services.intake import views

urlpatterns = [
    path("stations/<int:pk>/qr/", views.StationPosterView.as_view(), name="station-qr"),
    path(
        "stations/<int:pk>/qr/retire/",
        views.StationPosterRetireView.as_view(),
        name="station-qr-retire",
    ),
    path("villages/<int:pk>/qr/", views.VillagePosterView.as_view(), name="village-qr"),
    path(
        "villages/<int:pk>/qr/retire/",
        views.VillagePosterRetireView.as_view(),
        name="village-qr-retire",
    ),
    path("intake/", views.IntakeView.as_view(), name="intake"),
    path("intake/<int:pk>/", views.IntakeDetailView.as_view(), name="intake-detail"),
    path("intake/<int:pk>/accept/", views.IntakeAcceptView.as_view(), name="intake-accept"),
    path("intake/<int:pk>/merge/", views.IntakeMergeView.as_view(), name="intake-merge"),
    path("intake/<int:pk>/refer/", views.IntakeReferView.as_view(), name="intake-refer"),
    path("intake/<int:pk>/decline/", views.IntakeDeclineView.as_view(), name="intake-decline"),
    path("intake/tickets/<str:ticket>/", views.TicketView.as_view(), name="intake-ticket"),
    path(
        "intake/tickets/<str:ticket>/photos/",
        views.TicketPhotosView.as_view(),
        name="intake-ticket-photos",
    ),
    path(
        "intake/tickets/<str:ticket>/rating/",
        views.TicketRatingView.as_view(),
        name="intake-ticket-rating",
    ),
    path("stats/untriaged/", views.UntriagedView.as_view(), name="stats-untriaged"),
    path("stats/intake/", views.IntakeFiguresView.as_view(), name="stats-intake"),
]
