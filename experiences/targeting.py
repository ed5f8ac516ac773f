"""The compiled targeting of an application, its cache and its version.

The targeting of an application (its key, trait keys, segments with their rules, experiences
with their URL patterns) is read from the database once per change, kept in the Django cache as
plain picklable data under a key that carries a version, and compiled in memory (segments to
``CompiledSegment``, patterns to ``UrlPattern``) once per process and version.

The version lives in the database (``TargetingVersion``), so that every process agrees on it
whatever the cache backend (local memory is per process). ``invalidate`` bumps it;
``experiences/signals.py`` calls it on every change, so the next serve in any process sees the
edit. The serve's SQL is ``experiences/lookup.py``; the decision ``experiences/serving.py``.

Schedules change what is served without any edit: a targeting knows the next moment an
experience's schedule starts or ends (``changes_at``), and the first serve at or past it, in
each process, moves its ``window`` on (which experiences are on, a new per-URL memo).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from segments import themes, tree
from segments.codegen import compile_chooser, compile_segments
from segments.coerce import now_seconds
from segments.evaluator import Condition
from segments.models import Application, Segment, TraitDefinition, tree_prefetches
from segments.selectors import counted_segments

from .delivery import Delivery, Slot, slot_of
from .members import CompanyCounts, CountQuery
from .models import Experience, TargetingVersion
from .pages import PatternError, UrlPattern, compile_pattern

EMPTY: Mapping[str, Any] = {}  # no activity: never written to
NEVER = float("inf")

logger = logging.getLogger(__name__)


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
    # The schedule in Unix seconds: served from starts_at included until ends_at excluded.
    starts_at: float | None = None  # None: no start (served once published)
    ends_at: float | None = None  # None: no end
    # Goals and holdouts (experiences/holdout.py, docs/experiences.md).
    holdout_percent: int = 0
    goal_kind: str = "none"
    goal_page: UrlPattern | None = None  # goal_kind "page": the pattern (None: does not compile)
    window_days: int = 7
    # Languages (experiences/languages.py): texts by language and field path, and the
    # application's default language, the content's (the snippet chooses between them).
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    language: str = "en"

    @property
    def has_goal(self) -> bool:
        return self.goal_kind != "none"

    @property
    def published(self) -> bool:
        return self.status == Experience.Status.PUBLISHED

    @property
    def servable(self) -> bool:
        """Published and with an audience: the only experiences a serve looks at (when their
        schedule has them on: ``on_schedule``)."""
        return self.status == Experience.Status.PUBLISHED and bool(self.segment_ids)

    def on_schedule(self, when: float) -> bool:
        """Within its schedule at ``when`` (Unix seconds): started, and not yet ended."""
        return (self.starts_at is None or self.starts_at <= when) and (
            self.ends_at is None or when < self.ends_at
        )

    def schedule_reason(self, when: float) -> str | None:
        """Why the schedule keeps it from being served at ``when`` (None: it does not)."""
        if self.starts_at is not None and when < self.starts_at:
            return f"scheduled: starts {moment_words(self.starts_at)}"
        if self.ends_at is not None and when >= self.ends_at:
            return f"ended {moment_words(self.ends_at)}"
        return None

    def as_json(self) -> dict[str, Any]:
        """What the snippet receives."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "frequency": self.frequency,
            "priority": self.priority,
            "content": self.content,
            # Only when translated, so an experience in one language is sent as before.
            **(
                {"language": self.language, "translations": self.translations}
                if self.translations
                else {}
            ),
        }

    @cached_property
    def slot(self) -> Slot:
        """The place it takes on a page, for delivery (``experiences/delivery.py``)."""
        return slot_of(self.kind, self.content)

    @cached_property
    def json(self) -> str:
        """``as_json`` encoded once per compile, as ``JsonResponse`` would encode it: a serve
        answers by joining these (``experiences/api.py``)."""
        return json.dumps(self.as_json(), cls=DjangoJSONEncoder)


