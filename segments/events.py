"""Every write to an application's event names (``EventDefinition``): a manager's add, edit and
delete on the Events page and in the admin, and the limit that tracking's auto-discovery
shares.

Keyword-only, atomic and validated, as ``segments/actions.py``: errors are ``ValidationError``
keyed by field (``name``, ``description``). A name is what the app sends (``/api/v1/track``):
case-sensitive and never renamed; its raw events and the users' activity are not touched here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit
from .actions import application_lock, unique_or_field_error
from .behaviour import clean_event_name
from .models import Application, EventDefinition, EventRule, Segment
from .operators import RuleError

MAX_DESCRIPTION = 2000


def event_names_over_limit(*, application: Application, names: Iterable[str]) -> list[str]:
    """Of these new event names, in order, the ones that would take the application past
    ``settings.CALLOUT_MAX_EVENT_NAMES``. Call it in the transaction that creates the
    definitions: it locks the application's row, so parallel additions count in turn."""
    names = list(names)
    if not names:
        return []
    application_lock(application)
    room = settings.CALLOUT_MAX_EVENT_NAMES - application.event_definitions.count()
    return names[max(room, 0) :]


def event_limit_message(name: str) -> str:
    limit = settings.CALLOUT_MAX_EVENT_NAMES
    return (
        f"Event {name!r} is new, and an application can have at most {limit:,} event names: "
        "send a name it already has, or delete unused ones on the Events page."
    )


def _clean_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            {"description": [f"Keep the description under {MAX_DESCRIPTION:,} characters."]}
        )
    return description


def _taken(name: str) -> str:
    return f'An event named "{name}" already exists.'


@transaction.atomic
def event_definition_create(
    *,
    application: Application,
    name: str,
    description: str = "",
    auto_discovered: bool = False,
) -> EventDefinition:
    """A name added by hand (``auto_discovered=False``): before the app sends it, so that rules
    and descriptions can be written ahead of the release that tracks it."""
    name = name.strip() if isinstance(name, str) else name
    try:
        name = clean_event_name(name)
    except RuleError as error:
        message = str(error)
        raise ValidationError({"name": [f"{message[:1].upper()}{message[1:]}."]}) from None
    description = _clean_description(description)
    # Names are case-sensitive, exactly as the app sends them: "Signup" is another event
    # than "signup", as it is in a rule.
    if application.event_definitions.filter(name=name).exists():
        raise ValidationError({"name": [_taken(name)]})
    if event_names_over_limit(application=application, names=[name]):
        raise ValidationError({"name": [event_limit_message(name)]})
    with unique_or_field_error("name", _taken(name)):  # a parallel add, or the first /track
        event = EventDefinition.objects.create(
            application=application,
            name=name,
            description=description,
            auto_discovered=auto_discovered,
        )
    audit.record(application=application, action="event.created", obj=event)
    return event


@transaction.atomic
def event_definition_update(*, event: EventDefinition, description: str) -> EventDefinition:
    """The description is all a manager changes: the name is what the app sends."""
    event.description = _clean_description(description)
    event.save(update_fields=["description", "updated_at"])
    audit.record(application=event.application, action="event.updated", obj=event)
    return event


def segments_using_event(*, application: Application, name: str) -> list[Segment]:
    """The segments whose rules name the event (rules hold names as plain text)."""
    used = EventRule.objects.filter(segment__application=application, event=name)
    return list(Segment.objects.filter(pk__in=used.values("segment_id")).order_by("name"))


@transaction.atomic
def event_definition_delete(*, event: EventDefinition) -> None:
    """Refused while a segment's rule names the event. Its recorded events stay (for the
    users' history and retention); should the app send the name again, it comes back as
    auto-discovered."""
    # Segment saves lock the application's row (actions._lock): a segment saved meanwhile
    # with a rule on this name waits, then finds it gone and lint warns about it.
    application_lock(event.application)
    using = segments_using_event(application=event.application, name=event.name)
    if using:
        names = ", ".join(f'"{segment.name}"' for segment in using)
        raise ValidationError(f'Event "{event.name}" is used by the rules of {names}.')
    audit.record(application=event.application, action="event.deleted", obj=event)
    event.delete()
