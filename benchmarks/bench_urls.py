from django.http import JsonResponse
from django.urls import path

from callout.urls import urlpatterns as app_urlpatterns


def floor(request):
    """The framework's floor: routing, middleware and a JSON response, no work."""
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/floor", floor), *app_urlpatterns]
