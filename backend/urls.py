"""URL configuration: the API under /api/v1/, schema and docs, health, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.health import healthz, readyz
from backend.metrics import metrics_view

admin.site.site_header = "我为群众办一事 · 管理后台"
admin.site.site_title = "我为群众办一事"
admin.site.index_title = "数据管理"
# 查看站点: staff go to the statistics dashboard (the site root is the API, not a page).
admin.site.site_url = "/dashboard/"

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("stations.urls")),
    path("", include("members.urls")),
    path("", include("services.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Open311 GeoReport v2 (public reads, station API keys post); errors in Open311's shape.
    path("open311/v2/", include("services.open311.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # Residents' intake pages (群众点单): the QR posters' form and the ticket, no login.
    path("q/", include("services.intake.page_urls", namespace="intake")),
    path("dashboard/", include("services.stats.dashboard", namespace="dashboard")),
    # The station managers' console (管理工作台): needs, teams, records, residents' intake.
    path("console/", include("services.console.urls", namespace="console")),
    # The public verification page of certificates (志愿服务证明核验), no login.
    path("verify/", include("services.certificates.public")),
]

handler400 = "backend.exceptions.handler400"
handler403 = "backend.exceptions.handler403"
handler404 = "backend.exceptions.handler404"
handler500 = "backend.exceptions.handler500"
