"""Routes of attachments: the signed file view (owners route their own lists and uploads)."""

from django.urls import path

from services.attachments import views

urlpatterns = [
    path("attachments/<str:token>/", views.AttachmentFileView.as_view(), name="attachment-file"),
]
