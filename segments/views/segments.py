"""Engage > Segments: the list, Create / Edit Segment with its live preview and rule rows,
the segment's page and its deletion.

Plain function views; a region for htmx by ``callout.htmx.template_for``; every object within
``request.application`` (``access.py``) and every write through ``actions.py``.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from callout.htmx import template_for
from experiences.models import Experience

from .. import actions, builder, selectors, tree, versions
from ..access import application_view, applications_of, get_in_application
from ..counting import DeadlineExceeded, deadline
from ..filters import EndUserFilter, SegmentFilter
from ..forms import SegmentForm, attach_errors, new_row, parse_rules
from ..lint import lint_segment_tree
from ..models import Segment, TraitDefinition, trees_of
from .errors import error_dict

# "Rule 2 (plan equals): needs a number" -> "needs a number", where the rule is already named.
RULE_PREFIX = re.compile(r"^Rule \d+(?: \([^)]*\))?: ")
SEGMENTS_PER_PAGE = 50
MEMBERS_PER_PAGE = 25


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    applications = applications_of(request.user)
    if applications:
        return redirect("segments:list", app_id=applications[0].pk)
    return render(request, "no_application.html")


# --- Segments list -----------------------------------------------------------------------


@require_GET
@application_view
def segment_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    filterset = SegmentFilter(
        request.GET, queryset=selectors.segments_with_rules(application), application=application
    )
    page = Paginator(filterset.qs, SEGMENTS_PER_PAGE).get_page(request.GET.get("page"))
    selectors.attach_member_counts(application, page.object_list)
    context = {
        "filter": filterset,
        "page": page,
        "broken": selectors.broken_segment_ids(page.object_list),
    }
    return render(request, template_for(request, "segments/segment_list.html", "results"), context)


# --- Create / edit -----------------------------------------------------------------------


def _traits(request: HttpRequest) -> dict[str, TraitDefinition]:
    return {t.key: t for t in request.application.trait_definitions.users()}


def _company_traits(request: HttpRequest) -> dict[str, TraitDefinition]:
    """What a company condition's trait may be: the application's company traits."""
    return {t.key: t for t in request.application.trait_definitions.companies()}


def _company_choices(
    request: HttpRequest, segment_choices: list[Segment]
) -> builder.CompanyChoices:
    """What a company condition may name: a company trait, or a segment a segment condition
    may name (the same cycle checks: tree.clean treats the counted segment as a reference)."""
    return builder.CompanyChoices(
        traits=_company_traits(request), segments={s.pk: s.name for s in segment_choices}
    )


def _experiences(request: HttpRequest) -> dict[int, str]:
    """The application's experiences by id, by name: what an experience condition may name."""
    return dict(request.application.experiences.order_by("name").values_list("pk", "name"))


def _published_users_of(segment: Segment | None) -> list[Experience]:
    if segment is None:
        return []
    return list(segment.experiences.filter(status=Experience.Status.PUBLISHED).order_by("name"))


def _segment_choices(request: HttpRequest, segment: Segment | None) -> list[Segment]:
    """What a segment condition may name: the application's segments but the one being edited
    and any that would make a cycle through it (segments/tree.py's check)."""
    segments = list(request.application.segments.order_by("-is_builtin", "name"))
    if segment is None:
        return segments
    stored = {sid: tree.as_json(t) for sid, t in trees_of(request.application.pk).items()}
    others = {sid: d for sid, d in stored.items() if sid != segment.pk}
    return [
        s
        for s in segments
        if s.pk != segment.pk and tree._find_cycle(s.pk, others, segment.pk) is None
    ]


def _skip_reasons(errors: dict[str, list[str]], position: int) -> str:
    return " ".join(
        RULE_PREFIX.sub("", message)
        for key, messages_ in errors.items()
        if key.startswith(f"rules.{position}.")
        for message in messages_
    )


