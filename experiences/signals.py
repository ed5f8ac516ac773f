"""Invalidate an application's cached targeting whenever anything it is compiled from changes.

Signals rather than calls in each action, so that every path (actions, UI, admin, shell) is
covered. Bulk writes send no signal: ``segments.actions`` bulk-creates rules only right after
saving their segment (which invalidates), and the API invalidates after it auto-discovers
traits.

The version is a row in the database, bumped in the edit's own transaction: this connection
sees the new version at once (the next read in this transaction, or a test), every other
process with the commit. It is bumped once more on commit, because a read inside the
transaction between two steps of one edit (a segment saved, its rules not yet re-created) may
have cached a half-made state under the version current at that moment.
"""

from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from segments.models import (
    Application,
    Rule,
    RuleGroup,
    Segment,
    SegmentCondition,
    TraitDefinition,
)

from . import targeting
from .models import Experience


def invalidate(application_id: int | None) -> None:
    if application_id is None:
        return
    targeting.invalidate(application_id)
    transaction.on_commit(lambda: targeting.invalidate(application_id))


def _owned_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Segment, TraitDefinition, Experience: they carry their application_id."""
    invalidate(instance.application_id)


def _rule_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A node of a segment's tree: a Rule, a RuleGroup or a SegmentCondition."""
    if type(instance)._meta.get_field("segment").is_cached(instance):
        application_id = instance.segment.application_id
    else:
        application_id = (
            Segment.objects.filter(pk=instance.segment_id)
            .values_list("application_id", flat=True)
            .first()
        )
    # None: the segment is gone too, and its own post_delete invalidated.
    invalidate(application_id)


def _experience_segments_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    # instance is an Experience (experience.segments.set) or a Segment (segment.experiences.add).
    if action.startswith("post_"):
        invalidate(instance.application_id)


def _application_saved(sender: Any, instance: Application, **kwargs: Any) -> None:
    # An upsert: a new application gets its first version row (it exists now, so the row can
    # refer to it), a saved one a new version. The row goes with the application (CASCADE): a
    # deleted application, or a rotated key, is unknown to the query that looks keys up.
    targeting.create_version(instance.pk)
    application_id = instance.pk
    transaction.on_commit(lambda: targeting.invalidate(application_id))


def connect() -> None:
    for model in (Segment, TraitDefinition, Experience):
        uid = f"experiences.targeting.{model.__name__}"
        post_save.connect(_owned_changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(_owned_changed, sender=model, dispatch_uid=uid + ".delete")
    for model in (Rule, RuleGroup, SegmentCondition):
        uid = f"experiences.targeting.{model.__name__}"
        post_save.connect(_rule_changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(_rule_changed, sender=model, dispatch_uid=uid + ".delete")
    m2m_changed.connect(
        _experience_segments_changed,
        sender=Experience.segments.through,
        dispatch_uid="experiences.targeting.Experience.segments",
    )
    post_save.connect(
        _application_saved, sender=Application, dispatch_uid="experiences.targeting.App.save"
    )