@dataclass(frozen=True)
class CompiledSegmentEntry:
    id: int
    name: str
    conditions: tuple[Condition, ...] | None  # None: the stored rules cannot be read


def moment_words(seconds: float) -> str:
    """A schedule's moment in explanations: ``2026-12-04 09:00 UTC`` (seconds when it has
    them)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


Chooser = Callable[..., list["CompiledExperience"]]


@dataclass(frozen=True)
class Window:
    """The servable experiences on schedule from ``opens_at`` (included) until ``changes_at``
    (excluded), when no schedule opens or closes, and the serve's per-URL memo for them:
    ``{url: the audience check of those of them the url lets through}``. A new window comes
    with a new memo, so a URL's memo never outlives the set of experiences it was made from."""

    opens_at: float
    changes_at: float
    servable: tuple[CompiledExperience, ...]
    url_memo: dict[str, Chooser] = field(default_factory=dict, compare=False, repr=False)


# A serve's URL check, per distinct URL string, is kept on the Targeting: most page views of an
# application hit a few URLs, and the check is pure (patterns in, verdicts out).
URL_MEMO_MAX = 256


@dataclass(frozen=True)
class Targeting:
    """Everything a serve needs about one application, compiled; read-only, shared by threads."""

    application: Application
    version: str
    trait_keys: frozenset[str]
    segments: Mapping[int, CompiledSegmentEntry]
    experiences: tuple[CompiledExperience, ...]  # highest priority first
    # {ids of the experiences a URL lets through: their audience check}
    choosers: dict[tuple[int, ...], Chooser] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Trait keys this process has seen defined since the targeting was compiled: identify's
    # general path discovers a new key without a new version (no rule can use a key before it
    # has a definition, and making a rule bumps the version), so a key missing from both sets
    # only means "take the general path once", in each process.
    discovered: set[str] = field(default_factory=set, compare=False, repr=False)
    # The companies' trait keys, as ``trait_keys`` and ``discovered`` are the users'.
    company_trait_keys: frozenset[str] = frozenset()
    discovered_company: set[str] = field(default_factory=set, compare=False, repr=False)
    # The application's delivery settings (experiences/delivery.py).
    delivery: Delivery = field(default_factory=Delivery)
    # The snippet's theme as the serve sends it, encoded once: what differs from the
    # defaults (segments/themes.py), or None when nothing does (nothing is sent).
    theme_json: str | None = None
    # The application-wide holdout, in percent (experiences/holdout.py).
    holdout_percent: int = 0
    # What a serve reads: the servable experiences on schedule now, until ``changes_at``.
    # Replaced (``window_at``) by the first serve at or past that moment, in each process:
    # a scheduled experience starts and stops without an edit, a deploy or a restart.
    window: Window = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.window_at(now_seconds())

    @cached_property
    def experience_ids(self) -> frozenset[int]:
        return frozenset(e.id for e in self.experiences)

    def measured(self, experience: CompiledExperience) -> bool:
        """Whether a serve records who is eligible for it (``Exposure``): it has a goal or a
        holdout, or the application keeps a holdout of all users."""
        return bool(self.holdout_percent or experience.holdout_percent or experience.has_goal)

    @cached_property
    def measuring(self) -> bool:
        """Whether any experience is measured: else a serve does nothing more than before."""
        return any(self.measured(e) for e in self.servable)

    @cached_property
    def page_goals(self) -> tuple[CompiledExperience, ...]:
        """The servable experiences whose goal is a page visited (with a valid pattern)."""
        return tuple(e for e in self.servable if e.goal_kind == "page" and e.goal_page)

    @cached_property
    def servable(self) -> tuple[CompiledExperience, ...]:
        """Published with an audience, whatever their schedule."""
        return tuple(e for e in self.experiences if e.servable)

    @cached_property
    def schedule_changes(self) -> tuple[float, ...]:
        """Every moment a servable experience's schedule starts or ends, in order."""
        moments = {e.starts_at for e in self.servable} | {e.ends_at for e in self.servable}
        return tuple(sorted(m for m in moments if m is not None))

    def next_change(self, when: float) -> float:
        """The first moment after ``when`` at which the servable set changes (NEVER: none)."""
        changes = self.schedule_changes
        index = bisect_right(changes, when)
        return changes[index] if index < len(changes) else NEVER

    @property
    def changes_at(self) -> float:
        """When the current window closes: the next moment a schedule starts or ends (Unix
        seconds; NEVER when no schedule is ahead)."""
        return self.window.changes_at

    def window_at(self, when: float) -> Window:
        """The window holding ``when``, made the current one. Threads may race here: each
        makes a whole window and one of them stays, all of them right."""
        changes = self.schedule_changes
        index = bisect_right(changes, when)
        window = Window(
            opens_at=changes[index - 1] if index else -NEVER,
            changes_at=changes[index] if index < len(changes) else NEVER,
            servable=tuple(e for e in self.servable if e.on_schedule(when)),
        )
        object.__setattr__(self, "window", window)  # frozen: this one field moves on
        return window

    def chooser(self, experiences: tuple[CompiledExperience, ...]) -> Chooser:
        """``(traits, now, activity, company, members) -> the experiences whose audience has
        the user``, in order, as one generated function (``segments.codegen.compile_chooser``);
        one per set of experiences, which URL patterns make few."""
        ids = tuple(e.id for e in experiences)
        chooser = self.choosers.get(ids)
        if chooser is None:
            choices = [(e, e.segment_ids) for e in experiences]

            def answer(matching: set[int]) -> list[CompiledExperience]:
                return [e for e, sids in choices if any(s in matching for s in sids)]

            chooser = self._guarded(lambda segments: compile_chooser(segments, choices), answer)
            if len(self.choosers) >= URL_MEMO_MAX:
                self.choosers.clear()
            self.choosers[ids] = chooser
        return chooser

    @cached_property
    def counted(self) -> frozenset[int]:
        """The segments that ``company_users`` nodes count (none: no company counts)."""
        return frozenset(counted_segments(self._conditions.values()))

    def members(self, company_id: int | None, now: float) -> Mapping[int, int]:
        """What ``company_users`` nodes read for a user of company ``company_id``: counted on
        first read (``experiences/members.py``); empty when no node counts or without a
        company."""
        if company_id is None or not self.counted:
            return EMPTY
        return CompanyCounts(company_id=company_id, query=self._count_query, now=now)

    @cached_property
    def _count_query(self) -> CountQuery:
        return CountQuery(
            application_id=self.application.pk, trees=self._conditions, segment_ids=self.counted
        )

    @cached_property
    def in_segments(self) -> Callable[..., dict[int, bool]]:
        """``(traits, now, activity, company, members) -> {segment id: matches}`` for every
        segment, in one generated function that reads each trait and computes each distinct
        rule once (a serve checks most segments, and segments share rules); compiled on the
        first decision."""
        return self._guarded(compile_segments, lambda matching: dict.fromkeys(matching, True))

    # --- One broken segment never stops the others ------------------------------------
    # The segments of an application compile to one function, so one segment whose code does
    # not compile (or raises when run) would stop every experience. The whole is compiled
    # first, as always; only when that fails is each segment compiled alone to find the
    # broken ones, which then match nobody, are logged, and are named in ``broken`` (the
    # segment list badges them). A function that raises when run falls back, for that call,
    # to each segment alone.

    @cached_property
    def _conditions(self) -> dict[int, tuple[Condition, ...]]:
        return {sid: e.conditions for sid, e in self.segments.items() if e.conditions is not None}

    @cached_property
    def broken(self) -> frozenset[int]:
        """The segments whose rules cannot be compiled: they match nobody."""
        broken = {sid for sid, e in self.segments.items() if e.conditions is None}
        try:
            compile_segments(self._conditions)
            return frozenset(broken)  # the common case: one compile says all are fine
        except Exception:
            pass
        for sid in self._conditions:
            try:
                compile_segments(self._conditions, [sid])
            except Exception:
                logger.exception("segment %s does not compile: it matches nobody", sid)
                broken.add(sid)
        return frozenset(broken)

    def _guarded(
        self, build: Callable[[Mapping[int, Any]], Callable[..., Any]], answer: Callable[..., Any]
    ) -> Callable[..., Any]:
        """``build(segments)`` (a generated function), without the broken segments if it
        raises. The function returned runs it; for a call where it raises, each segment runs
        alone and ``answer(ids of the matching segments)`` answers (slow, and logged once: a
        bug to fix, not a path)."""
        compiled: Callable[..., Any] | None
        try:
            compiled = build(self._conditions)
        except Exception:
            healthy = {s: c for s, c in self._conditions.items() if s not in self.broken}
            try:
                compiled = build(healthy)
            except Exception:
                self._report("segments together", "do not compile")
                compiled = None

        def guarded(
            traits: Mapping[str, Any],
            now: float | None = None,
            activity: Any = EMPTY,
            company: Any = EMPTY,
            members: Any = EMPTY,
        ) -> Any:
            if compiled is not None:
                try:
                    return compiled(traits, now, activity, company, members)
                except Exception:
                    self._report("segments together", "raised")
            return answer(self._alone(traits, now, activity, company, members))

        return guarded

    def _alone(
        self,
        traits: Mapping[str, Any],
        now: float | None,
        activity: Any,
        company: Any = EMPTY,
        members: Any = EMPTY,
    ) -> set[int]:
        """The healthy segments that match, each run alone; one that raises matches nobody."""
        matching = set()
        for sid in self._conditions:
            if sid in self.broken:
                continue
            one = self._singles.get(sid)
            try:
                if one is None:
                    one = self._singles[sid] = compile_segments(self._conditions, [sid])
                if one(traits, now, activity, company, members)[sid]:
                    matching.add(sid)
            except Exception:
                self._report(f"segment {sid}", "raised: it matches nobody for this call")
        return matching

    @cached_property
    def _singles(self) -> dict[int, Callable[..., dict[int, bool]]]:
        return {}

    @cached_property
    def _reported(self) -> set[str]:
        return set()

    def _report(self, what: str, happened: str) -> None:
        """Log the exception being handled, once per targeting (a failing call repeats)."""
        if what + happened not in self._reported:
            self._reported.add(what + happened)
            logger.exception("%s of application %s %s", what, self.application.pk, happened)


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
    trait_keys: dict[str, list[str]] = {scope: [] for scope in TraitDefinition.Scope.values}
    scoped = TraitDefinition.objects.filter(application_id=application_id)
    for scope, key in scoped.values_list("scope", "key"):
        trait_keys.setdefault(scope, []).append(key)
    segments = Segment.objects.filter(application_id=application_id).prefetch_related(
        *tree_prefetches()
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
        "delivery": {
            "max_banners_per_edge": application.max_banners_per_edge,
            "cap_per_day": application.cap_per_day,
            "cap_per_session": application.cap_per_session,
        },
        "theme": application.theme,
        "trait_keys": trait_keys[TraitDefinition.Scope.USER],
        "company_trait_keys": trait_keys[TraitDefinition.Scope.COMPANY],
        "segments": [
            {
                "id": segment.pk,
                "name": segment.name,
                # A flat segment as its rules (the common case), a tree as plain tuples.
                "conditions": [
                    (c.trait, c.type, c.operator, c.value, c.case_sensitive)
                    for c in segment.conditions
                ]
                if segment.is_flat
                else None,
                "tree": None if segment.is_flat else tree.to_plain(segment.tree),
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
                "translations": e.translations if isinstance(e.translations, dict) else {},
                "segment_ids": segment_ids.get(e.pk, []),
                "include": e.url_include if isinstance(e.url_include, list) else [],
                "exclude": e.url_exclude if isinstance(e.url_exclude, list) else [],
                "starts_at": e.starts_at.timestamp() if e.starts_at else None,
                "ends_at": e.ends_at.timestamp() if e.ends_at else None,
                "holdout_percent": e.holdout_percent,
                "goal_kind": e.goal_kind,
                "goal_url": e.goal_url,
                "window_days": e.conversion_window_days,
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


def _goal_page(experience: Mapping[str, Any]) -> UrlPattern | None:
    try:
        return compile_pattern(experience.get("goal_url") or "")
    except (PatternError, TypeError):
        return None


def _conditions(segment: Mapping[str, Any]) -> tuple[Condition, ...] | tree.Group | None:
    # A rule that no longer fits its retyped trait compiles to "matches nobody" (evaluator);
    # rules that cannot even be read make their segment broken (``Targeting.broken``).
    try:
        if segment.get("tree") is not None:
            return tree.from_plain(segment["tree"])
        return tuple(Condition(*fields) for fields in segment["conditions"])
    except Exception:
        logger.exception("segment %s has unreadable rules: it matches nobody", segment["id"])
        return None


def _theme_json(stored: Any) -> str | None:
    """The theme the serve sends. A stored theme that no longer passes the checks (edited
    around the action) sends nothing: the snippet's defaults, never an unchecked value."""
    try:
        theme = themes.changes(themes.clean(themes.theme_of(stored)))
    except (ValidationError, TypeError, AttributeError):
        logger.warning("application theme %r does not pass its checks: not sent", stored)
        return None
    return json.dumps(theme) if theme else None


def _compile(data: dict[str, Any], version: str) -> Targeting:
    languages = list(getattr(data["application"], "languages", None) or ["en"])
    return Targeting(
        application=data["application"],
        version=version,
        trait_keys=frozenset(data["trait_keys"]),
        company_trait_keys=frozenset(data.get("company_trait_keys", ())),
        delivery=Delivery(**data.get("delivery", {})),  # cached before delivery: the defaults
        theme_json=_theme_json(data.get("theme")),
        holdout_percent=getattr(data["application"], "holdout_percent", 0) or 0,
        segments={
            s["id"]: CompiledSegmentEntry(s["id"], s["name"], _conditions(s))
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
                starts_at=e.get("starts_at"),
                ends_at=e.get("ends_at"),
                holdout_percent=e.get("holdout_percent", 0),
                goal_kind=e.get("goal_kind", "none"),
                goal_page=_goal_page(e) if e.get("goal_kind") == "page" else None,
                window_days=e.get("window_days", 7),
                # Only the enabled languages': a removed one's stay stored, unserved.
                translations={
                    tag: texts
                    for tag, texts in (e.get("translations") or {}).items()
                    if tag in languages[1:]
                },
                language=languages[0],
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


PUBLIC_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def targeting_for_key(public_key: str) -> Targeting | None:
    """The targeting of the application with this public key, or None for an unknown key.

    One query finds the application by its key and reads its version (a join); a key that was
    rotated or an application that was deleted is unknown from the commit on, in every
    process."""
    if not isinstance(public_key, str) or not PUBLIC_KEY.fullmatch(public_key):
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


# {public key: application id} of the lookups this process made: identify's one statement
# starts from the targeting it points to, and checks in SQL that it is still current.
_by_key: dict[str, int] = {}


def remember_key(public_key: str, application_id: int) -> None:
    """What a lookup found: ``known_targeting`` answers from it, without a query."""
    if len(_by_key) >= _LOCAL_MAX:
        _by_key.clear()
    _by_key[public_key] = application_id


def known_targeting(public_key: Any) -> Targeting | None:
    """The targeting this process last found for ``public_key``, without a query; it may have
    changed since (an edit in any process, a rotated key): ``identify_and_lookup`` checks."""
    if not isinstance(public_key, str):
        return None
    found = _local.get(_by_key.get(public_key, -1))
    return found if found is not None and found.application.public_key == public_key else None


def clear_local() -> None:
    """Forget this process's compiled targeting (tests)."""
    _local.clear()
    _by_key.clear()


def broken_segment_ids(application: Application | int) -> set[int]:
    """The application's segments whose rules cannot be compiled, so that they match nobody
    (the serve of the others goes on); for the UI to badge them."""
    found = targeting_for(application)
    return set(found.broken) if found is not None else set()
