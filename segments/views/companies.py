"""Engage > Companies: the list (search, filters), and a company's page: its traits, how many
of its users each segment holds, and its users, each with the segments they are in and why
(the company rules read this company's traits and counts)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from callout.htmx import template_for

from .. import selectors
from ..access import application_view, get_in_application
from ..filters import CompanyFilter, EndUserFilter
from ..models import Company

COMPANIES_PER_PAGE = 25
# A page of a company's users, each explained against every segment in memory.
USERS_PER_PAGE = 25


@require_GET
@application_view
def company_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    companies = selectors.with_user_counts(application.companies.order_by("external_id", "pk"))
    filterset = CompanyFilter(request.GET, queryset=companies, application=application)
    page = Paginator(filterset.qs, COMPANIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"filter": filterset, "page": page, "total": application.companies.count()}
    return render(request, template_for(request, "segments/company_list.html", "results"), context)


@require_GET
@application_view
def company_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = request.application
    company = get_in_application(Company.objects, request, pk=pk)
    filterset = EndUserFilter(
        request.GET, queryset=company.users.order_by("external_id", "pk"), application=application
    )
    page = Paginator(filterset.qs, USERS_PER_PAGE).get_page(request.GET.get("page"))
    segments = list(selectors.segments_with_rules(application))
    # Every segment's count of this company's users (one query): the summary, and what the
    # company_users conditions of the explanations read.
    trees = {segment.pk: segment.tree for segment in segments}
    members = selectors.company_members(application.pk, company.pk, trees, trees=trees)
    users = list(page.object_list)
    for end_user, verdicts in zip(
        users,
        selectors.explain_users(users, segments, members={company.pk: members}),
        strict=True,
    ):
        end_user.verdicts = verdicts
        end_user.segments_in = [v.segment for v in verdicts if v.matched]
    page.object_list = users
    context: dict[str, Any] = {"company": company, "filter": filterset, "page": page}
    fragment = template_for(request, "segments/company_detail.html", "members")
    if "#" not in fragment:  # the whole page: the summary and the traits too
        definitions = {t.key: t for t in application.trait_definitions.companies()}
        context["traits"] = [
            (key, value, definitions.get(key)) for key, value in sorted(company.traits.items())
        ]
        # Everyone holds every user: its count is the company's size, no query of its own.
        context["user_count"] = next(members[s.pk] for s in segments if s.is_builtin)
        context["segment_counts"] = [(segment, members[segment.pk]) for segment in segments]
    return render(request, fragment, context)
