from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefresh.as_view(), name="auth-token-refresh"),
    path("auth/wechat/", views.WechatLoginView.as_view(), name="auth-wechat"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/notifications/", views.NotificationListView.as_view(), name="me-notifications"),
    path(
        "me/notifications/<int:pk>/read/",
        views.NotificationReadView.as_view(),
        name="me-notification-read",
    ),
    path(
        "me/notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="me-notifications-read-all",
    ),
]
