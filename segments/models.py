from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.utils import timezone

from . import coerce, operators, tree
from .activity import DEFAULT_KEPT
from .codegen import CompiledSegment, compile_tree
from .evaluator import Condition
from .sql import conditions_q, tree_q

EVERYONE = "Everyone"
MAX_BANNERS_PER_EDGE = 5
MAX_CAP = 1000
MAX_AUDIT_RETENTION_DAYS = 3650


def generate_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def generate_secret_key() -> str:
    return "sk_" + secrets.token_urlsafe(30)


def default_languages() -> list[str]:
    return ["en"]


class Application(models.Model):
    """A customer's app. Every other object belongs to exactly one application."""

    name = models.CharField(max_length=100)
    public_key = models.CharField(max_length=64, unique=True, default=generate_public_key)
    secret_key = models.CharField(max_length=64, unique=True, default=generate_secret_key)
    require_user_hash = models.BooleanField(
        default=False, help_text="Refuse identify calls without a valid HMAC user_hash."
    )
    # How many latest times per user and event name the activity summary keeps: one more than
    # the largest count any rule uses (segments/activity.py); raised, with a rebuild, by a save
    # that needs more.
    events_kept = models.PositiveSmallIntegerField(default=DEFAULT_KEPT, editable=False)
    # Delivery (docs/experiences.md, "Delivery"): how many banners one edge of a page stacks,
    # and the caps on experiences started per user (None: no cap), counted by the serve from
    # the activity summary.
    max_banners_per_edge = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_BANNERS_PER_EDGE)],
        help_text="Banners shown together at the top (and at the bottom) of a page.",
    )
    cap_per_day = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAP)],
        help_text="Experiences started per user in 24 hours; empty for no cap.",
    )
    cap_per_session = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAP)],
        help_text="Experiences started per user in one session; empty for no cap.",
    )
    # The snippet's look (segments/themes.py): only what differs from the defaults.
    theme = models.JSONField(default=dict, blank=True)
    # The application-wide holdout (docs/experiences.md, "Goals, holdouts"): this share of all
    # users is served no experience at all, to measure the whole onboarding programme.
    holdout_percent = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(50)],
        help_text="Percent of all users never served any experience (0 to 50).",
    )
    # The audit log keeps this many days (manage.py prune_audit, run daily, deletes older).
    audit_retention_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_AUDIT_RETENTION_DAYS)],
        help_text="Days the audit log keeps its entries.",
    )
    # Languages (docs/experiences.md, "Languages"): the BCP 47 tags experiences are written in,
    # the first the default (the language of each experience's content).
    languages = models.JSONField(default=default_languages, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="applications"
    )

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holdout_percent__lte=50), name="application_holdout_range"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The built-in Everyone segment exists from the moment the application does, whichever
        # path created it (action, admin, factory).
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                Segment.objects.create(
                    application=self,
                    name=EVERYONE,
                    is_builtin=True,
                    description="Every identified user.",
                )

    @property
    def everyone(self) -> Segment:
        return self.segments.get(is_builtin=True)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="one_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.application} ({self.role})"


def invite_digest(token: str) -> str:
    """SHA-256 of an invite token: the token is 256 random bits, so a fast hash hides it as
    well as a slow one would, and the link's lookup is one probe of a unique index."""
    return hashlib.sha256(token.encode()).hexdigest()


class InviteQuerySet(models.QuerySet["Invite"]):
    def pending(self, now: datetime | None = None) -> InviteQuerySet:
        """Neither accepted nor revoked, and not expired."""
        now = now or timezone.now()
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)


