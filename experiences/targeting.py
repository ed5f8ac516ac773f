"""Where and to whom an experience is served: URL patterns, the compiled per-application
targeting and its cache, and the one decision path behind both ``serve`` and ``explain_serve``.

The targeting of an application (its key, trait keys, segments with their rules, experiences
with their URL patterns) is read from the database once per change, kept in the Django cache as
plain picklable data under a key that carries a version, and compiled in memory (segments to
``CompiledSegment``, patterns to regexes) once per process and version. ``invalidate`` bumps the
version; ``experiences/signals.py`` calls it on every change, so the next serve sees the edit.
A serve then needs no query for targeting at all: only the user's row and, when a frequency
rule needs it, the user's past events for the candidate experiences (one query).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.cache import cache
from django.db.models import Prefetch

from segments.evaluator import CompiledSegment, Condition, now_seconds
from segments.models import Application, EndUser, Rule, Segment, TraitDefinition

from .models import Event, Experience

# --- URL patterns ------------------------------------------------------------------------

MAX_PATTERN = 500
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_HOST = re.compile(r"^(localhost|[a-z0-9*\-]+(?:\.[a-z0-9*\-]+)+)(?::([0-9]{1,5}))?$")
_PARAM = re.compile(r"^:[A-Za-z_][A-Za-z0-9_]*$")


class PatternError(ValueError):
    """A URL pattern that cannot be used; the message says why, for a product manager."""


@dataclass(frozen=True)
class UrlPattern:
    """One compiled pattern. ``source`` is the text as written."""

    source: str
    path: re.Pattern[str]
    trailing_slash: bool = False
    host: re.Pattern[str] | None = None
    port: int | None = None
    query: tuple[tuple[str, str | None], ...] = ()
    fragment: str | None = None

    def matches(self, url: ParsedUrl) -> bool:
        if self.host is not None:
            if url.host is None or not self.host.fullmatch(url.host):
                return False
            if self.port is not None and url.port != self.port:
                return False
        if not self.path.fullmatch(url.path):
            return False
        if self.trailing_slash and not url.trailing_slash:
            return False
        for name, value in self.query:
            values = url.query.get(name)
            if values is None or (value is not None and value not in values):
                return False
        return self.fragment is None or self.fragment == url.fragment


@dataclass(frozen=True)
class ParsedUrl:
    """A page URL as patterns see it: path without trailing slash ("" for the root)."""

    path: str
    trailing_slash: bool = False
    host: str | None = None
    port: int | None = None
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fragment: str = ""


def _query_pairs(query: str) -> list[tuple[str, str | None]]:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        pairs.append(
            (unquote(name.replace("+", " ")), unquote(value.replace("+", " ")) if equals else None)
        )
    return pairs


def parse_url(url: str) -> ParsedUrl:
    """A full URL (``https://app.example.com/dashboard?tab=1#x``) or a path (``/dashboard``);
    raises ValueError for what is neither (``http://[oops``)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    path = unquote(parts.path) or "/"
    query: dict[str, tuple[str, ...]] = {}
    for name, value in _query_pairs(parts.query):
        query[name] = (*query.get(name, ()), value or "")
    stripped = path.rstrip("/")
    return ParsedUrl(
        path=stripped,
        trailing_slash=stripped != "" and path.endswith("/"),
        host=parts.hostname.lower() if parts.hostname else None,
        port=port,
        query=query,
        fragment=unquote(parts.fragment),
    )


def _segment_regex(segment: str) -> str:
    if segment == "**":
        return "(?:/.*)?"
    if segment == "*":
        return "/[^/]+"
    if segment.startswith(":"):
        if not _PARAM.fullmatch(segment):
            raise PatternError(f'"{segment}": a named segment is : and a name, as in :id.')
        return "/[^/]+"
    if "**" in segment:
        raise PatternError('"**" must be a whole segment, as in /docs/**.')
    return "/" + "[^/]*".join(re.escape(unquote(piece)) for piece in segment.split("*"))


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> UrlPattern:
    """``/dashboard``, ``/projects/*/settings``, ``/docs/**``, ``/users/:id``,
    ``/billing?tab=plans``, ``app.example.com/**``; raises PatternError."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("A URL pattern cannot be empty.")
    text = pattern.strip()
    if len(text) > MAX_PATTERN:
        raise PatternError(f"A URL pattern has at most {MAX_PATTERN} characters.")
    text = _SCHEME.sub("", text, count=1)
    text, hashed, fragment = text.partition("#")
    text, asked, query = text.partition("?")
    host = port = None
    if not text.startswith("/") and text:
        host_text, slash, rest = text.partition("/")
        match = _HOST.fullmatch(host_text.lower())
        if not match:
            raise PatternError(
                f'"{pattern}": start with / for a path, or with a host such as app.example.com.'
            )
        labels = match.group(1).split(".")
        host = re.compile(r"\.".join("[^.]+" if x == "*" else re.escape(x) for x in labels))
        port = int(match.group(2)) if match.group(2) else None
        text = slash + rest
    if text == "":
        # A host alone, or only ?query / #hash: any path.
        path_regex, trailing = "(?:/.*)?", False
    else:
        trailing = text.endswith("/") and text.strip("/") != ""
        segments = text.strip("/").split("/") if text.strip("/") else []
        path_regex = "".join(_segment_regex(s) for s in segments)
    query_pairs = tuple(_query_pairs(query)) if asked else ()
    if asked and not query_pairs:
        raise PatternError(f'"{pattern}": name a parameter after ?, as in ?tab=billing.')
    return UrlPattern(
        source=pattern,
        path=re.compile(path_regex),
        trailing_slash=trailing,
        host=host,
        port=port,
        query=query_pairs,
        fragment=unquote(fragment) if hashed else None,
    )


def check_pattern(pattern: Any) -> str:
    """The pattern, stripped, if it compiles; raises PatternError (for editors and forms)."""
    compile_pattern(pattern)
    return pattern.strip()


def url_matches(pattern: str, url: str) -> bool:
    """Whether a page URL matches one pattern; raises PatternError for an invalid pattern."""
    return compile_pattern(pattern).matches(parse_url(url))


# --- The compiled targeting of one application ------------------------------------------


@dataclass(frozen=True)
class CompiledExperience:
    id: int
    name: str
    kind: str
    status: str
    frequency: str
    priority: int
    content: Any
    segment_ids: tuple[int, ...]
    include: tuple[UrlPattern | str, ...]  # a str is a stored pattern that does not compile
    exclude: tuple[UrlPattern | str, ...]

    @property
    def published(self) -> bool:
        return self.status == Experience.Status.PUBLISHED

    def as_json(self) -> dict[str, Any]:
        """What the snippet receives."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "frequency": self.frequency,
            "priority": self.priority,
            "content": self.content,
        }


@dataclass(frozen=True)
class CompiledSegmentEntry:
    id: int
    name: str
    compiled: CompiledSegment


@dataclass(frozen=True)
class Targeting:
    """Everything a serve needs about one application, compiled; read-only, shared by threads."""

    application: Application
    version: str
    trait_keys: frozenset[str]
    segments: Mapping[int, CompiledSegmentEntry]
    experiences: tuple[CompiledExperience, ...]  # highest priority first

    @property
    def experience_ids(self) -> frozenset[int]:
        return frozenset(e.id for e in self.experiences)


CACHE_TIMEOUT = 24 * 3600
_LOCAL_MAX = 1000
# Compiled targeting per process: {application id: Targeting}; the version in the shared cache
# decides whether an entry is still current, so invalidation reaches every process at once.
_local: dict[int, Targeting] = {}


def _version_key(application_id: int) -> str:
    return f"targeting:version:{application_id}"


def _data_key(application_id: int, version: str) -> str:
    return f"targeting:data:{application_id}:{version}"


def _public_key_key(public_key: str) -> str:
    return f"targeting:key:{public_key}"


def invalidate(application_id: int) -> None:
    """A new version: every process rebuilds this application's targeting on its next serve.

    A random token rather than a counter: a version key lost to eviction can never bring an
    old, stale entry back to life.
    """
    cache.set(_version_key(application_id), uuid.uuid4().hex, None)


def forget_public_key(public_key: str) -> None:
    cache.delete(_public_key_key(public_key))


def _current_version(application_id: int) -> str:
    version = cache.get(_version_key(application_id))
    if version is None:
        cache.add(_version_key(application_id), uuid.uuid4().hex, None)
        version = cache.get(_version_key(application_id))
    return version


def _load(application_id: int) -> dict[str, Any] | None:
    """The application's targeting from the database, as plain picklable data (6 queries)."""
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        return None
    trait_keys = list(
        TraitDefinition.objects.filter(application_id=application_id).values_list("key", flat=True)
    )
    segments = Segment.objects.filter(application_id=application_id).prefetch_related(
        Prefetch("rules", queryset=Rule.objects.select_related("trait"))
    )
    through = Experience.segments.through.objects.filter(
        experience__application_id=application_id
    ).order_by("-segment__is_builtin", "segment__name")
    segment_ids: dict[int, list[int]] = {}
    for experience_id, segment_id in through.values_list("experience_id", "segment_id"):
        segment_ids.setdefault(experience_id, []).append(segment_id)
    experiences = Experience.objects.filter(application_id=application_id).order_by(
        "-priority", "name", "pk"
    )
    return {
        "application": application,
        "trait_keys": trait_keys,
        "segments": [
            {
                "id": segment.pk,
                "name": segment.name,
                "conditions": [
                    (c.trait, c.type, c.operator, c.value, c.case_sensitive)
                    for c in segment.conditions
                ],
            }
            for segment in segments
        ],
        "experiences": [
            {
                "id": e.pk,
                "name": e.name,
                "kind": e.kind,
                "status": e.status,
                "frequency": e.frequency,
                "priority": e.priority,
                "content": e.content,
                "segment_ids": segment_ids.get(e.pk, []),
                "include": e.url_include if isinstance(e.url_include, list) else [],
                "exclude": e.url_exclude if isinstance(e.url_exclude, list) else [],
            }
            for e in experiences
        ],
    }


def _compile_patterns(patterns: Iterable[Any]) -> tuple[UrlPattern | str, ...]:
    compiled: list[UrlPattern | str] = []
    for pattern in patterns:
        try:
            compiled.append(compile_pattern(pattern))
        except (PatternError, TypeError):
            compiled.append(str(pattern))
    return tuple(compiled)


def _compile_segment(conditions: Iterable[tuple[Any, ...]]) -> CompiledSegment:
    # A rule that no longer fits its retyped trait compiles to "matches nobody" (evaluator).
    return CompiledSegment(Condition(*fields) for fields in conditions)


def _compile(data: dict[str, Any], version: str) -> Targeting:
    return Targeting(
        application=data["application"],
        version=version,
        trait_keys=frozenset(data["trait_keys"]),
        segments={
            s["id"]: CompiledSegmentEntry(s["id"], s["name"], _compile_segment(s["conditions"]))
            for s in data["segments"]
        },
        experiences=tuple(
            CompiledExperience(
                id=e["id"],
                name=e["name"],
                kind=e["kind"],
                status=e["status"],
                frequency=e["frequency"],
                priority=e["priority"],
                content=e["content"],
                segment_ids=tuple(e["segment_ids"]),
                include=_compile_patterns(e["include"]),
                exclude=_compile_patterns(e["exclude"]),
            )
            for e in data["experiences"]
        ),
    )


def targeting_for(application: Application | int) -> Targeting | None:
    """The application's compiled targeting: no query when cached (None if it was deleted)."""
    application_id = application if isinstance(application, int) else application.pk
    version = _current_version(application_id)
    local = _local.get(application_id)
    if local is not None and local.version == version:
        return local
    data = cache.get(_data_key(application_id, version))
    if data is None:
        data = _load(application_id)
        if data is None:
            return None
        cache.set(_data_key(application_id, version), data, CACHE_TIMEOUT)
    targeting = _compile(data, version)
    if len(_local) >= _LOCAL_MAX:
        _local.clear()
    _local[application_id] = targeting
    return targeting


_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def targeting_for_key(public_key: str) -> Targeting | None:
    """The targeting of the application with this public key, or None for an unknown key."""
    if not isinstance(public_key, str) or not _PUBLIC_KEY.fullmatch(public_key):
        return None
    cache_key = _public_key_key(public_key)
    application_id = cache.get(cache_key)
    if application_id is None:
        application_id = (
            Application.objects.filter(public_key=public_key).values_list("pk", flat=True).first()
        )
        if application_id is None:
            return None
        cache.set(cache_key, application_id, CACHE_TIMEOUT)
    targeting = targeting_for(application_id)
    if targeting is None or targeting.application.public_key != public_key:
        forget_public_key(public_key)  # the key was rotated or the application deleted
        return None
    return targeting


def clear_local() -> None:
    """Forget this process's compiled targeting (tests)."""
    _local.clear()


# --- Deciding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Why one experience is or is not served to one user on one URL.

    ``matched_pattern`` is the include pattern that matched, or for an excluded URL the exclude
    pattern that excluded it; None when the experience has no include pattern (every page).
    """

    experience: CompiledExperience
    served: bool
    reason: str
    matched_segment: str | None = None
    matched_pattern: str | None = None


def _frequency_block(frequency: str, history: set[str]) -> str | None:
    completed = Event.Type.COMPLETED in history
    if frequency == Experience.Frequency.EVERY_TIME:
        return None
    if completed:
        return f"already completed (frequency: {frequency})"
    if frequency == Experience.Frequency.ONCE and Event.Type.DISMISSED in history:
        return f"already dismissed (frequency: {frequency})"
    return None


def history_for(end_user_id: int | None, experience_ids: Iterable[int]) -> dict[int, set[str]]:
    """The frequency-relevant event types this user has per experience: one query."""
    ids = list(experience_ids)
    if end_user_id is None or not ids:
        return {}
    history: dict[int, set[str]] = {}
    rows = (
        Event.objects.filter(
            end_user_id=end_user_id,
            experience_id__in=ids,
            type__in=[Event.Type.DISMISSED, Event.Type.COMPLETED],
        )
        .values_list("experience_id", "type")
        .distinct()
        .order_by()
    )
    for experience_id, type_ in rows:
        history.setdefault(experience_id, set()).add(type_)
    return history


def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
) -> list[Decision]:
    """The one decision path: status, segments, URL, then frequency (one query, when needed)."""
    when = now_seconds(now)
    page = parse_url(url)
    in_segment: dict[int, bool] = {}
    staged: list[tuple[CompiledExperience, str | None, str | None, str | None]] = []
    for experience in targeting.experiences:
        segment_name = None
        for segment_id in experience.segment_ids:
            entry = targeting.segments.get(segment_id)
            if entry is None:
                continue
            if segment_id not in in_segment:
                in_segment[segment_id] = entry.compiled.matches(traits, when)
            if in_segment[segment_id]:
                segment_name = entry.name
                break
        pattern, url_reason = _url_decision(experience, page)
        if not experience.published:
            reason = experience.status
        elif not experience.segment_ids:
            reason = "has no segments"
        elif segment_name is None:
            reason = "not in any of its segments"
        else:
            reason = url_reason
        staged.append((experience, reason, segment_name, pattern))
    needs_history = [
        e.id
        for e, reason, _, _ in staged
        if reason is None and e.frequency != Experience.Frequency.EVERY_TIME
    ]
    history = history_for(end_user_id, needs_history)
    decisions = []
    for experience, reason, segment_name, pattern in staged:
        if reason is None:
            reason = _frequency_block(experience.frequency, history.get(experience.id, set()))
        served = reason is None
        if served:
            where = f"URL matches {pattern}" if pattern else "every page"
            reason = f"in segment {segment_name}; {where}; frequency {experience.frequency}"
        decisions.append(Decision(experience, served, reason, segment_name, pattern))
    return decisions


def _url_decision(experience: CompiledExperience, page: ParsedUrl) -> tuple[str | None, str | None]:
    """(the pattern that decided, the reason it is not served or None)."""
    path = page.path or "/"
    for pattern in experience.exclude:
        if isinstance(pattern, UrlPattern) and pattern.matches(page):
            return pattern.source, f"excluded by {pattern.source}"
    if not experience.include:
        return None, None
    for pattern in experience.include:
        if isinstance(pattern, UrlPattern) and pattern.matches(page):
            return pattern.source, None
    return None, f"URL {path} matches no include pattern"


def _as_targeting(application: Application | Targeting) -> Targeting:
    if isinstance(application, Targeting):
        return application
    targeting = targeting_for(application)
    if targeting is None:
        raise Application.DoesNotExist(f"Application {application.pk} does not exist.")
    return targeting


def explain_serve(
    application: Application | Targeting,
    end_user: EndUser,
    url: str,
    now: datetime | float | None = None,
) -> list[Decision]:
    """Every experience of the application, highest priority first, with why it is or is not
    served to this user on this URL (for "preview as user" and the user page). An unsaved
    end user (preview with made-up traits) has no history."""
    return decide(
        _as_targeting(application),
        end_user_id=end_user.pk,
        traits=end_user.traits or {},
        url=url,
        now=now,
    )


def serve(
    application: Application | Targeting,
    end_user: EndUser,
    url: str,
    now: datetime | float | None = None,
) -> list[CompiledExperience]:
    """The experiences this user sees on this URL, highest priority first."""
    return [d.experience for d in explain_serve(application, end_user, url, now) if d.served]
