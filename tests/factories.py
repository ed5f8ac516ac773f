from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from experiences.models import Event, Experience
from segments.models import (
    MAX_BANNERS_PER_EDGE,
    Application,
    Company,
    EndUser,
    EventDefinition,
    Membership,
    Rule,
    Segment,
    TrackedEvent,
    TraitDefinition,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"manager{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery")


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"App {n}")
    # ExperienceFactory makes top banners: tests about other things serve several together.
    # Delivery's tests (tests/experiences/test_delivery.py) set the limit they test.
    max_banners_per_edge = MAX_BANNERS_PER_EDGE


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    application = factory.SubFactory(ApplicationFactory)
    role = Membership.Role.EDITOR


class TraitDefinitionFactory(factory.django.DjangoModelFactory):
    """A user trait; ``scope="company"`` for a company trait (the same key may be both)."""

    class Meta:
        model = TraitDefinition
        django_get_or_create = ("application", "scope", "key")

    application = factory.SubFactory(ApplicationFactory)
    scope = TraitDefinition.Scope.USER
    key = factory.Sequence(lambda n: f"trait{n}")
    type = "string"


class CompanyTraitFactory(TraitDefinitionFactory):
    scope = TraitDefinition.Scope.COMPANY


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("application", "external_id")

    application = factory.SubFactory(ApplicationFactory)
    external_id = factory.Sequence(lambda n: f"company-{n}")
    traits = factory.LazyFunction(dict)


class EndUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EndUser

    application = factory.SubFactory(ApplicationFactory)
    external_id = factory.Sequence(lambda n: f"user-{n}")
    traits = factory.LazyFunction(dict)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    application = factory.SubFactory(ApplicationFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    segment = factory.SubFactory(SegmentFactory)
    trait = factory.SubFactory(
        TraitDefinitionFactory, application=factory.SelfAttribute("..segment.application")
    )
    operator = "is_set"
    value = None


class ExperienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experience

    application = factory.SubFactory(ApplicationFactory)
    name = factory.Sequence(lambda n: f"Experience {n}")
    kind = Experience.Kind.BANNER
    content = factory.LazyFunction(lambda: {"text": "Hello"})


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    experience = factory.SubFactory(ExperienceFactory)
    application = factory.SelfAttribute("experience.application")
    end_user = factory.SubFactory(
        EndUserFactory, application=factory.SelfAttribute("..application")
    )
    type = Event.Type.SHOWN

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Event:
        """Through the action, as the snippet's events are: the user's activity summary
        (what frequency and experience rules read) records it too."""
        from experiences.actions import event_record

        return event_record(
            application_id=kwargs["application"].pk,
            end_user_id=kwargs["end_user"].pk,
            experience_id=kwargs["experience"].pk,
            type=kwargs["type"],
            step=kwargs.get("step", 0 if kwargs["type"] == Event.Type.STEP else None),
        )


class EventDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventDefinition
        django_get_or_create = ("application", "name")

    application = factory.SubFactory(ApplicationFactory)
    name = factory.Sequence(lambda n: f"event_{n}")


class TrackedEventFactory(factory.django.DjangoModelFactory):
    """A raw event; give ``timestamp`` (an aware datetime) to place it in time."""

    class Meta:
        model = TrackedEvent

    end_user = factory.SubFactory(EndUserFactory)
    application = factory.SelfAttribute("end_user.application")
    name = "project_created"
    timestamp = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> TrackedEvent:
        """The raw row, and what tracking writes with it: the user's summary and the day's
        counts (segments/rollup.py)."""
        from segments.activity import event_names, record_events
        from segments.rollup import Rollup, rollup_add, user_shard

        event = super()._create(model_class, *args, **kwargs)
        user = EndUser.objects.get(pk=event.end_user_id)
        done = [(event.name, event.timestamp.timestamp())]
        rollup = Rollup()
        rollup.add_user(event_names(user.activity), done)
        user.activity = record_events(user.activity, done, user.application.events_kept)
        user.save(update_fields=["activity"])
        shard = user_shard(event.end_user_id)
        rollup_add(application_id=event.application_id, rollup=rollup, shard=shard)
        return event


class PublishedExperienceFactory(ExperienceFactory):
    """A published experience; ``segments=[...]`` sets its audience."""

    class Meta:
        skip_postgeneration_save = True

    status = Experience.Status.PUBLISHED

    @factory.post_generation
    def segments(self, create, extracted, **kwargs):
        if create and extracted:
            self.segments.set(extracted)


def segment_with_rules(application, name, *rules):
    """A segment whose rules are (trait key, type, operator, value) tuples."""
    segment = SegmentFactory(application=application, name=name)
    for position, (key, type_, operator, value) in enumerate(rules):
        trait = TraitDefinitionFactory(application=application, key=key, type=type_)
        RuleFactory(segment=segment, trait=trait, operator=operator, value=value, position=position)
    return segment


# --- Experiences: one valid content per kind (docs/experiences.md) -------------------------

CONTENT_BY_KIND = {
    Experience.Kind.BANNER: {"text": "Hello", "position": "top", "style": "info"},
    Experience.Kind.TOOLTIP: {"selector": "#save", "body": "Saves it.", "placement": "bottom"},
    Experience.Kind.TOUR: {
        "steps": [
            {"type": "modal", "title": "Welcome"},
            {"type": "tooltip", "selector": "#new", "title": "New", "placement": "right"},
        ]
    },
    Experience.Kind.CHECKLIST: {
        "title": "Get set up",
        "items": [{"id": "invite", "label": "Invite a teammate", "complete_on": "click"}],
    },
}


class TourFactory(ExperienceFactory):
    kind = Experience.Kind.TOUR
    content = factory.LazyFunction(lambda: dict(CONTENT_BY_KIND[Experience.Kind.TOUR]))


class ChecklistFactory(ExperienceFactory):
    kind = Experience.Kind.CHECKLIST
    content = factory.LazyFunction(lambda: dict(CONTENT_BY_KIND[Experience.Kind.CHECKLIST]))


class TooltipFactory(ExperienceFactory):
    kind = Experience.Kind.TOOLTIP
    content = factory.LazyFunction(lambda: dict(CONTENT_BY_KIND[Experience.Kind.TOOLTIP]))


def saved_segment(application, name, rules, **kwargs):
    """A segment through the real write path (actions.segment_create); rules are
    (trait key, operator, value[, match case]) and name existing trait definitions."""
    from segments import actions

    return actions.segment_create(
        application=application,
        name=name,
        rules=[
            {
                "trait": r[0],
                "operator": r[1],
                "value": r[2],
                "case_sensitive": r[3] if len(r) > 3 else False,
            }
            for r in rules
        ],
        **kwargs,
    )