class Invite(models.Model):
    """A one-time link that makes whoever it names (an e-mail address or a username) a member
    of the application at ``role``. Only the token's digest is stored: the link is shown once,
    to the owner who made it, to hand over (there is no outgoing mail)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(blank=True)
    username = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invites_sent",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invites_accepted",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Exactly one of the two names the invitee.
            models.CheckConstraint(
                condition=(Q(email="") & ~Q(username="")) | (~Q(email="") & Q(username="")),
                name="invite_email_or_username",
            )
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.application} ({self.role})"

    @property
    def invitee(self) -> str:
        return self.email or self.username


class TraitQuerySet(models.QuerySet["TraitDefinition"]):
    def users(self) -> TraitQuerySet:
        return self.filter(scope=TraitDefinition.Scope.USER)

    def companies(self) -> TraitQuerySet:
        return self.filter(scope=TraitDefinition.Scope.COMPANY)


class TraitDefinition(models.Model):
    """A trait key of an application's users, or of its companies (``scope``): its type,
    label and description. A key may be both a user trait and a company trait ("plan")."""

    class Scope(models.TextChoices):
        USER = "user", "User"
        COMPANY = "company", "Company"

    class Type(models.TextChoices):
        STRING = coerce.STRING, "Text"
        NUMBER = coerce.NUMBER, "Number"
        BOOLEAN = coerce.BOOLEAN, "True / false"
        DATE = coerce.DATE, "Date"

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="trait_definitions"
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.USER)
    key = models.CharField(max_length=128)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.STRING)
    label = models.CharField(max_length=128, blank=True)
    description = models.TextField(blank=True)
    auto_discovered = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TraitQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "scope", "key"], name="one_trait_per_scope_key"
            )
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def display_name(self) -> str:
        return self.label or self.key


class Company(models.Model):
    """An account of the customer's app (a team, an organisation) that users belong to, with
    traits of its own, merged as a user's are (segments/merge.py)."""

    # No index of its own: the unique (application, external_id) index leads with it.
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="companies", db_index=False
    )
    external_id = models.CharField(max_length=255)
    # Database defaults too: identify and the imports insert companies in raw SQL.
    traits = models.JSONField(
        default=dict, blank=True, db_default=Value({}, output_field=models.JSONField())
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        verbose_name_plural = "companies"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "external_id"], name="one_company_per_id"
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class EndUser(models.Model):
    """An identified user of the customer's app; traits is a JSON object of scalars."""

    # No index of its own: the unique (application, external_id) index leads with it, and a
    # second one only tempts the planner into scanning an application's users (docs/scale.md).
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="end_users", db_index=False
    )
    external_id = models.CharField(max_length=255)
    traits = models.JSONField(default=dict, blank=True)
    # What the user did and saw, summarised for the rules (segments/activity.py). A database
    # default too: identify and the imports insert users in raw SQL.
    activity = models.JSONField(
        default=dict, blank=True, db_default=Value({}, output_field=models.JSONField())
    )
    # One company at a time (None: none). Its index serves "the users of a company" (the
    # company page, ``company_users`` rules).
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "external_id"], name="one_end_user_per_id"
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class Match(models.TextChoices):
    ALL = tree.ALL, "all"
    ANY = tree.ANY, "any"
    NONE = tree.NONE, "none"


