from django.urls import path

from . import history, live_preview, views

app_name = "experiences"

urlpatterns = [
    path("experiences/", views.experience_list, name="list"),
    path("experiences/new/<str:kind>/", views.experience_create, name="create"),
    path("experiences/url-test/", views.experience_url_test, name="url_test"),
    path("experiences/audience/", views.experience_audience, name="audience"),
    path("experiences/preview/<str:kind>/", live_preview.experience_preview, name="preview"),
    path("experiences/preview-frame/", live_preview.experience_preview_frame, name="preview_frame"),
    path("experiences/<int:pk>/", views.experience_detail, name="detail"),
    path("experiences/<int:pk>/edit/", views.experience_edit, name="edit"),
    path("experiences/<int:pk>/results.csv", views.experience_results_csv, name="results_csv"),
    path("experiences/<int:pk>/publish/", views.experience_publish, name="publish"),
    path("experiences/<int:pk>/unpublish/", views.experience_unpublish, name="unpublish"),
    path("experiences/<int:pk>/delete/", views.experience_delete, name="delete"),
    path("experiences/<int:pk>/history/", history.experience_history, name="history"),
    path(
        "experiences/<int:pk>/history/<int:number>/restore/",
        history.experience_restore,
        name="restore",
    ),
]
