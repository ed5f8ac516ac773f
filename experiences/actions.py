"""Every write to experiences goes through here (the UI, the admin and seed_demo alike).

Keyword-only, atomic and validated, as ``segments/actions.py``: errors are a
``ValidationError`` keyed by field (``name``, ``segments``, ``url_include``,
``content.steps.1.selector``), all of them at once, so a form can show each next to its field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError
from django.utils import timezone

from segments import audit
from segments.actions import clean_unique_name, unique_or_field_error
from segments.activity import (
    EXPERIENCE_STATES,
    experience_states,
    record_experience,
    shown_is_stale,
)
from segments.coerce import now_seconds
from segments.models import Application, EndUser, Segment

from .content import clean_content, clean_url_patterns
from .models import Event, Experience
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
    for field, value in fields.items():
        setattr(experience, field, value)
    taken = f'An experience named "{experience.name}" already exists.'
    with unique_or_field_error("name", taken):  # a concurrent save with the same name
        experience.save()
    if segments is not None:
        experience.segments.set(segments)
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
) -> Experience:
    """A new draft. ``segments`` None means Everyone; an empty list means nobody.
    ``starts_at`` / ``ends_at``: its schedule (aware datetimes, stored in UTC; None: no start,
    no end); the end after the start."""
    if segments is None:
        segments = [application.everyone]
    fields = _collect(
        {
            "name": lambda: _clean_name(application, name, None),
            "content": lambda: clean_content(kind, content),
            "segments": lambda: _clean_segments(application, segments),
            "url_include": lambda: clean_url_patterns(url_include, "url_include"),
            "url_exclude": lambda: clean_url_patterns(url_exclude, "url_exclude"),
            "frequency": lambda: _clean_frequency(frequency),
            "priority": lambda: _clean_priority(priority),
            "schedule": lambda: _clean_schedule(starts_at, ends_at),
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
) -> Experience:
    """Change what is given (None keeps a field; but ``starts_at`` / ``ends_at`` None removes
    the start / end, and leaving them out keeps them). The kind is fixed at creation: the
    content of one kind means nothing to another. A published experience stays published,
    and the new version is served at once. The end must come after the start, stored or
    given."""
    application = experience.application
    checks = {
        "name": name is not None and (lambda: _clean_name(application, name, experience)),
        "content": content is not None and (lambda: clean_content(experience.kind, content)),
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
