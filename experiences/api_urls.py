from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("identify", api.identify, name="identify"),
    path("experiences", api.experiences, name="experiences"),
    path("events", api.events, name="events"),
    path("track", api.track, name="track"),
]
