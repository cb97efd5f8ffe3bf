"""Routes of the member's own screens."""

from django.urls import path

from services.me import views

urlpatterns = [
    path("me/tasks/", views.MyTasksView.as_view(), name="me-tasks"),
]
