"""The residents' public pages (outside /api/v1/): the poster's form and the ticket."""

from django.urls import path

from services.intake import pages

app_name = "intake"

urlpatterns = [
    path("t/<str:ticket>/", pages.ticket_page, name="ticket"),
    path("t/<str:ticket>/rate/", pages.rate_page, name="rate"),
    path("<str:code>/", pages.intake_page, name="form"),
]
