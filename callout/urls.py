from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from experiences.api import not_found as api_not_found
from management_api.docs import api_docs
from segments.views import home, invite

from . import views

urlpatterns = [
    # First: the snippet's API takes nearly every request, and Django tries patterns in order.
    path("api/v1/", include("experiences.api_urls")),
    # After the snippet's: management calls are rare, the serve's must match first.
    path("api/v1/", include("management_api.urls")),
    # Last under /api/v1/: any other path answers the API's JSON 404, not an HTML page.
    re_path(r"^api/v1/", api_not_found),
    path("api/docs/", api_docs, name="api_docs"),
    path("api/docs/snippet/", views.snippet_docs, name="snippet_docs"),
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # An invite's one-time link (Setup > Members): outside apps/, its reader is not a member yet.
    path("invite/<str:token>/", invite, name="invite"),
    path("apps/<int:app_id>/", include("segments.urls")),
    path("apps/<int:app_id>/", include("experiences.urls")),
    path("apps/<int:app_id>/", include("management_api.settings_urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
]
