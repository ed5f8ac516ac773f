"""/api/v1/manage/segments, /count and /evaluate: segments as code. Writes go through
segments/actions.py (same validation and errors as the UI)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from experiences.checks import ApiError
from experiences.selectors import History, history_as_of
from segments import actions, tree, versions
from segments.accounts import MAX_MEMBERS, CompanyTraitCondition, CompanyUsersCondition
from segments.activity import COUNT, FIRST, LAST, entry, experience_states
from segments.behaviour import EXPERIENCE_STATES, EventCondition, ExperienceCondition
from segments.coerce import now_seconds
from segments.lint import lint_segment_tree, lint_segment_trees
from segments.models import EndUser, Segment, SegmentVersion, TraitDefinition, trees_of
from segments.selectors import company_members, count_users, segments_with_rules

from ..http import body, in_use, invalid, json_response, manage_view, no_content, text
from ..pagination import page


def segment_json(
    segment: Segment, warnings: list[Any] | None = None, version: int | None = None
) -> dict[str, Any]:
    """``warnings``: the segment's lint when the caller has it (a list lints a page at once);
    ``version``: its latest version's number, likewise."""
    if warnings is None:
        warnings = lint_segment_tree(segment.application, segment.tree)
    if version is None:
        version = versions.latest_number(segment)
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "definition": segment.definition,
        # Send it back with a PUT: a save since answers 409 (docs/api.md, History).
        "version": version,
        "is_builtin": segment.is_builtin,
        "warnings": [w.as_json() for w in warnings],
        "created_at": segment.created_at.isoformat(),
        "updated_at": segment.updated_at.isoformat(),
    }


def etag(segment: Segment) -> str:
    """Changes with every saved change (name, description, definition; updated_at too)."""
    state = [segment.name, segment.description, segment.definition, segment.updated_at.isoformat()]
    return '"' + hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32] + '"'


def _with_etag(segment: Segment, status: int = 200) -> HttpResponse:
    response = json_response(segment_json(segment), status=status)
    response["ETag"] = etag(segment)
    return response


def _get(request: HttpRequest, pk: int, *, lock: bool = False) -> Segment:
    queryset = Segment.objects.select_related("application")
    if lock:
        queryset = queryset.select_for_update()
    return get_object_or_404(queryset, application=request.application, pk=pk)


