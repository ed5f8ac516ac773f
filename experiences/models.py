from django.db import models
from django.db.models.functions import Lower

from segments.models import Application, EndUser, Segment, Version

MAX_HOLDOUT_PERCENT = 50
MAX_WINDOW_DAYS = 90


class GoalKind(models.TextChoices):
    NONE = "none", "No goal"
    COMPLETED = "completed", "Experience completed"
    EVENT = "event", "Event tracked"
    PAGE = "page", "Page visited"


class Experience(models.Model):
    """A tour, checklist, tooltip or banner: who sees it (segments, OR'd), where, how often."""

    GoalKind = GoalKind

    class Kind(models.TextChoices):
        TOUR = "tour", "Tour"
        CHECKLIST = "checklist", "Checklist"
        TOOLTIP = "tooltip", "Tooltip"
        BANNER = "banner", "Banner"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Frequency(models.TextChoices):
        ONCE = "once", "Once (until dismissed or completed)"
        UNTIL_COMPLETED = "until_completed", "Until completed"
        EVERY_TIME = "every_time", "Every time"

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="experiences"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # OR'd: a user in any of them is in the audience.
    segments = models.ManyToManyField(Segment, related_name="experiences", blank=True)
    # The kind's content (docs/experiences.md): text, steps, items...
    content = models.JSONField(default=dict, blank=True)
    # Per other language of the application, its texts by field path: {"pt": {"text": ...}}
    # (experiences/languages.py); a text left out is shown in the default language.
    translations = models.JSONField(default=dict, blank=True)
    # URL patterns (docs/api.md): no include pattern means every page; exclude wins.
    url_include = models.JSONField(default=list, blank=True)
    url_exclude = models.JSONField(default=list, blank=True)
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.ONCE)
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # The schedule (docs/experiences.md, Schedules), in UTC: served from starts_at included
    # until ends_at excluded; None: no start (served once published) or no end.
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # Goals and holdouts (docs/experiences.md): the share of its eligible users never served it
    # (experiences/holdout.py), and what counts as a conversion within the window.
    holdout_percent = models.PositiveSmallIntegerField(default=0)
    goal_kind = models.CharField(max_length=10, choices=GoalKind.choices, default=GoalKind.NONE)
    goal_event = models.CharField(max_length=128, blank=True, default="")  # goal_kind "event"
    goal_url = models.CharField(max_length=500, blank=True, default="")  # goal_kind "page"
    conversion_window_days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            # Ignoring case, as experiences.actions checks it: see segments.models.Segment.
            models.UniqueConstraint("application", Lower("name"), name="one_experience_name_ci"),
            # As experiences.actions checks it (a field error on ends_at).
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="experience_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(holdout_percent__lte=MAX_HOLDOUT_PERCENT),
                name="experience_holdout_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(conversion_window_days__gte=1)
                & models.Q(conversion_window_days__lte=MAX_WINDOW_DAYS),
                name="experience_conversion_window_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExperienceVersion(Version):
    """A saved state of an experience (experiences/versions.py has its keys)."""

    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="versions")

    class Meta(Version.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["experience", "number"], name="one_experience_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.experience} v{self.number}"


class Event(models.Model):
    """What the snippet reports back: shown, step, dismissed, completed."""

    class Type(models.TextChoices):
        SHOWN = "shown", "Shown"
        STEP = "step", "Step"
        DISMISSED = "dismissed", "Dismissed"
        COMPLETED = "completed", "Completed"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    end_user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="events")
    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=10, choices=Type.choices)
    step = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["end_user", "experience"], name="event_user_experience"),
            # A serve reads a user's dismissed/completed events (frequency) in its one query:
            # only those rows, however many "shown" and "step" events the user piles up.
            models.Index(
                fields=["end_user", "experience", "type"],
                condition=models.Q(type__in=["dismissed", "completed"]),
                name="event_user_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.experience} by {self.end_user}"


class Exposure(models.Model):
    """A user eligible for a measured experience (one with a goal or a holdout), written by the
    serve the first time the user would have been served it, in either group: what results
    count (experiences/results.py). ``converted_at``: a page-visit goal's conversion, written by
    the serve (other goals are read from the events when results are computed)."""

    class Group(models.TextChoices):
        TREATMENT = "treatment", "Treatment"
        HOLDOUT = "holdout", "Holdout"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    experience = models.ForeignKey(Experience, on_delete=models.CASCADE, related_name="exposures")
    end_user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="exposures")
    group = models.CharField(max_length=10, choices=Group.choices)
    eligible_at = models.DateTimeField()
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experience", "end_user"], name="one_exposure_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.end_user} {self.group} of {self.experience}"


class TargetingVersion(models.Model):
    """Which compiled targeting of an application is current.

    In the database, not in the cache: every process (and every cache backend, local memory
    included) then agrees on it, and a bump made inside an edit's transaction becomes visible
    to other processes exactly when the edit does. ``experiences/signals.py`` bumps it on every
    change; a serve reads it with the application, in the query that finds the public key.
    """

    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, primary_key=True, related_name="targeting_version"
    )
    # A random token rather than a counter: a cache entry left by a rolled-back transaction or a
    # re-used id can never be mistaken for the current one.
    version = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"{self.application_id}: {self.version}"
