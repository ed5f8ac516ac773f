"""Every write to experiences goes through here (the UI, the admin and seed_demo alike).

Keyword-only, atomic and validated, as ``segments/actions.py``: errors are a
``ValidationError`` keyed by field (``name``, ``segments``, ``url_include``,
``content.steps.1.selector``), all of them at once, so a form can show each next to its field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import RestrictedError
from django.utils import timezone

from segments import audit
from segments.actions import clean_unique_name, unique_or_field_error
from segments.activity import (
    EXPERIENCE_STATES,
    experience_states,
    record_experience,
    record_exposure,
    shown_is_stale,
)
from segments.coerce import now_seconds
from segments.models import Application, EndUser, Segment

from . import versions
from .content import clean_content, clean_url_patterns
from .languages import DEFAULT_LANGUAGES, check_translations, clean_translations
from .models import MAX_HOLDOUT_PERCENT, MAX_WINDOW_DAYS, Event, Experience, Exposure, GoalKind
from .pages import PatternError, compile_pattern
from .selectors import audience

MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
MAX_STEP = 10_000


class EmptyAudience(ValidationError):
    """Publishing was refused only because the audience matches nobody today."""


class ExperienceInUse(ValidationError):
    """Deleting was refused: segments have rules on this experience (``segments``, by name)."""

    def __init__(self, experience: Experience, segments: list[Segment]):
        used = ", ".join(f'"{s.name}"' for s in segments)
        noun = "segment" if len(segments) == 1 else "segments"
        super().__init__(
            f'"{experience.name}" is used by the rules of the {noun} {used}: '
            "remove those rules first.",
            code="in_use",
        )
        self.segments = segments


def _clean_name(application: Application, name: Any, exclude: Experience | None) -> str:
    return clean_unique_name(application.experiences, name, noun="experience", exclude=exclude)


def _clean_segments(application: Application, segments: Iterable[Any]) -> list[Segment]:
    """Segments (or their ids) of this application; another application's are refused."""
    wanted = list(segments)
    ids = {s.pk if isinstance(s, Segment) else s for s in wanted}
    try:
        found = list(application.segments.filter(pk__in=ids))
    except (TypeError, ValueError):
        found = []
    if len(found) != len(ids):
        raise ValidationError({"segments": ["Choose segments of this application."]})
    return found


def _clean_frequency(frequency: Any) -> str:
    if frequency not in Experience.Frequency.values:
        choices = ", ".join(Experience.Frequency.values)
        raise ValidationError({"frequency": [f"Frequency must be one of {choices}."]})
    return frequency


def _clean_priority(priority: Any) -> int:
    try:
        value = int(priority)
    except (TypeError, ValueError):
        value = None
    if value is None or isinstance(priority, bool) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise ValidationError(
            {"priority": [f"Priority is a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}."]}
        )
    return value


