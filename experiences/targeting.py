"""Where and to whom an experience is served: URL patterns, the compiled per-application
targeting and its cache, and the one decision path behind both ``serve`` and ``explain_serve``.

The targeting of an application (its key, trait keys, segments with their rules, experiences
with their URL patterns) is read from the database once per change, kept in the Django cache as
plain picklable data under a key that carries a version, and compiled in memory (segments to
``CompiledSegment``, patterns to regexes) once per process and version.

The version lives in the database (``TargetingVersion``), so that every process agrees on it
whatever the cache backend (local memory is per process). ``invalidate`` bumps it;
``experiences/signals.py`` calls it on every change, so the next serve in any process sees the
edit. A serve is one query (``lookup``): the application by its public key with its version, the
user's row and the user's past events, whatever the number of segments and experiences;
identify with a url is one statement too once the process knows the application
(``identify_and_lookup``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, Literal, overload
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Prefetch
from django.utils import timezone

from callout.db import fetchone_prepared
from segments.actions import PG_MERGE, merge_params
from segments.codegen import CompiledSegment, compile_chooser, compile_segments
from segments.coerce import now_seconds
from segments.evaluator import Condition
from segments.models import Application, EndUser, Rule, Segment, TraitDefinition

from .models import Event, Experience, TargetingVersion

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


@lru_cache(maxsize=1024)  # the API checks a url, then the serve reads it: parse it once
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

    @property
    def servable(self) -> bool:
        """Published and with an audience: the only experiences a serve looks at."""
        return self.status == Experience.Status.PUBLISHED and bool(self.segment_ids)

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

    @cached_property
    def json(self) -> str:
        """``as_json`` encoded once per compile, as ``JsonResponse`` would encode it: a serve
        answers by joining these (``experiences/api.py``)."""
        return json.dumps(self.as_json(), cls=DjangoJSONEncoder)


@dataclass(frozen=True)
class CompiledSegmentEntry:
    id: int
    name: str
    compiled: CompiledSegment


Chooser = Callable[..., list["CompiledExperience"]]

# A serve's URL check, per distinct URL string, is kept on the Targeting: most page views of an
# application hit a few URLs, and the check is pure (patterns in, verdicts out).
_URL_MEMO_MAX = 256


@dataclass(frozen=True)
class Targeting:
    """Everything a serve needs about one application, compiled; read-only, shared by threads."""

    application: Application
    version: str
    trait_keys: frozenset[str]
    segments: Mapping[int, CompiledSegmentEntry]
    experiences: tuple[CompiledExperience, ...]  # highest priority first
    # {url: the audience check of the servable experiences that url lets through}
    url_memo: dict[str, Chooser] = field(default_factory=dict, compare=False, repr=False)
    # {ids of the experiences a URL lets through: their audience check}
    choosers: dict[tuple[int, ...], Chooser] = field(
        default_factory=dict, compare=False, repr=False
    )

    @cached_property
    def experience_ids(self) -> frozenset[int]:
        return frozenset(e.id for e in self.experiences)

    @cached_property
    def servable(self) -> tuple[CompiledExperience, ...]:
        return tuple(e for e in self.experiences if e.servable)

    def chooser(self, experiences: tuple[CompiledExperience, ...]) -> Chooser:
        """``(traits, now) -> the experiences whose audience has the user``, in order, as one
        generated function (``segments.codegen.compile_chooser``); one per set of
        experiences, which URL patterns make few."""
        ids = tuple(e.id for e in experiences)
        chooser = self.choosers.get(ids)
        if chooser is None:
            conditions = {sid: e.compiled.conditions for sid, e in self.segments.items()}
            chooser = compile_chooser(conditions, [(e, e.segment_ids) for e in experiences])
            if len(self.choosers) >= _URL_MEMO_MAX:
                self.choosers.clear()
            self.choosers[ids] = chooser
        return chooser

    @cached_property
    def in_segments(self) -> Callable[..., dict[int, bool]]:
        """``(traits, now) -> {segment id: matches}`` for every segment, in one generated
        function that reads each trait and computes each distinct rule once (a serve checks
        most segments, and segments share rules); compiled on the first decision."""
        return compile_segments({sid: e.compiled.conditions for sid, e in self.segments.items()})


CACHE_TIMEOUT = 24 * 3600
_LOCAL_MAX = 1000
# Compiled targeting per process: {application id: Targeting}. The version in the database
# decides whether an entry is still current, so an edit reaches every process at once.
_local: dict[int, Targeting] = {}


def _data_key(application_id: int, version: str) -> str:
    return f"targeting:data:{application_id}:{version}"


def _new_version() -> str:
    return uuid.uuid4().hex


def invalidate(application_id: int) -> None:
    """A new version, written in the caller's transaction: this connection sees it at once,
    every other process with the commit (and not before: they keep serving the old state until
    the edit is visible). A rolled-back edit leaves the old version current."""
    TargetingVersion.objects.filter(application_id=application_id).update(version=_new_version())


def create_version(application_id: int) -> None:
    """The application's first version (or a new one), whether or not it has a row yet."""
    TargetingVersion.objects.bulk_create(
        [TargetingVersion(application_id=application_id, version=_new_version())],
        update_conflicts=True,
        unique_fields=["application"],
        update_fields=["version"],
    )


