from django.urls import path
from rest_framework.routers import SimpleRouter

from members import views

router = SimpleRouter()
router.register("specialties", views.SpecialtyViewSet, basename="specialty")
router.register("teams", views.TeamViewSet, basename="team")
router.register("members", views.MemberViewSet, basename="member")

urlpatterns = [
    path("members/import/", views.RosterImportView.as_view(), name="member-import"),
    path(
        "members/import/template/",
        views.RosterTemplateView.as_view(),
        name="member-import-template",
    ),
    path("members/activate/", views.MemberActivateView.as_view(), name="member-activate"),
    *router.urls,
]