class _Unchanged:
    """``experience_update``'s default for the schedule, where None means "no start / end"."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def _clean_moment(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError({field: ["A date and time with its time zone."]})
    return value.astimezone(UTC)


def _clean_schedule(starts_at: Any, ends_at: Any) -> dict[str, datetime | None]:
    """``starts_at`` / ``ends_at`` in UTC (aware datetimes or None); the end after the start
    (the database holds that too: ``experience_ends_after_start``)."""
    cleaned = _collect(
        {
            "starts_at": lambda: _clean_moment(starts_at, "starts_at"),
            "ends_at": lambda: _clean_moment(ends_at, "ends_at"),
        }
    )
    start, end = cleaned["starts_at"], cleaned["ends_at"]
    if start is not None and end is not None and end <= start:
        raise ValidationError({"ends_at": ["The end must be after the start."]})
    return cleaned


def _whole(value: Any, low: int, high: int, field: str, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: [message]})
    if not low <= value <= high:
        raise ValidationError({field: [message]})
    return value


def _clean_goal(*, kind: Any, event: Any, url: Any, window: Any, holdout: Any) -> dict[str, Any]:
    """The goal and holdout fields (docs/experiences.md, "Goals, holdouts and how to read the
    results"): a goal event for an event goal, a URL pattern for a page goal (the others are
    emptied), the window in days (1 to 90), the holdout in percent (0 to 50)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field, check in (
        (
            "holdout_percent",
            lambda: _whole(
                holdout,
                0,
                MAX_HOLDOUT_PERCENT,
                "holdout_percent",
                f"The holdout is a whole percentage from 0 to {MAX_HOLDOUT_PERCENT}.",
            ),
        ),
        (
            "conversion_window_days",
            lambda: _whole(
                window,
                1,
                MAX_WINDOW_DAYS,
                "conversion_window_days",
                f"The conversion window is a whole number of days from 1 to {MAX_WINDOW_DAYS}.",
            ),
        ),
    ):
        try:
            out[field] = check()
        except ValidationError as error:
            errors.update(error.message_dict)
    if kind not in GoalKind.values:
        errors["goal_kind"] = [f"The goal is one of {', '.join(GoalKind.values)}."]
    out["goal_kind"] = kind
    out["goal_event"] = out["goal_url"] = ""
    if kind == GoalKind.EVENT:
        name = event.strip() if isinstance(event, str) else ""
        if not name or len(name) > 128:
            errors["goal_event"] = ["An event goal needs the event's name (up to 128 characters)."]
        out["goal_event"] = name
    elif kind == GoalKind.PAGE:
        pattern = url.strip() if isinstance(url, str) else ""
        try:
            compile_pattern(pattern)
        except PatternError as error:
            errors["goal_url"] = [f"A page goal needs a URL pattern: {error}"]
        out["goal_url"] = pattern
    if errors:
        raise ValidationError(errors)
    return out


def _clean_translations(
    application: Application, kind: str, content: Any, translations: Any
) -> dict:
    """Translations of ``content`` (experiences/languages.py): text only, for the texts the
    content has, in the application's other languages; errors keyed ``translations.<tag>...``."""
    try:
        content = clean_content(kind, content)
    except ValidationError:
        # The content's own errors are reported under content; check against what was given.
        content = content if isinstance(content, dict) else {}
    languages = list(application.languages or DEFAULT_LANGUAGES)
    errors = check_translations(kind, content, translations, languages)
    if errors:
        raise ValidationError(errors)
    return clean_translations(translations)


def _collect(checks: dict[str, Any]) -> dict[str, Any]:
    """Run every check (a callable, or a value to keep) and raise all their errors together."""
    results, errors = {}, {}
    for field, check in checks.items():
        try:
            results[field] = check() if callable(check) else check
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return results


def _apply(experience: Experience, fields: dict[str, Any]) -> Experience:
    segments = fields.pop("segments", None)
    fields.update(fields.pop("schedule", None) or {})
    fields.update(fields.pop("goal", None) or {})
    for field, value in fields.items():
        setattr(experience, field, value)
    taken = f'An experience named "{experience.name}" already exists.'
    with unique_or_field_error("name", taken):  # a concurrent save with the same name
        experience.save()
    if segments is not None:
        experience.segments.set(segments)
    versions.record(experience)
    return experience


@transaction.atomic
def experience_create(
    *,
    application: Application,
    name: str,
    kind: str,
    content: Any,
    segments: Iterable[Any] | None = None,
    url_include: Any = (),
    url_exclude: Any = (),
    frequency: str = Experience.Frequency.ONCE,
    priority: Any = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    holdout_percent: Any = 0,
    goal_kind: str = GoalKind.NONE,
    goal_event: str = "",
    goal_url: str = "",
    conversion_window_days: Any = 7,
    translations: Any = None,
) -> Experience:
    """A new draft. ``segments`` None means Everyone; an empty list means nobody.
    ``starts_at`` / ``ends_at``: its schedule (aware datetimes, stored in UTC; None: no start,
    no end); the end after the start. The goal and the holdout: ``_clean_goal``."""
    if segments is None:
        segments = [application.everyone]
    fields = _collect(
        {
            "name": lambda: _clean_name(application, name, None),
            "content": lambda: clean_content(kind, content),
            "translations": lambda: _clean_translations(
                application, kind, content, translations or {}
            ),
            "segments": lambda: _clean_segments(application, segments),
            "url_include": lambda: clean_url_patterns(url_include, "url_include"),
            "url_exclude": lambda: clean_url_patterns(url_exclude, "url_exclude"),
            "frequency": lambda: _clean_frequency(frequency),
            "priority": lambda: _clean_priority(priority),
            "schedule": lambda: _clean_schedule(starts_at, ends_at),
            "goal": lambda: _clean_goal(
                kind=goal_kind,
                event=goal_event,
                url=goal_url,
                window=conversion_window_days,
                holdout=holdout_percent,
            ),
        }
    )
    experience = _apply(Experience(application=application, kind=kind), fields)
    audit.record(application=application, action="experience.created", obj=experience)
    return experience