class Segment(models.Model):
    """A named group of users: a tree of rules (segments/tree.py), stored as rows so that the
    database keeps its promises: a trait that a rule uses and a segment that another segment
    references cannot be deleted under them (RESTRICT). ``match`` is the top group's;
    ``Rule``, ``RuleGroup`` and ``SegmentCondition`` are its nodes, each with its group (None:
    the top) and its position there."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    match = models.CharField(max_length=4, choices=Match.choices, default=Match.ALL)
    is_builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The built-in Everyone segment first, then by name.
        ordering = ["-is_builtin", "name"]
        constraints = [
            # Ignoring case, as the actions check it (``clean_unique_name``): the database
            # holds the promise when two saves race past that check.
            models.UniqueConstraint("application", Lower("name"), name="one_segment_name_ci"),
            models.UniqueConstraint(
                fields=["application"], condition=Q(is_builtin=True), name="one_builtin_segment"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def tree(self) -> tree.Group:
        """The definition as plain data (uses prefetched nodes when present:
        ``selectors.segments_with_rules``)."""
        children: dict[int | None, list[tuple[int, int, Any]]] = {}
        for rule in self.rules.all():
            children.setdefault(rule.group_id, []).append((rule.position, 0, rule.node))
        for ref in self.segment_conditions.all():
            children.setdefault(ref.group_id, []).append((ref.position, 1, tree.Ref(ref.target_id)))
        leaves = [
            *self.event_rules.all(),
            *self.experience_rules.all(),
            *self.company_users_rules.all(),
        ]
        for leaf in leaves:
            children.setdefault(leaf.group_id, []).append((leaf.position, 1, leaf.node))
        groups = {group.pk: group for group in self.groups.all()}
        for group in groups.values():
            children.setdefault(group.parent_id, []).append((group.position, 2, group.pk))

        def build(group_id: int | None, match: str) -> tree.Group:
            nodes = []
            for _, kind, node in sorted(children.get(group_id, []), key=lambda c: c[:2]):
                nodes.append(build(node, groups[node].match) if kind == 2 else node)
            return tree.Group(match, tuple(nodes))

        return build(None, self.match)

    @property
    def definition(self) -> dict[str, Any]:
        """The exchange format: ``{"match": ..., "rules": [...]}`` (segments/tree.py)."""
        return tree.as_json(self.tree)

    @property
    def is_flat(self) -> bool:
        """Rules AND'd, no group and no segment condition: what the rule-row form edits."""
        return self.match == Match.ALL and all(
            isinstance(node, Condition) for node in self.tree.nodes
        )

    @cached_property
    def conditions(self) -> list[Condition]:
        """Every rule of the tree, in order (for a flat segment: its rules AND'd)."""
        return tree.conditions_of(self.tree)

    @cached_property
    def compiled(self) -> CompiledSegment:
        return CompiledSegment(self.conditions)

    def matches(
        self,
        traits: dict[str, Any],
        now: Any = None,
        *,
        activity: Any = None,
        company: Any = None,
        members: Any = None,
    ) -> bool:
        """In memory; references read the referenced segments' current definitions.
        ``activity``: what the user did and saw (``EndUser.activity``; None: nothing yet);
        ``company``: their company's traits (None: no company); ``members``: {segment id: users
        of their company in it} (``selectors.company_members``)."""
        when = None if now is None else coerce.now_seconds(now)
        if self.is_flat:
            return self.compiled.matches(traits, when)
        matches = compile_tree(self.tree, trees_of(self.application_id))
        return matches(traits, when, activity or {}, company or {}, members or {})

    def members(self, now: Any = None) -> models.QuerySet[EndUser]:
        """The same definition as one SQL query."""
        users = EndUser.objects.filter(application_id=self.application_id)
        if self.is_flat:
            return users.filter(conditions_q(self.conditions, now))
        trees = trees_of(self.application_id)
        return users.filter(tree_q(self.tree, now, trees.get, self.application_id))

    def describe(self) -> str:
        if self.is_flat:
            if not self.conditions:
                return "all identified users"
            return " AND ".join(c.describe() for c in self.conditions)
        names: dict[Any, str] = dict(
            Segment.objects.filter(application_id=self.application_id).values_list("pk", "name")
        )
        if self.experience_rules.all():
            experiences = self.experience_rules.values_list("experience_id", "experience__name")
            names |= {("experience", pk): name for pk, name in experiences}
        return tree.describe(self.tree, names)


class Version(models.Model):
    """What a save of one object left: who (``callout.actor``), when, through what, and the
    whole definition as JSON. Abstract: segments and experiences each have their table, with
    a number per object (1, 2, ...) that the unique constraint keeps one per save."""

    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Via(models.TextChoices):
        """``callout.actor.Actor.via``, as the History says it."""

        ENGAGE = "engage", "Engage"
        ADMIN = "admin", "Admin"
        API = "api", "Management API"
        IMPORT = "import", "Import"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    via = models.CharField(max_length=16, choices=Via.choices)
    # As a product manager reads it, kept when the person or the token is gone.
    actor_name = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    definition = models.JSONField()

    class Meta:
        abstract = True
        ordering = ["-number"]


class SegmentVersion(Version):
    """A saved state of a segment: ``{"name", "description", "definition"}`` (the tree in the
    exchange format, segments/tree.py); see segments/versions.py."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")

    class Meta(Version.Meta):
        constraints = [
            models.UniqueConstraint(fields=["segment", "number"], name="one_segment_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.segment} v{self.number}"


def operator_choices() -> list[tuple[str, str]]:
    """The operator table's rows: a callable, so that a new row needs no migration."""
    return [(name, op.label) for name, op in operators.OPERATORS.items()]


