"""Routes of the calendar feed."""

from django.urls import path, re_path

from services.ical import feeds, views

urlpatterns = [
    path("me/calendar/", views.MyCalendarView.as_view(), name="me-calendar"),
    re_path(
        rf"^calendar/(?P<token>{feeds.TOKEN_PATTERN})\.ics$",
        views.CalendarFeedView.as_view(),
        name="calendar-feed",
    ),
]
