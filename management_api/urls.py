from django.urls import path

from . import docs
from .views import experiences, segments, traits

app_name = "manage"

urlpatterns = [
    path("manage/traits", traits.traits, name="traits"),
    path("manage/traits/<str:key>", traits.trait, name="trait"),
    path("manage/company-traits", traits.company_traits, name="company_traits"),
    path("manage/company-traits/<str:key>", traits.company_trait, name="company_trait"),
    path("manage/segments", segments.segments, name="segments"),
    path("manage/segments/<int:pk>", segments.segment, name="segment"),
    path("manage/segments/<int:pk>/count", segments.segment_count, name="segment_count"),
    path("manage/segments/<int:pk>/members", segments.segment_members, name="segment_members"),
    path("manage/count", segments.count, name="count"),
    path("manage/evaluate", segments.evaluate, name="evaluate"),
    path("manage/experiences", experiences.experiences, name="experiences"),
    path("manage/experiences/<int:pk>", experiences.experience, name="experience"),
    path("manage/experiences/<int:pk>/publish", experiences.publish, name="publish"),
    path("manage/experiences/<int:pk>/unpublish", experiences.unpublish, name="unpublish"),
    path("manage/experiences/<int:pk>/results", experiences.results, name="results"),
    path("openapi.json", docs.openapi_json, name="openapi"),
]