@transaction.atomic
def experience_update(
    *,
    experience: Experience,
    name: str | None = None,
    content: Any = None,
    segments: Iterable[Any] | None = None,
    url_include: Any = None,
    url_exclude: Any = None,
    frequency: str | None = None,
    priority: Any = None,
    starts_at: datetime | None = UNCHANGED,
    ends_at: datetime | None = UNCHANGED,
    holdout_percent: Any = None,
    goal_kind: str | None = None,
    goal_event: str | None = None,
    goal_url: str | None = None,
    conversion_window_days: Any = None,
    translations: Any = None,
    version: int | None = None,
) -> Experience:
    """Change what is given (None keeps a field; but ``starts_at`` / ``ends_at`` None removes
    the start / end, and leaving them out keeps them). The kind is fixed at creation: the
    content of one kind means nothing to another. A published experience stays published,
    and the new version is served at once. The end must come after the start, stored or
    given. ``version``: the version the change was made on (the editor's); when a newer one
    was saved since, ``versions.StaleVersion`` and nothing is written (None: no check)."""
    versions.check_current(experience, version)
    application = experience.application
    checks = {
        "name": name is not None and (lambda: _clean_name(application, name, experience)),
        "content": content is not None and (lambda: clean_content(experience.kind, content)),
        # Checked against the content as it will be: given, or stored.
        "translations": translations is not None
        and (
            lambda: _clean_translations(
                application,
                experience.kind,
                experience.content if content is None else content,
                translations,
            )
        ),
        "segments": segments is not None and (lambda: _clean_segments(application, segments)),
        "url_include": url_include is not None
        and (lambda: clean_url_patterns(url_include, "url_include")),
        "url_exclude": url_exclude is not None
        and (lambda: clean_url_patterns(url_exclude, "url_exclude")),
        "frequency": frequency is not None and (lambda: _clean_frequency(frequency)),
        "priority": priority is not None and (lambda: _clean_priority(priority)),
        "schedule": (starts_at is not UNCHANGED or ends_at is not UNCHANGED)
        and (
            lambda: _clean_schedule(
                experience.starts_at if starts_at is UNCHANGED else starts_at,
                experience.ends_at if ends_at is UNCHANGED else ends_at,
            )
        ),
        "goal": any(
            v is not None
            for v in (holdout_percent, goal_kind, goal_event, goal_url, conversion_window_days)
        )
        and (
            lambda: _clean_goal(
                kind=experience.goal_kind if goal_kind is None else goal_kind,
                event=experience.goal_event if goal_event is None else goal_event,
                url=experience.goal_url if goal_url is None else goal_url,
                window=experience.conversion_window_days
                if conversion_window_days is None
                else conversion_window_days,
                holdout=experience.holdout_percent if holdout_percent is None else holdout_percent,
            )
        ),
    }
    fields = _collect({field: check for field, check in checks.items() if check})
    _apply(experience, fields)
    audit.record(application=application, action="experience.updated", obj=experience)
    return experience


def publish_problems(experience: Experience) -> dict[str, list[str]]:
    """What stops an experience from being served as stored (content written by other paths
    than the actions, segments deleted since): empty when it can be published."""
    try:
        _collect(
            {
                "content": lambda: clean_content(experience.kind, experience.content),
                "url_include": lambda: clean_url_patterns(experience.url_include, "url_include"),
                "url_exclude": lambda: clean_url_patterns(experience.url_exclude, "url_exclude"),
            }
        )
    except ValidationError as error:
        return error.message_dict
    return {}