def current_version(application_id: int) -> str | None:
    """The application's targeting version (one query); None if the application is gone."""
    version = (
        TargetingVersion.objects.filter(application_id=application_id)
        .values_list("version", flat=True)
        .first()
    )
    if version is None and Application.objects.filter(pk=application_id).exists():
        # Created by a path that sends no signal (bulk_create, raw SQL): give it one now.
        create_version(application_id)
        return current_version(application_id)
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


def targeting_for(application: Application | int, version: str | None = None) -> Targeting | None:
    """The application's compiled targeting (None if it was deleted). ``version``: the current
    version when the caller has just read it (``targeting_for_key``); else one query reads it.
    Nothing else is queried unless the version is new to this process and to the cache."""
    application_id = application if isinstance(application, int) else application.pk
    if version is None:
        version = current_version(application_id)
        if version is None:
            return None
    local = _local.get(application_id)
    if local is not None and local.version == version:
        return local
    key = _data_key(application_id, version)
    data = cache.get(key)
    if data is None:
        data = _load(application_id)
        if data is None:
            return None
        cache.set(key, data, CACHE_TIMEOUT)
    targeting = _compile(data, version)
    if len(_local) >= _LOCAL_MAX:
        _local.clear()
    _local[application_id] = targeting
    return targeting


_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def targeting_for_key(public_key: str) -> Targeting | None:
    """The targeting of the application with this public key, or None for an unknown key.

    One query finds the application by its key and reads its version (a join); a key that was
    rotated or an application that was deleted is unknown from the commit on, in every
    process."""
    if not isinstance(public_key, str) or not _PUBLIC_KEY.fullmatch(public_key):
        return None
    rows = list(
        Application.objects.filter(public_key=public_key)
        .order_by()
        .values_list("pk", "targeting_version__version")[:1]
    )
    if not rows:
        return None
    application_id, version = rows[0]
    targeting = targeting_for(application_id, version)  # version None: no row yet, made there
    if targeting is None or targeting.application.public_key != public_key:
        return None
    return targeting


# The one query of a serve: the application by its public key with its targeting version, the
# user by id, and the user's past dismissed/completed events (for frequency) aggregated to one
# text ("12:dismissed,12:completed"). Backed by the public_key, (application, external_id) and
# event_user_outcome (partial, per user) indexes. {names} are quoted table names.
_LOOKUP = """
    SELECT a.id, v.version, u.id, u.traits, (
        SELECT {aggregate} FROM (
            SELECT DISTINCT e.experience_id, e.type FROM {event} e
            WHERE e.end_user_id = u.id AND e.type IN ('dismissed', 'completed')
        ) h
    )
    FROM {application} a
    LEFT JOIN {version} v ON v.application_id = a.id
    LEFT JOIN {end_user} u ON u.application_id = a.id AND u.external_id = %s
    WHERE a.public_key = %s"""
_AGGREGATE = {
    "postgresql": "string_agg(h.experience_id::text || ':' || h.type, ',')",
    "sqlite": "group_concat(h.experience_id || ':' || h.type, ',')",
}


@dataclass(frozen=True, slots=True)
class Visitor:
    """One user of one application as a serve sees them. ``id`` None: never identified."""

    id: int | None
    traits: dict[str, Any]
    history: dict[int, set[str]]


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    tables = {
        "application": Application,
        "version": TargetingVersion,
        "end_user": EndUser,
        "event": Event,
    }
    return _LOOKUP.format(
        aggregate=_AGGREGATE[vendor],
        **{name: quote(model._meta.db_table) for name, model in tables.items()},
    )


def _history(events: str | None) -> dict[int, set[str]]:
    """The aggregated events text ("12:dismissed,12:completed") as {experience id: types}."""
    history: dict[int, set[str]] = {}
    for event in events.split(",") if events else ():
        experience_id, _, type_ = event.partition(":")
        history.setdefault(int(experience_id), set()).add(type_)
    return history


