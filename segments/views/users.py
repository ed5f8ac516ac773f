"""Engage > Users: the list, and a user's page explaining each segment rule by rule (company
rules with their company's traits and counts) and, for a URL, which experiences they would be
served."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from callout.htmx import template_for, wants_fragment
from experiences.serving import explain_serve

from .. import selectors
from ..access import application_view, get_in_application
from ..filters import EndUserFilter
from ..models import EndUser, TraitDefinition

USERS_PER_PAGE = 25
USER, COMPANY = TraitDefinition.Scope.USER, TraitDefinition.Scope.COMPANY


@require_GET
@application_view
def user_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    users = application.end_users.select_related("company").order_by("external_id")
    filterset = EndUserFilter(request.GET, queryset=users, application=application)
    page = Paginator(filterset.qs, USERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "total": selectors.count_users(application, {"all": []})["all"],
    }
    return render(request, template_for(request, "segments/user_list.html", "results"), context)


@require_GET
@application_view
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = request.application
    # With their company: its traits are what company rules read, in the explanations.
    end_user = get_in_application(EndUser.objects.select_related("company"), request, pk=pk)
    url = request.GET.get("url", "").strip()
    decisions, url_error = None, ""
    if url:
        try:
            decisions = explain_serve(application, end_user, url)
        except ValueError:
            url_error = "That is not a URL or a path: try https://app.example.com/settings."
    context: dict[str, Any] = {
        "end_user": end_user,
        "url": url,
        "url_error": url_error,
        "decisions": decisions,
    }
    if wants_fragment(request, "experiences-panel"):
        return render(request, "segments/user_detail.html#experiences", context)
    definitions = {(t.scope, t.key): t for t in application.trait_definitions.all()}
    segments = selectors.segments_with_rules(application)
    context["traits"] = [
        (key, value, definitions.get((USER, key))) for key, value in sorted(end_user.traits.items())
    ]
    if end_user.company is not None:
        context["company_traits"] = [
            (key, value, definitions.get((COMPANY, key)))
            for key, value in sorted(end_user.company.traits.items())
        ]
    context["verdicts"] = selectors.explain_user(end_user, segments)
    return render(request, "segments/user_detail.html", context)