@transaction.atomic
def experience_publish(*, experience: Experience, allow_empty_audience: bool = False) -> Experience:
    """Serve it from now on. An audience that matches nobody today is refused unless
    ``allow_empty_audience`` (the UI asks first): it is almost always a mistake."""
    problems = publish_problems(experience)
    if problems:
        raise ValidationError(problems)
    if not allow_empty_audience and not audience(experience).exists():
        raise EmptyAudience(
            {"segments": ["Nobody is in this audience: its segments match no user today."]}
        )
    if experience.status != Experience.Status.PUBLISHED:
        experience.status = Experience.Status.PUBLISHED
        experience.published_at = timezone.now()
        experience.save(update_fields=["status", "published_at", "updated_at"])
        versions.record(experience)
        audit.record(
            application=experience.application, action="experience.published", obj=experience
        )
    return experience


@transaction.atomic
def experience_unpublish(*, experience: Experience) -> Experience:
    """Back to draft: never served again until published."""
    if experience.status != Experience.Status.DRAFT:
        experience.status = Experience.Status.DRAFT
        experience.save(update_fields=["status", "updated_at"])
        versions.record(experience)
        audit.record(
            application=experience.application, action="experience.unpublished", obj=experience
        )
    return experience


def experience_users(experience: Experience) -> list[Segment]:
    """The segments whose rules name this experience ("has completed ..."), by name."""
    return list(
        Segment.objects.filter(experience_rules__experience=experience).distinct().order_by("name")
    )


@transaction.atomic
def experience_delete(*, experience: Experience) -> None:
    """Deletes its events too (they mean nothing without it). Refused (``ExperienceInUse``,
    code "in_use") while a segment's rule names it: the database holds that too (RESTRICT)."""
    segments = experience_users(experience)
    if segments:
        raise ExperienceInUse(experience, segments)
    audit.record(application=experience.application, action="experience.deleted", obj=experience)
    try:
        with transaction.atomic():
            experience.delete()
    except RestrictedError:  # a segment took a rule on it since the check above
        raise ExperienceInUse(experience, experience_users(experience)) from None


# --- Events ------------------------------------------------------------------------------


def event_record(
    *,
    application_id: int,
    end_user_id: int,
    experience_id: int,
    type: str,
    step: int | None = None,
    activity: Mapping[str, Any] | None = None,
) -> Event:
    """What the snippet reports (``/api/v1/events``). Ids rather than objects: the API knows
    them from its one lookup, and a serve-rate write should not fetch rows to refer to them.

    The first shown, dismissed and completed of each experience also go into the user's
    activity summary (segments/activity.py), which the serve and the experience rules read,
    and so do the latest shown and the session (what delivery's caps count), to the minute.
    ``activity``: the summary as the caller read it; when it has this state already (the
    common case) the event is one INSERT, atomic by itself, with no transaction around it."""
    if type not in Event.Type.values:
        raise ValidationError({"type": [f"type must be one of {', '.join(Event.Type.values)}."]})
    if step is not None and (isinstance(step, bool) or not 0 <= step <= MAX_STEP):
        raise ValidationError({"step": [f"step must be a whole number from 0 to {MAX_STEP}."]})
    if type == Event.Type.STEP and step is None:
        raise ValidationError({"step": ["A step event needs step (the 0-based step index)."]})
    known = activity is not None and type in experience_states(activity, experience_id)
    if known and type == Event.Type.SHOWN:
        # Delivery's caps count the latest shown time and the session (docs/experiences.md):
        # written again when more than a minute newer than the stored one.
        known = not shown_is_stale(activity, experience_id, now_seconds())
    try:
        if known or type not in EXPERIENCE_STATES:
            return _event_create(application_id, end_user_id, experience_id, type, step)
        with transaction.atomic():
            event = _event_create(application_id, end_user_id, experience_id, type, step)
            # Under the row lock: two first events of one user cannot lose each other's state.
            user = (
                EndUser.objects.select_for_update(no_key=True)
                .filter(pk=end_user_id)
                .only("activity")
            )
            for found in user:  # none: the user was deleted a moment ago (the INSERT fails)
                summary = found.activity if isinstance(found.activity, dict) else {}
                record_experience(summary, experience_id, type, event.created_at.timestamp())
                EndUser.objects.filter(pk=end_user_id).update(activity=summary)
            return event
    except IntegrityError:  # the experience (or the user) was deleted a moment ago
        message = f"No experience {experience_id} here."
        raise ValidationError({"experience": [message]}) from None