def lookup(public_key: str, external_id: str) -> tuple[Targeting, Visitor] | None:
    """The application with this public key (None if unknown) and its user ``external_id``
    with the frequency-relevant history: one query, plus the targeting's own when its version
    is new to this process and to the cache."""
    if not isinstance(public_key, str) or not _PUBLIC_KEY.fullmatch(public_key):
        return None
    # Planned once per connection (callout/db.py).
    row = fetchone_prepared(_lookup_sql(connection.vendor), [external_id, public_key])
    if row is None:
        return None
    application_id, version, user_id, traits, events = row
    found = targeting_for(application_id, version)
    if found is None or found.application.public_key != public_key:
        return None
    if len(_by_key) >= _LOCAL_MAX:
        _by_key.clear()
    _by_key[public_key] = application_id
    if isinstance(traits, str):  # PostgreSQL's jsonb and SQLite's text both arrive as text
        traits = json.loads(traits)
    traits = traits if isinstance(traits, dict) else {}
    return found, Visitor(user_id, traits, _history(events))


# {public key: application id} of the lookups this process made: identify's one statement
# starts from the targeting it points to, and checks in SQL that it is still current.
_by_key: dict[str, int] = {}


def known_targeting(public_key: Any) -> Targeting | None:
    """The targeting this process last found for ``public_key``, without a query; it may have
    changed since (an edit in any process, a rotated key): ``identify_and_lookup`` checks."""
    if not isinstance(public_key, str):
        return None
    found = _local.get(_by_key.get(public_key, -1))
    return found if found is not None and found.application.public_key == public_key else None


# identify in one statement when this process knows the application (PostgreSQL): the user is
# merged (segments.actions, PG_MERGE) only if the application still has this key and the
# targeting version the caller checked the call against, and the statement returns the user
# with the history the serve needs. Its commit is asynchronous unless IDENTIFY_DURABLE=1.
# {names} are quoted table names; {merge} is PG_MERGE.
_IDENTIFY = """
    WITH app AS (
        SELECT a.id FROM {application} a JOIN {version} v ON v.application_id = a.id
        WHERE a.public_key = %s AND v.version = %s
          -- for this statement's own transaction (settings.CALLOUT_IDENTIFY_DURABLE)
          AND set_config('synchronous_commit', %s, true) IS NOT NULL
    ), written AS (
        INSERT INTO {end_user} (application_id, external_id, traits, first_seen, last_seen)
        SELECT app.id, %s, %s::jsonb, %s, %s FROM app
        {merge}
        RETURNING id, traits
    )
    SELECT w.id, w.traits, (
        SELECT string_agg(h.experience_id::text || ':' || h.type, ',') FROM (
            SELECT DISTINCT e.experience_id, e.type FROM {event} e
            WHERE e.end_user_id = w.id AND e.type IN ('dismissed', 'completed')
        ) h
    )
    FROM written w"""


@lru_cache(maxsize=1)
def _identify_sql() -> str:
    quote = connection.ops.quote_name
    end_user = quote(EndUser._meta.db_table)
    return _IDENTIFY.format(
        application=quote(Application._meta.db_table),
        version=quote(TargetingVersion._meta.db_table),
        end_user=end_user,
        event=quote(Event._meta.db_table),
        merge=PG_MERGE.format(t=end_user),
    )


def identify_and_lookup(
    targeting: Targeting, external_id: str, changes: Mapping[str, Any]
) -> Visitor | None:
    """identify's write and the serve's lookup as one statement, on PostgreSQL, for a call
    already checked against ``targeting`` (its user_hash, its trait keys): the user merged with
    ``changes`` (``end_user_clean``'s output), as the serve sees them. None, with nothing
    written, when the statement cannot stand for the general path: not PostgreSQL, the
    targeting is no longer current, or the merge would exceed the trait limit."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    merge = merge_params(changes)  # begins with the traits to set: the new user's
    durable = "on" if settings.CALLOUT_IDENTIFY_DURABLE else "off"
    params = [targeting.application.public_key, targeting.version, durable, external_id, merge[0]]
    row = fetchone_prepared(_identify_sql(), [*params, now, now, *merge])
    if row is None:
        return None
    user_id, traits, events = row
    if isinstance(traits, str):
        traits = json.loads(traits)
    return Visitor(user_id, traits, _history(events))


def clear_local() -> None:
    """Forget this process's compiled targeting (tests)."""
    _local.clear()
    _by_key.clear()


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
    """The frequency-relevant event types this user has per experience: one query, backed by
    the (end_user, experience) index."""
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