def _lint(request: HttpRequest, counted: builder.Counted) -> list[tuple[str, str]]:
    """Lint warnings on the nodes they name (never blocking a save); none when the users
    table is too large to look at within the preview's deadline."""
    users = request.application.end_users.all()
    try:
        with deadline(users.db, selectors.PREVIEW_TIMEOUT_MS):
            warnings = lint_segment_tree(request.application, counted.tree)
    except DeadlineExceeded:
        return []
    shown = []
    for warning in warnings:
        node = counted.nodes.get(warning.path) or counted.nodes.get(
            builder.split_path(warning.path)[0]
        )
        if node is not None:
            node.warnings.append(warning.message)
            label = node.label if node.index != builder.TOP else "Top group"
            shown.append((label, warning.message))
    return shown


def _preview_context(
    request: HttpRequest, top: builder.Node, segment: Segment | None
) -> dict[str, Any]:
    rule_nodes = [n for n in top.walk() if n.row is not None]
    cleaned, errors = actions.rules_check(
        application=request.application, rules=[n.row.as_input() for n in rule_nodes]
    )
    conditions = {n.index: r.condition for n, r in zip(rule_nodes, cleaned, strict=True) if r}
    reasons = {n.index: _skip_reasons(errors, i) for i, n in enumerate(rule_nodes)}
    choices = _segment_choices(request, segment)
    segment_ids = [s.pk for s in choices]
    experiences = _experiences(request)
    company = _company_choices(request, choices)
    counted = builder.countable(top, conditions, reasons, segment_ids, experiences, company)
    builder.describe_leaves(top.walk(), experiences, company)
    if builder.is_flat(top):
        # Rules AND'd: the rule-by-rule funnel, as before groups.
        rows = builder.flat_rows(top)
        flat = [(row.number, conditions[row.index]) for row in rows if row.index in conditions]
        preview = selectors.segment_preview(request.application, flat, segment=segment)
    else:
        preview = selectors.tree_preview(request.application, counted.tree, segment=segment)
        for path, node in counted.nodes.items():
            node.count = preview.through.get(path)
            node.total = preview.totals.get(path)
    changed_segments, changed_experiences = (
        selectors.segment_dependents(segment) if segment is not None else ([], [])
    )
    return {
        "preview": preview,
        "skipped": counted.skipped,
        "published": _published_users_of(segment),
        "top": top,
        "warnings": _lint(request, counted),
        "changed_segments": changed_segments,
        "changed_experiences": changed_experiences,
        "match_labels": list(builder.MATCH_LABELS.items()),
        "experience_choices": experiences,
    }


def _event_names(request: HttpRequest) -> list[str]:
    """The application's event names, offered as an event condition is typed."""
    return list(request.application.event_definitions.values_list("name", flat=True))


