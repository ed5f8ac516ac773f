from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from .access import application_view, applications_of
from .models import Segment


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    applications = applications_of(request.user)
    if applications:
        return redirect("segments:list", app_id=applications[0].pk)
    return render(request, "no_application.html")


@require_GET
@application_view
def segment_list(request: HttpRequest) -> HttpResponse:
    segments = Segment.objects.filter(application=request.application).prefetch_related(
        "rules__trait"
    )
    return render(request, "segments/segment_list.html", {"segments": segments})
