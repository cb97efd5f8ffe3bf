"""Routes of the 暖企 capability (docs/enterprises.md)."""

from django.urls import path

from services.enterprises import views

urlpatterns = [
    path("enterprises/", views.EnterpriseListView.as_view(), name="enterprises"),
    path("enterprises/import/", views.EnterpriseImportView.as_view(), name="enterprise-import"),
    path(
        "enterprises/import/template/",
        views.EnterpriseTemplateView.as_view(),
        name="enterprise-import-template",
    ),
    path("enterprises/<int:pk>/", views.EnterpriseDetailView.as_view(), name="enterprise"),
    path(
        "enterprises/<int:pk>/deactivate/",
        views.EnterpriseDeactivateView.as_view(),
        name="enterprise-deactivate",
    ),
    path(
        "enterprises/<int:pk>/liaisons/",
        views.EnterpriseLiaisonsView.as_view(),
        name="enterprise-liaisons",
    ),
    path(
        "enterprises/<int:pk>/desk-code/",
        views.EnterpriseDeskCodeView.as_view(),
        name="enterprise-desk-code",
    ),
    path(
        "enterprises/<int:pk>/visits/",
        views.EnterpriseVisitsView.as_view(),
        name="enterprise-visits",
    ),
    path(
        "enterprises/<int:pk>/appeals/",
        views.EnterpriseAppealsView.as_view(),
        name="enterprise-appeals",
    ),
    path("appeals/<int:pk>/refer/", views.AppealReferView.as_view(), name="appeal-refer"),
    path("appeals/<int:pk>/start/", views.AppealStartView.as_view(), name="appeal-start"),
    path("appeals/<int:pk>/resolve/", views.AppealResolveView.as_view(), name="appeal-resolve"),
    path("appeals/<int:pk>/reject/", views.AppealRejectView.as_view(), name="appeal-reject"),
    path("me/enterprises/", views.MyEnterprisesView.as_view(), name="me-enterprises"),
    path("enterprise-desk/<str:ticket>/", views.DeskView.as_view(), name="enterprise-desk"),
    path(
        "enterprise-desk/<str:ticket>/appeals/",
        views.DeskAppealsView.as_view(),
        name="enterprise-desk-appeals",
    ),
    path(
        "enterprise-desk/<str:ticket>/appeals/<int:pk>/rating/",
        views.DeskRatingView.as_view(),
        name="enterprise-desk-rating",
    ),
    path("stats/enterprises/", views.EnterpriseFiguresView.as_view(), name="stats-enterprises"),
    path(
        "stats/enterprises/export/",
        views.EnterpriseFiguresExportView.as_view(),
        name="stats-enterprises-export",
    ),
]