@manage_view("GET", "POST")
def segments(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "GET":
        rows, next_url = page(request, segments_with_rules(application))
        # The page's warnings in at most three queries, whatever its size.
        found = lint_segment_trees(application, {s.pk: s.tree for s in rows})
        latest = dict(
            SegmentVersion.objects.filter(segment__in=rows)
            .values("segment")
            .annotate(n=Max("number"))
            .values_list("segment", "n")
        )
        results = [segment_json(s, found[s.pk], latest.get(s.pk, 0)) for s in rows]
        return json_response({"results": results, "next": next_url})
    data = body(request)
    if "definition" not in data:
        raise invalid("definition", "definition is required.")
    segment = actions.segment_create(
        application=application,
        name=text(data, "name", required=True),
        description=text(data, "description") or "",
        definition=data["definition"],
    )
    return _with_etag(_get(request, segment.pk), status=201)


@manage_view("GET", "PUT", "DELETE")
def segment(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "GET":
        return _with_etag(_get(request, pk))
    if request.method == "DELETE":
        found = _get(request, pk)
        if found.is_builtin:
            raise ApiError(
                403, "builtin", f'The built-in "{found.name}" segment cannot be deleted.'
            )
        segments_using, experiences = actions.segment_users(found)
        if segments_using or experiences:
            used = [f'segment "{s.name}"' for s in segments_using]
            used += [f'experience "{e.name}"' for e in experiences]
            message = f'"{found.name}" is used by {", ".join(used)}: remove it from them first.'
            raise in_use(message, segments_using, experiences)
        actions.segment_delete(segment=found)
        return no_content()
    data = body(request)
    with transaction.atomic():
        found = _get(request, pk, lock=True)  # If-Match and the save see the same row
        if found.is_builtin:
            raise ApiError(403, "builtin", f'The built-in "{found.name}" segment cannot be edited.')
        expected = request.META.get("HTTP_IF_MATCH")
        if expected is not None and expected.strip() not in ("*", etag(found)):
            raise ApiError(
                412, "precondition_failed", "The segment changed since you read it (ETag)."
            )
        definition = data.get("definition")
        version = data.get("version")
        if version is not None and (type(version) is not int or version < 0):
            raise invalid("version", "version is the whole number a read of the segment gave.")
        try:
            actions.segment_update(
                segment=found,
                name=text(data, "name"),
                description=text(data, "description"),
                definition=definition,
                version=version,
            )
        except versions.StaleVersion as stale:
            raise ApiError(
                409,
                "stale_version",
                f"The segment was saved since version {stale.expected} (now {stale.latest}): "
                "read it again, or leave version out to save over it.",
                "version",
            ) from None
    return _with_etag(_get(request, pk))


@manage_view("GET")
def segment_count(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get(request, pk)
    counts = count_users(request.application, {"n": found.tree})
    return json_response({"count": counts["n"]})


@manage_view("GET")
def segment_members(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get(request, pk)
    rows, next_url = page(request, found.members())
    results = [{"id": user.external_id, "traits": user.traits} for user in rows]
    return json_response({"results": results, "next": next_url})


def _definition(request: HttpRequest, data: dict[str, Any]) -> tree.Group:
    """The body's definition, checked as a save would check it, as a tree (nothing saved)."""
    if "definition" not in data:
        raise invalid("definition", "definition is required.")
    application = request.application
    cleaned = actions.definition_check(application=application, definition=data["definition"])
    types: dict[str, dict[str, str]] = {scope: {} for scope in TraitDefinition.Scope.values}
    for scope, key, type_ in application.trait_definitions.values_list("scope", "key", "type"):
        types[scope][key] = type_
    return tree.parse(
        cleaned, types[TraitDefinition.Scope.USER], types[TraitDefinition.Scope.COMPANY]
    )


@manage_view("POST")
def count(request: HttpRequest) -> HttpResponse:
    group = _definition(request, body(request))
    return json_response({"count": count_users(request.application, {"n": group})["n"]})


def _now(data: dict[str, Any]) -> datetime:
    raw = data.get("now")
    if raw is None:
        return timezone.now()
    try:
        when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise invalid("now", "now is an ISO 8601 date and time with its offset (…Z or +02:00).")
    return when


def _user(request: HttpRequest, data: dict[str, Any]) -> tuple[dict[str, Any], EndUser | None]:
    """The traits to evaluate, and the stored user they belong to (None: inline traits, a
    user with no history)."""
    user = data.get("user")
    if not isinstance(user, dict) or ("id" in user) == ("traits" in user):
        raise invalid("user", 'user is {"id": ...} (a stored user) or {"traits": {...}}.')
    if "traits" in user:
        if not isinstance(user["traits"], dict):
            raise invalid("user.traits", "user.traits must be an object.")
        return user["traits"], None
    if not isinstance(user["id"], str):
        raise invalid("user.id", "user.id must be a string.")
    users = EndUser.objects.filter(application=request.application, external_id=user["id"])
    found = users.select_related("company").first()
    if found is None:
        raise ApiError(404, "unknown_user", "No user with this id.", "user.id")
    return found.traits, found


@dataclass(frozen=True)
class _Company:
    """The user's company as the definition reads it: its id (None: made up), its traits
    and how many of its users are in each segment a company condition counts."""

    id: str | None
    traits: dict[str, Any]
    members: dict[int, int]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        return {**out, "traits": self.traits}


def _inline_company(data: dict[str, Any], trees: Mapping[int, tree.Group]) -> _Company | None:
    """A made-up company for inline user traits: ``{"traits": {...}, "users": {"SEGMENT_ID":
    N}}`` (a segment left out of users counts 0); None without one."""
    company = data.get("company")
    if company is None:
        return None
    if not isinstance(company, dict) or not set(company) <= {"traits", "users"}:
        raise invalid("company", 'company is {"traits": {...}, "users": {"SEGMENT_ID": N}}.')
    traits, users = company.get("traits", {}), company.get("users", {})
    if not isinstance(traits, dict):
        raise invalid("company.traits", "company.traits must be an object.")
    if not isinstance(users, dict):
        raise invalid("company.users", "company.users must be an object: segment id to count.")
    members: dict[int, int] = {}
    for key, count in users.items():
        where = f"company.users.{key}"
        if not (key.isdigit() and int(key) in trees):
            raise invalid(where, f"No segment {key!r} in this application.")
        if type(count) is not int or not 0 <= count <= MAX_MEMBERS:
            raise invalid(where, f"A count of users is a whole number from 0 to {MAX_MEMBERS:,}.")
        members[int(key)] = count
    return _Company(None, traits, members)


def _stored_company(
    end_user: EndUser, nodes: list[tree.Node], now: float, trees: Mapping[int, tree.Group]
) -> _Company | None:
    """The stored user's company, with how many of its users are in each segment the
    definition's company conditions count: one aggregate over the company's users, each
    segment by the SQL compiler at ``now``, as the serve counts (the users as stored: their
    traits and activity today, time rules read at ``now``). None without a company."""
    company = end_user.company
    if company is None:
        return None
    members = company_members(
        end_user.application_id,
        company.pk,
        {n.segment for n in nodes if isinstance(n, CompanyUsersCondition)},
        now,
        trees=trees,
    )
    return _Company(company.external_id, company.traits or {}, members)


def _reachable(group: tree.Group, trees: Mapping[int, tree.Group]) -> list[tree.Node]:
    """Every node the definition reads, through the segments it references."""
    nodes: list[tree.Node] = []
    stack, followed = [group], set()
    while stack:
        for node in tree.walk(stack.pop()):
            nodes.append(node)
            if isinstance(node, tree.Ref) and node.segment not in followed:
                followed.add(node.segment)
                target = trees.get(node.segment)
                if target is not None:
                    stack.append(target)
    return nodes


def _history(end_user: EndUser, nodes: list[tree.Node], when: datetime) -> History:
    """The user's raw history up to ``when``, of the events and experiences ``nodes`` read."""
    return history_as_of(
        end_user,
        when,
        events={n.event for n in nodes if isinstance(n, EventCondition)},
        experiences={n.experience for n in nodes if isinstance(n, ExperienceCondition)},
    )


def _kept(application: Any, nodes: list[tree.Node]) -> int:
    """As many latest times per event as the serve keeps, and at least one more than the
    largest count the definition uses: every window count it compares is then exact."""
    largest = max((n.largest_count for n in nodes if isinstance(n, EventCondition)), default=0)
    return max(application.events_kept, largest + 1)


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat()


def _actual(
    node: tree.Node,
    now: float,
    activity: Any,
    history: History | None,
    company: _Company | None = None,
) -> Any:
    """What the user did or saw that the node reads (event and experience nodes), or their
    company's trait value or count (company nodes), or None."""
    if isinstance(node, CompanyTraitCondition):
        return {"value": company.traits.get(node.condition.trait) if company else None}
    if isinstance(node, CompanyUsersCondition):
        return {"count": company.members.get(node.segment, 0) if company else 0}
    if isinstance(node, EventCondition):
        found = entry(activity, node.event)
        out: dict[str, Any] = {
            "count": found[COUNT] if found else 0,
            "first": _iso(found[FIRST]) if found else None,
            "last": _iso(found[LAST]) if found else None,
        }
        if node.within_days:
            # From the raw times, not the summary's kept ones: exact beyond the largest count.
            low = node.bounds(now)["lo"]
            times = history.times(node.event) if history is not None else []
            out["count_in_window"] = sum(1 for t in times if low <= t <= now)
        return out
    if isinstance(node, ExperienceCondition):
        states = experience_states(activity, node.experience)
        return {state: _iso(states.get(stored)) for state, (stored, _) in EXPERIENCE_STATES.items()}
    return None


def _explained(
    verdict: tree.Verdict,
    path: str,
    now: float,
    activity: Any,
    history: History | None,
    company: _Company | None = None,
) -> dict[str, Any]:
    node = verdict.node
    out: dict[str, Any] = {"path": path, "matches": verdict.passed}
    if isinstance(node, tree.Group):
        out["match"] = node.match
        out["rules"] = [
            _explained(child, f"{path}.rules[{i}]", now, activity, history, company)
            for i, child in enumerate(verdict.children)
        ]
    else:
        out["node"] = tree.as_json(node)
        actual = _actual(node, now, activity, history, company)
        if actual is not None:
            out["actual"] = actual
    return out


@manage_view("POST")
def evaluate(request: HttpRequest) -> HttpResponse:
    """The definition for one user at ``now``: a stored user's traits and their history as
    it stood then (the raw events up to ``now``, summarised as the serve summarises them) and
    their company (its traits, and its users counted in the segments company conditions
    count), or inline traits (a user with no history) with, optionally, a made-up company."""
    data = body(request)
    group = _definition(request, data)
    (traits, end_user), when = _user(request, data), _now(data)
    now = now_seconds(when)
    trees = trees_of(request.application.pk)
    activity: dict[str, Any] = {}
    history = None
    if end_user is not None:
        if data.get("company") is not None:
            message = "A stored user's company is read with them: company goes with user.traits."
            raise invalid("company", message)
        nodes = _reachable(group, trees)
        history = _history(end_user, nodes, when)
        activity = history.summary(_kept(request.application, nodes))
        company = _stored_company(end_user, nodes, now, trees)
    else:
        company = _inline_company(data, trees)
    verdict = tree.explain(
        group,
        traits,
        now,
        trees.get,
        activity=activity,
        company=company.traits if company else None,
        members=company.members if company else None,
    )
    explain = [
        _explained(child, f"definition.rules[{i}]", now, activity, history, company)
        for i, child in enumerate(verdict.children)
    ]
    return json_response(
        {
            "matches": verdict.passed,
            "explain": explain,
            "company": company.as_json() if company else None,
        }
    )
