from django.urls import path, re_path

from . import api

app_name = "api"

urlpatterns = [
    path("identify", api.identify, name="identify"),
    path("experiences", api.experiences, name="experiences"),
    path("events", api.events, name="events"),
    re_path(r"", api.not_found),  # last: any other path answers our JSON 404
]
