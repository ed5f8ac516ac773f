from django.urls import path

from . import views

app_name = "experiences"

urlpatterns = [
    path("experiences/", views.experience_list, name="list"),
]