def tree_prefetches(prefix: str = "") -> list[Any]:
    """What ``Segment.tree`` reads, for ``prefetch_related`` (``prefix``: the path to the
    segments, such as "segments__"): one query per kind of node."""
    return [
        models.Prefetch(f"{prefix}rules", queryset=Rule.objects.select_related("trait")),
        *(f"{prefix}{nodes}" for nodes in TREE_NODES),
    ]


TREE_NODES = (
    "groups",
    "segment_conditions",
    "event_rules",
    "experience_rules",
    "company_users_rules",
)


def trees_of(application_id: int) -> dict[int, tree.Group]:
    """Every segment's tree of an application (7 queries: the segments, their rules and each
    kind of node of TREE_NODES): what references resolve to."""
    segments = Segment.objects.filter(application_id=application_id).prefetch_related(
        *tree_prefetches()
    )
    return {segment.pk: segment.tree for segment in segments}


class RuleGroup(models.Model):
    """A nested group of a segment's tree: its nodes are the rules, groups and segment
    conditions whose ``group`` it is."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="groups")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    match = models.CharField(max_length=4, choices=Match.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"{self.match} of {self.segment}"


class SegmentCondition(models.Model):
    """A segment condition, "the user is in segment ``target``": the target's current
    definition, whatever it becomes. RESTRICT: a segment that others use cannot be deleted
    under them, yet deleting a whole application (which takes both segments) still works."""

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="segment_conditions"
    )
    group = models.ForeignKey(
        RuleGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="segment_conditions",
    )
    target = models.ForeignKey(Segment, on_delete=models.RESTRICT, related_name="used_by")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"in segment {self.target}"


class Rule(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="rules")
    group = models.ForeignKey(
        RuleGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    # RESTRICT: a trait that rules use cannot disappear under them, yet deleting a whole
    # application (which takes its segments, rules and traits together) still works.
    trait = models.ForeignKey(TraitDefinition, on_delete=models.RESTRICT, related_name="rules")
    operator = models.CharField(max_length=32, choices=operator_choices)
    value = models.JSONField(null=True, blank=True)
    case_sensitive = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.condition.describe()

    @property
    def condition(self) -> Condition:
        return Condition(
            self.trait.key, self.trait.type, self.operator, self.value, self.case_sensitive
        )

    @property
    def node(self) -> Condition | tree.CompanyTraitCondition:
        """The rule as a node of the tree: on a company trait, read from the company."""
        if self.trait.scope == TraitDefinition.Scope.COMPANY:
            return tree.CompanyTraitCondition(self.condition)
        return self.condition


class EventRule(models.Model):
    """A node "did NAME at least N times (in the last D days)" or "did NAME first / last ...
    days ago" (segments/tree.py). The name is plain text: a rule may name an event not seen
    yet (lint warns)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="event_rules")
    group = models.ForeignKey(
        RuleGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="event_rules"
    )
    event = models.CharField(max_length=128)
    operator = models.CharField(max_length=32)
    value = models.PositiveIntegerField()
    within_days = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.node.describe()

    @property
    def node(self) -> tree.EventCondition:
        return tree.EventCondition(self.event, self.operator, self.value, self.within_days)


class ExperienceRule(models.Model):
    """A node "has seen / completed / dismissed EXPERIENCE". RESTRICT: an experience that a
    segment uses cannot be deleted under it (experiences.actions refuses, naming them)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="experience_rules")
    group = models.ForeignKey(
        RuleGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="experience_rules",
    )
    experience = models.ForeignKey(
        "experiences.Experience", on_delete=models.RESTRICT, related_name="segment_rules"
    )
    state = models.CharField(max_length=10)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.node.describe()

    @property
    def node(self) -> tree.ExperienceCondition:
        return tree.ExperienceCondition(self.experience_id, self.state)


class CompanyUsersRule(models.Model):
    """A node "at least / at most / exactly N users of the user's company are in SEGMENT"
    (segments/accounts.py). RESTRICT, as a segment condition: the counted segment cannot be
    deleted under it."""

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="company_users_rules"
    )
    group = models.ForeignKey(
        RuleGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="company_users_rules",
    )
    target = models.ForeignKey(Segment, on_delete=models.RESTRICT, related_name="counted_by")
    operator = models.CharField(max_length=16)
    value = models.PositiveIntegerField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.node.describe()

    @property
    def node(self) -> tree.CompanyUsersCondition:
        return tree.CompanyUsersCondition(self.target_id, self.operator, self.value)


class EventDefinition(models.Model):
    """An event name of an application, with its description: created by the first event of
    that name (auto-discovered) or by a manager. At most ``CALLOUT_MAX_EVENT_NAMES`` per
    application."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="event_definitions"
    )
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    auto_discovered = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["application", "name"], name="one_event_per_name")
        ]

    def __str__(self) -> str:
        return self.name


