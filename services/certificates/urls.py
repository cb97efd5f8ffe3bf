"""Routes of certificates under /api/v1/ (the public page is public_urls)."""

from django.urls import path

from services.certificates import views

urlpatterns = [
    path("me/certificates/", views.MyCertificatesView.as_view(), name="me-certificates"),
    path("certificates/<int:pk>/pdf/", views.CertificatePdfView.as_view(), name="certificate-pdf"),
    path("verify/<str:code>/", views.VerifyView.as_view(), name="certificate-verify-api"),
]