def _event_create(
    application_id: int, end_user_id: int, experience_id: int, type: str, step: int | None
) -> Event:
    return Event.objects.create(
        application_id=application_id,
        end_user_id=end_user_id,
        experience_id=experience_id,
        type=type,
        step=step,
    )


# --- Goals and holdouts ------------------------------------------------------------------


def exposures_record(
    *,
    application_id: int,
    end_user_id: int,
    exposures: Iterable[tuple[int, str]] = (),
    conversions: Iterable[int] = (),
    when: datetime | None = None,
) -> None:
    """What a serve found for goals and holdouts (``serving.Measures``): the user's first
    exposures to measured experiences ((experience id, group), one INSERT ... ON CONFLICT DO
    NOTHING: a concurrent serve may have written them), page goals reached (one UPDATE of
    the open exposures), and both noted in the user's activity summary under its row lock,
    so that the next serves write nothing. Called only when there is something to record:
    once per user and measured experience, and once per page-goal conversion."""
    exposures, conversions = list(exposures), list(conversions)
    if not exposures and not conversions:
        return
    moment = when or timezone.now()
    seconds = moment.timestamp()
    with transaction.atomic():
        postgresql = connection.vendor == "postgresql"
        if postgresql and not settings.CALLOUT_EXPOSURES_DURABLE:
            with connection.cursor() as cursor:  # settings.CALLOUT_EXPOSURES_DURABLE
                cursor.execute("SET LOCAL synchronous_commit = off")
        if exposures:
            Exposure.objects.bulk_create(
                [
                    Exposure(
                        application_id=application_id,
                        experience_id=experience_id,
                        end_user_id=end_user_id,
                        group=group,
                        eligible_at=moment,
                    )
                    for experience_id, group in exposures
                ],
                ignore_conflicts=True,
            )
        if conversions:
            Exposure.objects.filter(
                experience_id__in=conversions, end_user_id=end_user_id, converted_at__isnull=True
            ).update(converted_at=moment)
        if postgresql and not conversions:
            # The note merged in place: one statement, no row lock to take first.
            note = {str(experience_id): [seconds, None] for experience_id, _ in exposures}
            with connection.cursor() as cursor:
                cursor.execute(
                    _NOTE_EXPOSURES.format(connection.ops.quote_name(EndUser._meta.db_table)),
                    [json.dumps(note), end_user_id],
                )
            return
        user = EndUser.objects.select_for_update(no_key=True).filter(pk=end_user_id)
        for found in user.only("activity"):  # none: deleted a moment ago
            summary = found.activity if isinstance(found.activity, dict) else {}
            for experience_id, _ in exposures:
                record_exposure(summary, experience_id, seconds)
            for experience_id in conversions:
                record_exposure(summary, experience_id, seconds, converted=seconds)
            EndUser.objects.filter(pk=end_user_id).update(activity=summary)


# The user's activity summary with first exposures noted (segments/activity.py EXPOSURES), on
# PostgreSQL: merged into "g" (a summary or "g" that is not an object starts afresh).
_NOTE_EXPOSURES = """
    UPDATE {} SET activity = jsonb_set(
        CASE WHEN jsonb_typeof(activity) = 'object' THEN activity ELSE '{{}}'::jsonb END,
        '{{g}}',
        CASE WHEN jsonb_typeof(activity -> 'g') = 'object' THEN activity -> 'g'
             ELSE '{{}}'::jsonb END || %s::jsonb)
    WHERE id = %s"""