class TrackedEvent(models.Model):
    """One event a user did (``/api/v1/track``, ``import_events``): the raw history behind the
    activity summary, for charts and rebuilds; pruned after ``CALLOUT_EVENT_RETENTION_DAYS``."""

    # No constraint in the database: an event's application is its user's, which the user's
    # own constraint already holds to an existing application (and Django cascades a delete).
    # Checked, it cost each stored event a lookup and a share lock on the application's row at
    # commit: 20 of them a /track call, from every worker on the same row.
    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="tracked_events",
        db_index=False,
        db_constraint=False,
    )
    end_user = models.ForeignKey(
        EndUser, on_delete=models.CASCADE, related_name="tracked_events", db_index=False
    )
    name = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    # The sender's id for the event (import_events): a re-run skips what is already stored.
    event_id = models.CharField(max_length=128, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-pk"]
        indexes = [
            # Charts and counts per name; a rebuild of one name's recent times; retention, name
            # by name (tracking.events_prune: no index on the time alone for it to maintain).
            models.Index(fields=["application", "name", "timestamp"], name="event_app_name_time"),
            # One user's history (explain, evaluate at a given time).
            models.Index(fields=["end_user", "name", "timestamp"], name="event_user_name_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "event_id"],
                condition=~Q(event_id=""),
                name="one_event_per_event_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.end_user_id} at {self.timestamp:%Y-%m-%d %H:%M}"


class EventDay(models.Model):
    """Per application, event name and UTC day: how many events happened and how many users did
    the name for the first time (the sum over days is how many users ever did it). Written with
    the events, in their transaction (``segments/rollup.py``); what the Events page reads, so
    that its cost does not grow with the number of raw events. Kept when raw events are pruned.

    A day's counts are the sum of its rows, one per ``shard``: a /track call adds to its user's
    shard (``rollup.user_shard``), so that parallel calls do not all update, and wait on, the
    same row; imports, rebuilds and the daily fold of past days (``rollup.rollup_fold``) write
    shard 0.
    """

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="event_days", db_index=False
    )
    name = models.CharField(max_length=128)
    day = models.DateField()
    shard = models.PositiveSmallIntegerField(default=0)
    events = models.PositiveBigIntegerField(default=0)
    new_users = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "day", "shard"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "name", "day", "shard"], name="one_event_day_shard"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.day}: {self.events}"


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    """Entries are written once and never changed: ``update`` and ``delete`` are refused, so
    no view, admin action or shell habit edits the log; ``prune`` (manage.py prune_audit,
    the retention) is the one way entries go."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionDenied("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("Audit entries cannot be deleted: prune_audit removes old ones.")

    def prune(self) -> int:
        """Delete these entries (the retention's command only); how many went."""
        deleted, _ = models.QuerySet.delete(self)
        return deleted


class AuditEntry(models.Model):
    """One write in an application, or a login to it: who, when, through what, on which
    object, in one line (segments/audit.py writes them, inside the write's transaction)."""

    class Via(models.TextChoices):
        ENGAGE = "engage", "Engage"
        ADMIN = "admin", "Admin"
        API = "api", "Management API"
        IMPORT = "import", "Import"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="audit_entries", db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    # SET_NULL: deleting a person's account keeps what they did, under actor_name.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.SYSTEM)
    token_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    object_name = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["application", "-at"], name="audit_application_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name}: {self.summary}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("Audit entries cannot be deleted: prune_audit removes old ones.")
