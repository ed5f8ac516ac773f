from django.urls import path

from .views import tokens

app_name = "manage_settings"

urlpatterns = [
    path("settings/api-tokens/", tokens.token_list, name="tokens"),
    path("settings/api-tokens/new/", tokens.token_create, name="token_create"),
    path("settings/api-tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
]
