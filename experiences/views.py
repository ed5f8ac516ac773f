from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from segments.access import application_view

from .models import Experience


@require_GET
@application_view
def experience_list(request: HttpRequest) -> HttpResponse:
    experiences = Experience.objects.filter(application=request.application).prefetch_related(
        "segments"
    )
    return render(request, "experiences/experience_list.html", {"experiences": experiences})
