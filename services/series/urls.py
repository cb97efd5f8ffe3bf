"""Routes of recurring services (周期服务)."""

from django.urls import path

from services.series import views

urlpatterns = [
    path("series/", views.SeriesCreateView.as_view(), name="series-create"),
    path("series/<int:pk>/", views.SeriesDetailView.as_view(), name="series-detail"),
    path("series/<int:pk>/cancel/", views.SeriesCancelView.as_view(), name="series-cancel"),
    path("series/<int:pk>/claims/", views.SeriesClaimView.as_view(), name="series-claims"),
]
