from rest_framework.routers import SimpleRouter

from stations import views

router = SimpleRouter()
router.register("towns", views.TownViewSet, basename="town")
router.register("villages", views.VillageViewSet, basename="village")
router.register("stations", views.StationViewSet, basename="station")

urlpatterns = router.urls