def _render_form(
    request: HttpRequest,
    form: SegmentForm,
    top: builder.Node,
    segment: Segment | None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    traits = list(request.application.trait_definitions.users())
    context = {
        **extra,
        "form": form,
        "traits": traits,
        "segment": segment,
        "errors": errors or {},
        "segment_choices": _segment_choices(request, segment),
        "company_traits": list(_company_traits(request).values()),
        "event_names": _event_names(request),
        "leaf_buttons": builder.LEAF_BUTTONS,
        **_preview_context(request, top, segment),
    }
    return render(request, "segments/segment_form.html", context, status=status)


def _fresh(segment: Segment | None) -> builder.Node:
    """The saved segment's tree, or one empty rule to start from."""
    if segment is not None:
        return builder.tree_from_segment(segment)
    top = builder.Node(index=builder.TOP, kind=builder.GROUP)
    top.children.append(builder.Node(index=0, row=new_row([])))
    builder.number(top)
    return top


def _segment_form(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    traits = _traits(request)
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "GET" and "rules" not in data and "op" not in data:
        initial = {"name": segment.name, "description": segment.description} if segment else {}
        opened = versions.latest_number(segment) if segment else None
        return _render_form(
            request, SegmentForm(initial=initial), _fresh(segment), segment, version=opened
        )

    # The version the form was opened at, carried through every re-render; "Save anyway"
    # (``overwrite``) saves over whatever was saved since, deliberately.
    opened = data.get("version", "")
    opened = int(opened) if opened.isdigit() else None
    expected = None if data.get("overwrite") else opened
    form = SegmentForm(data)
    form.is_valid()
    top = builder.parse_tree(data, traits, _company_traits(request))
    shaping = "add_rule" in data or "op" in data
    if request.method == "GET" or shaping:
        # Prefilled from a preview link, or a builder button without JavaScript: the form
        # re-shaped, nothing saved.
        if "add_rule" in data:
            builder.apply_op(top, "add_rule:top")
        builder.apply_op(top, data.get("op", ""))
        return _render_form(request, form, top, segment, version=opened)

    builder.drop_blank_rules(top)
    fields: dict[str, Any] = {
        "name": form.cleaned_data.get("name", ""),
        "description": form.cleaned_data.get("description", ""),
    }
    flat = builder.is_flat(top)
    if flat:  # saved as rule rows: the same checks and messages as before groups
        fields["rules"] = [row.as_input() for row in builder.flat_rows(top)]
    else:
        fields["definition"] = builder.definition(top)
    try:
        if segment is None:
            segment = actions.segment_create(application=request.application, **fields)
            messages.success(request, f'Segment "{segment.name}" created.')
        else:
            actions.segment_update(segment=segment, version=expected, **fields)
            messages.success(request, f'Segment "{segment.name}" saved.')
    except versions.StaleVersion as stale:
        # Someone saved since this form was opened: nothing is overwritten unasked.
        return _render_form(
            request,
            form,
            top,
            segment,
            status=409,
            version=opened,
            conflict=versions.conflict(segment, stale),
        )
    except ValidationError as error:
        errors = error_dict(error)
        if flat:
            attach_errors(builder.flat_rows(top), errors)
        else:
            rest = builder.attach_tree_errors(top, errors)
            errors = {k: v for k, v in errors.items() if not k.startswith("definition")}
            for value in rest.values():
                errors.setdefault("definition", []).extend(value)
            for node in top.walk():
                for key, value in node.errors.items():
                    errors.setdefault(f"{node.path}.{key}", value)
                if node.trait_row is not None:
                    for key, value in node.trait_row.errors.items():
                        errors.setdefault(f"{node.path}.{key}", value)
        return _render_form(request, form, top, segment, errors, status=400, version=opened)
    return redirect("segments:detail", app_id=request.application.pk, pk=segment.pk)


@require_http_methods(["GET", "POST"])
@application_view
def segment_create(request: HttpRequest) -> HttpResponse:
    return _segment_form(request, None)


def _editable_segment(request: HttpRequest, pk: int) -> Segment | HttpResponse:
    segment = get_in_application(Segment.objects, request, pk=pk)
    if segment.is_builtin:
        # A page in the app's layout saying why, with a way back (not a bare 403).
        return render(request, "segments/segment_builtin.html", {"segment": segment}, status=403)
    return segment


@require_http_methods(["GET", "POST"])
@application_view
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _editable_segment(request, pk)
    if isinstance(segment, HttpResponse):
        return segment
    return _segment_form(request, segment)


def _form_url(request: HttpRequest, query: Any) -> str:
    """The create or edit form, prefilled with the rules in ``query`` (no-JavaScript links)."""
    app_id, segment_pk = request.application.pk, query.get("segment")
    if segment_pk:
        url = reverse("segments:edit", args=[app_id, segment_pk])
    else:
        url = reverse("segments:create", args=[app_id])
    return f"{url}?{query.urlencode()}"


def _segment_param(request: HttpRequest) -> Segment | None:
    pk = request.GET.get("segment")
    if not pk:
        return None
    if not pk.isdigit():
        pk = "0"  # answers 404 below
    return get_in_application(Segment.objects.filter(is_builtin=False), request, pk=pk)


@require_GET
@application_view
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live preview of the rules being edited; without htmx, the form prefilled."""
    segment = _segment_param(request)
    if not request.htmx:
        return redirect(_form_url(request, request.GET))
    top = builder.parse_tree(request.GET, _traits(request), _company_traits(request))
    context = _preview_context(request, top, segment)
    return render(request, "segments/segment_form.html#preview", context)


@require_GET
@application_view
def segment_rule_row(request: HttpRequest) -> HttpResponse:
    """One rule row, re-shaped for its trait and operator; with ``add``, a new empty row."""
    segment = _segment_param(request)
    if not request.htmx:
        return redirect(_form_url(request, request.GET))
    traits = _traits(request)
    rows = parse_rules(request.GET, traits)
    if "add" in request.GET or not rows:
        row = new_row(rows)
        row.autofocus = True
    else:
        row = rows[0]  # numbered in the page by static/js/app.js
    context = {"row": row, "traits": list(traits.values()), "segment": segment}
    response = render(request, "segments/segment_form.html#rule-row", context)
    # After the swap, so that the preview reads the new row.
    return trigger_client_event(response, "rules-changed", after="settle")


@require_GET
@application_view
def segment_node(request: HttpRequest) -> HttpResponse:
    """One event, experience or company condition, re-shaped for its operator (a company
    condition: for what it is about, its trait and operator); with ``add=event``,
    ``add=experience`` or ``add=company`` (and ``parent``, a group's index), a new one with an
    index none of the form's nodes uses. Without htmx, the form prefilled."""
    segment = _segment_param(request)
    if not request.htmx:
        return redirect(_form_url(request, request.GET))
    company_traits = _company_traits(request)
    node = builder.fragment_leaf(request.GET, _traits(request), company_traits)
    if node is None:
        return HttpResponse("No event, experience or company condition to show.", status=400)
    experiences = _experiences(request)
    # Numbered in the page by static/js/app.js, as rule rows are.
    context: dict[str, Any] = {"node": node, "segment": segment, "experience_choices": experiences}
    company = None
    if node.company is not None:
        choices = _segment_choices(request, segment)
        company = builder.CompanyChoices(company_traits, {s.pk: s.name for s in choices})
        context |= {"segment_choices": choices, "company_traits": list(company_traits.values())}
    builder.describe_leaves([node], experiences, company)
    response = render(request, "segments/_node.html", context)
    # After the swap, so that the preview reads the new node.
    return trigger_client_event(response, "rules-changed", after="settle")


# --- Segment page and delete -------------------------------------------------------------


@require_GET
@application_view
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = request.application
    segment = get_in_application(selectors.segments_with_rules(application), request, pk=pk)
    filterset = EndUserFilter(
        request.GET,
        queryset=segment.members().select_related("company").order_by("external_id"),
        application=application,
    )
    page = Paginator(filterset.qs, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "segment": segment,
        "member_count": selectors.count_users(application, {"n": segment.tree})["n"],
        "filter": filterset,
        "page": page,
        "experiences": segment.experiences.order_by("name"),
        "using": actions.segment_users(segment)[0],
        "traits": application.trait_definitions.users(),
        "broken": bool(selectors.broken_segment_ids([segment])),
    }
    return render(
        request, template_for(request, "segments/segment_detail.html", "members"), context
    )


@require_http_methods(["GET", "POST"])
@application_view
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _editable_segment(request, pk)
    if isinstance(segment, HttpResponse):
        return segment
    using, experiences = actions.segment_users(segment)
    if request.method == "POST" and not (using or experiences):
        name = segment.name
        actions.segment_delete(segment=segment)
        messages.success(request, f'Segment "{name}" deleted.')
        return redirect("segments:list", app_id=request.application.pk)
    # A segment in use is not deleted: the page says where, so it can be taken out first.
    context = {"segment": segment, "experiences": experiences, "using": using}
    status = 409 if request.method == "POST" else 200
    return render(request, "segments/segment_confirm_delete.html", context, status=status)
