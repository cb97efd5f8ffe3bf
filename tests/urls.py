"""The real URL conf plus one view that fails, to test the 500 shape."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from backend.urls import urlpatterns as real_urlpatterns


class Boom(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals must not leak")


urlpatterns = [*real_urlpatterns, path("boom/", Boom.as_view())]
handler404 = "backend.exceptions.handler404"
handler500 = "backend.exceptions.handler500"
