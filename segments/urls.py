from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("segments/", views.segment_list, name="list"),
]