_Row = tuple[CompiledExperience, str | None, str | None]  # experience, pattern, URL reason


def _url_rows(targeting: Targeting, url: str) -> list[_Row]:
    """The URL's verdict on every experience, for an explanation."""
    page = parse_url(url)
    return [(e, *_url_decision(e, page)) for e in targeting.experiences]


def _url_chooser(targeting: Targeting, url: str) -> Chooser:
    """The audience check of the servable experiences this URL lets through, remembered per
    URL on the targeting; URLs that let the same experiences through share one."""
    memo = targeting.url_memo
    chooser = memo.get(url)
    if chooser is None:
        page = parse_url(url)
        passed = tuple(e for e in targeting.servable if _url_decision(e, page)[1] is None)
        chooser = targeting.chooser(passed)
        if len(memo) >= _URL_MEMO_MAX:
            memo.clear()
        memo[url] = chooser
    return chooser


@overload
def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: Literal[True] = True,
    history: Mapping[int, set[str]] | None = None,
) -> list[Decision]: ...


@overload
def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: Literal[False],
    history: Mapping[int, set[str]] | None = None,
) -> list[CompiledExperience]: ...


def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: bool = True,
    history: Mapping[int, set[str]] | None = None,
) -> list[Decision] | list[CompiledExperience]:
    """The one decision path: status, segments, audience, URL, then frequency (one query, for
    the experiences that passed the rest, when one of them counts past events).

    ``explain=True``: a ``Decision`` for every experience, with the first reason in that order.
    ``explain=False`` (a serve, ``_serve``): the served experiences only, and each is checked
    only as far as it must be: unpublished and audience-less ones are skipped outright, the URL
    (cheap and remembered per URL) goes first, then the audience, then frequency; no
    ``Decision`` and no reason text is built. Both answer the same experiences
    (tests/experiences/test_targeting).

    ``history``: the user's past event types per experience when the caller already has them
    (``lookup`` reads them in the serve's one query); else they are queried here.
    """
    when = now_seconds(now)
    if not explain:
        return _serve(targeting, end_user_id, traits, url, when, history)
    in_segment: dict[int, bool] | None = None  # every segment's answer, on the first need
    staged: list[tuple[CompiledExperience, str | None, str | None, str | None]] = []
    for experience, pattern, url_reason in _url_rows(targeting, url):
        segment_name = None
        for segment_id in experience.segment_ids:
            if in_segment is None:
                in_segment = targeting.in_segments(traits, when)
            if in_segment.get(segment_id):  # absent: a segment deleted since
                segment_name = targeting.segments[segment_id].name
                break
        if not experience.published:
            reason = experience.status
        elif not experience.segment_ids:
            reason = "has no segments"
        elif segment_name is None:
            reason = "not in any of its segments"
        else:
            reason = url_reason
        staged.append((experience, reason, segment_name, pattern))
    if history is None:
        history = history_for(
            end_user_id,
            [
                e.id
                for e, reason, _, _ in staged
                if reason is None and e.frequency != Experience.Frequency.EVERY_TIME
            ],
        )
    decisions = []
    for experience, reason, segment_name, pattern in staged:
        if reason is None:
            reason = _frequency_block(experience.frequency, history.get(experience.id, _NONE))
        served = reason is None
        if served:
            where = f"URL matches {pattern}" if pattern else "every page"
            reason = f"in segment {segment_name}; {where}; frequency {experience.frequency}"
        decisions.append(Decision(experience, served, reason, segment_name, pattern))
    return decisions


def _serve(
    targeting: Targeting,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    when: float,
    history: Mapping[int, set[str]] | None,
) -> list[CompiledExperience]:
    """``decide`` for a serve, the hot path: the same checks in the same order, each only as
    far as it must go, and no reasons. Only servable experiences the URL lets through are
    looked at (remembered per URL), and their audience is one generated function."""
    served = _url_chooser(targeting, url)(traits, when)
    if history is None:
        counted = [e.id for e in served if e.frequency != Experience.Frequency.EVERY_TIME]
        history = history_for(end_user_id, counted)
    if not history:  # most users have dismissed and completed nothing
        return served
    return [e for e in served if _frequency_block(e.frequency, history.get(e.id, _NONE)) is None]


_NONE: frozenset[str] = frozenset()


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
    """The experiences this user sees on this URL, highest priority first: ``decide`` without
    the explanations."""
    return decide(
        _as_targeting(application),
        end_user_id=end_user.pk,
        traits=end_user.traits or {},
        url=url,
        now=now,
        explain=False,
    )
