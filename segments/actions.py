"""Every write to applications, traits, users and segments goes through here.

Keyword-only, atomic and validated: the UI, the admin, the API and seed_demo share one path,
so a bad rule or trait is refused the same way everywhere and nothing is half-written.
Errors are ``ValidationError`` with a dict keyed by field (``name``, ``rules.1.value``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from callout.db import fetchone_prepared

from . import audit, coerce, companies, merge, operators, themes, tree, versions
from .companies import KEEP, CompanyChange
from .models import (
    Application,
    CompanyUsersRule,
    EndUser,
    EventRule,
    ExperienceRule,
    Invite,
    Membership,
    Rule,
    RuleGroup,
    Segment,
    SegmentCondition,
    TraitDefinition,
    invite_digest,
    trees_of,
)
from .operators import RuleError
from .rebuild import events_kept_ensure
from .traits import MAX_ID, MAX_TRAITS, TraitError, check_key, check_traits, infer_type

RuleInput = Mapping[str, Any]


@contextmanager
def unique_or_field_error(field: str, message: str) -> Iterator[None]:
    """A write that a unique constraint refuses when a concurrent save got past the check
    before it: the same field error as that check, never a 500. The savepoint keeps the
    caller's transaction usable on PostgreSQL."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise ValidationError({field: [message]}) from None


# --- Applications ------------------------------------------------------------------------


@transaction.atomic
def application_create(*, name: str, owner: Any = None) -> Application:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the application a name."]})
    application = Application.objects.create(name=name)
    if owner is not None:
        Membership.objects.create(user=owner, application=application, role=Membership.Role.OWNER)
    audit.record(application=application, action="application.created", obj=application)
    return application


@transaction.atomic
def application_rotate_keys(*, application: Application) -> Application:
    from .models import generate_public_key, generate_secret_key

    application.public_key = generate_public_key()
    application.secret_key = generate_secret_key()
    application.save(update_fields=["public_key", "secret_key"])
    audit.record(application=application, action="keys.rotated", summary=audit.KEYS_ROTATED)
    return application


@transaction.atomic
def application_set_identity_verification(
    *, application: Application, required: bool
) -> Application:
    """Require (or stop requiring) identify calls to carry ``user_hash``, the HMAC of the user
    id with the secret key. Saving the application bumps its targeting version (see
    experiences/signals.py), so every process reads the new setting on its next request."""
    application.require_user_hash = bool(required)
    application.save(update_fields=["require_user_hash"])
    audit.record(application=application, action="settings.changed", summary=audit.hmac(required))
    return application


@transaction.atomic
def application_set_delivery(
    *,
    application: Application,
    max_banners_per_edge: int,
    cap_per_day: int | None,
    cap_per_session: int | None,
    holdout_percent: int | None = None,
) -> Application:
    """Delivery's settings (docs/experiences.md, Delivery): banners stacked per edge, and the
    caps on experiences started per user per day and per session (None: no cap). Refused with
    a ``ValidationError`` per field, nothing written; saving bumps the targeting version, so
    every process serves with the new settings on its next request. ``holdout_percent``: the
    application-wide holdout (0 to 50; None keeps it; docs/experiences.md, "Goals, holdouts
    and how to read the results")."""
    application.max_banners_per_edge = max_banners_per_edge
    application.cap_per_day = cap_per_day
    application.cap_per_session = cap_per_session
    fields = ["max_banners_per_edge", "cap_per_day", "cap_per_session"]
    if holdout_percent is not None:
        if isinstance(holdout_percent, bool) or not isinstance(holdout_percent, int):
            raise ValidationError({"holdout_percent": ["A whole number from 0 to 50."]})
        application.holdout_percent = holdout_percent
        fields.append("holdout_percent")
    try:
        others = [f.name for f in Application._meta.fields if f.name not in fields]
        application.clean_fields(exclude=others)
    except ValidationError:
        application.refresh_from_db(fields=fields)
        raise
    application.save(update_fields=fields)
    audit.record(
        application=application, action="settings.changed", summary=audit.delivery(application)
    )
    return application


@transaction.atomic
def application_set_audit_retention(*, application: Application, days: int) -> Application:
    """How many days the audit log keeps (manage.py prune_audit deletes older entries)."""
    application.audit_retention_days = days
    try:
        application.clean_fields(
            exclude=[f.name for f in Application._meta.fields if f.name != "audit_retention_days"]
        )
    except ValidationError as error:
        application.refresh_from_db(fields=["audit_retention_days"])
        raise ValidationError({"days": error.message_dict["audit_retention_days"]}) from None
    application.save(update_fields=["audit_retention_days"])
    audit.record(
        application=application,
        action="settings.changed",
        summary=f"Set the audit log to keep {days} days",
    )
    return application


@transaction.atomic
def application_set_theme(*, application: Application, theme: Mapping[str, Any]) -> Application:
    """The snippet's theme (segments/themes.py): every field checked, colour pairs under WCAG
    AA contrast refused, a ``ValidationError`` per field and nothing written; only what
    differs from the defaults is stored. Saving bumps the targeting version: the next serve
    of every process sends the new theme."""
    application.theme = themes.changes(themes.clean(theme))
    application.save(update_fields=["theme"])
    changed = ", ".join(f"{k} {v}" for k, v in application.theme.items()) or "the built-in look"
    audit.record(
        application=application, action="settings.changed", summary=f"Set the theme: {changed}"
    )
    return application


def application_set_languages(*, application: Application, languages: Any) -> Application:
    """The languages experiences are written in (docs/experiences.md, "Languages"), the first
    the default; a ``ValidationError`` on ``languages`` and nothing written when they are not
    BCP 47 tags. Translations of a language removed stay stored (it may come back) but are
    not served (experiences/targeting.py sends only the enabled languages')."""
    from experiences.languages import clean_languages

    try:
        application.languages = clean_languages(languages)
    except ValueError as error:
        raise ValidationError({"languages": [str(error)]}) from None
    application.save(update_fields=["languages"])
    audit.record(
        application=application,
        action="settings.changed",
        summary=f"Set the languages: {', '.join(application.languages)}",
    )
    return application


# --- Members and invites -----------------------------------------------------------------

# An invite link works this long after it is made.
INVITE_LIFETIME = timedelta(days=7)
ROLE_ERROR = "Role must be owner, editor or viewer."


def _check_role(role: Any) -> str:
    if role not in Membership.Role.values:
        raise ValidationError({"role": [ROLE_ERROR]})
    return role


def _last_owner(membership: Membership) -> str:
    return (
        f"{membership.user.get_username()} is the last owner of {membership.application.name}: "
        "make another member an owner first."
    )


def _current(membership: Membership) -> Membership:
    """The membership as stored, once the application's row is locked (membership writes of
    one application take turns, so "is this the last owner?" stays true until commit)."""
    application_lock(membership.application)
    current = (
        Membership.objects.select_related("user", "application").filter(pk=membership.pk).first()
    )
    if current is None:
        raise ValidationError(f"{membership.user.get_username()} is no longer a member.")
    return current


def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.filter(
            application_id=membership.application_id, role=Membership.Role.OWNER
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def _already_member(membership: Membership) -> str:
    return (
        f"{membership.user.get_username()} is already a member of "
        f"{membership.application.name} ({membership.get_role_display().lower()})."
    )


@transaction.atomic
def membership_add(*, application: Application, user: Any, role: str) -> Membership:
    """``user`` joins ``application`` at ``role``; a member already is a field error (the
    unique constraint on (user, application) decides a race the same way)."""
    _check_role(role)
    application_lock(application)
    existing = Membership.objects.filter(application=application, user=user).first()
    if existing is not None:
        existing.user, existing.application = user, application
        raise ValidationError({"user": [_already_member(existing)]})
    membership = Membership(application=application, user=user, role=role)
    with unique_or_field_error("user", _already_member(membership)):
        membership.save()
    audit.record(
        application=application,
        action="member.added",
        obj=membership,
        summary=f"Added {user.get_username()} as {role}",
    )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str) -> Membership:
    """The last owner of an application stays an owner."""
    _check_role(role)
    current = _current(membership)
    if (
        current.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and not _other_owners(current)
    ):
        raise ValidationError({"role": [_last_owner(current)]})
    if current.role != role:
        audit.record(
            application=current.application,
            action="member.role_changed",
            obj=current,
            summary=audit.role_changed(current.user, current.role, role),
        )
        current.role = role
        current.save(update_fields=["role"])
    membership.role = role
    return current


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """The last owner of an application cannot be removed (nor leave)."""
    current = _current(membership)
    if current.role == Membership.Role.OWNER and not _other_owners(current):
        raise ValidationError(_last_owner(current))
    audit.record(
        application=current.application,
        action="member.removed",
        obj=current,
        summary=f"Removed {current.user.get_username()} ({current.role})",
    )
    current.delete()


def _check_invitee(email: Any, username: Any) -> tuple[str, str]:
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.validators import validate_email

    email = email.strip() if isinstance(email, str) else ""
    username = username.strip() if isinstance(username, str) else ""
    if bool(email) == bool(username):
        raise ValidationError({"user": ["Give either an e-mail address or a username."]})
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": ["Enter a valid e-mail address."]}) from None
        if len(email) > 254:
            raise ValidationError({"email": ["An e-mail address is at most 254 characters."]})
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as error:
            raise ValidationError({"username": error.messages}) from None
        if len(username) > 150:
            raise ValidationError({"username": ["A username is at most 150 characters."]})
    return email, username


@transaction.atomic
def invite_create(
    *,
    application: Application,
    role: str,
    email: str = "",
    username: str = "",
    created_by: Any = None,
) -> tuple[Invite, str]:
    """A pending invite for an e-mail address or a username, and its token, which is never
    stored (only its digest): the link ``/invite/<token>/`` is shown once, to hand over. One
    pending invite a person and application: another is a field error."""
    _check_role(role)
    email, username = _check_invitee(email, username)
    field = "email" if email else "username"
    application_lock(application)
    same = {"email__iexact": email} if email else {"username": username}
    if Invite.objects.pending().filter(application=application, **same).exists():
        raise ValidationError(
            {field: [f"{email or username} already has a pending invite: revoke it first."]}
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invite = Invite.objects.create(
        application=application,
        email=email,
        username=username,
        role=role,
        digest=invite_digest(token),
        created_by=created_by,
        created_at=now,
        expires_at=now + INVITE_LIFETIME,
    )
    audit.record(
        application=application,
        action="member.invited",
        obj=invite,
        summary=f"Invited {invite.invitee} as {role}",
    )
    return invite, token


@dataclass(frozen=True)
class MemberAdded:
    """What ``member_add_or_invite`` did: a membership (a known person), or an invite and its
    token (shown once)."""

    membership: Membership | None = None
    invite: Invite | None = None
    token: str | None = None


@transaction.atomic
def member_add_or_invite(
    *, application: Application, who: str, role: str, created_by: Any = None
) -> MemberAdded:
    """The Members page's Add: ``who`` is a username or an e-mail address. A person with an
    account becomes a member at once; anyone else gets an invite. Errors about the person are
    on the field ``who``."""
    from django.contrib.auth import get_user_model

    _check_role(role)
    who = who.strip() if isinstance(who, str) else ""
    if not who:
        raise ValidationError({"who": ["Give a username or an e-mail address."]})
    users = get_user_model().objects
    user = users.filter(username=who).first()
    if user is None and "@" in who:
        found = list(users.filter(email__iexact=who)[:2])
        if len(found) > 1:
            raise ValidationError(
                {"who": ["Several accounts use this e-mail address: add the member by username."]}
            )
        user = found[0] if found else None
    try:
        if user is not None:
            return MemberAdded(
                membership=membership_add(application=application, user=user, role=role)
            )
        kind = "email" if "@" in who else "username"
        invite, token = invite_create(
            application=application, role=role, created_by=created_by, **{kind: who}
        )
    except ValidationError as error:
        raise ValidationError(
            {
                ("role" if field == "role" else "who"): messages
                for field, messages in error.message_dict.items()
            }
        ) from None
    return MemberAdded(invite=invite, token=token)


def invite_find(token: Any) -> Invite | None:
    if not isinstance(token, str) or not token or len(token) > 100:
        return None
    return (
        Invite.objects.select_related("application", "created_by")
        .filter(digest=invite_digest(token))
        .first()
    )


def invite_check(invite: Invite | None, user: Any) -> None:
    """Why ``user`` cannot accept ``invite``, as a ValidationError whose code says which case
    (unknown, revoked, used, expired, someone_else, member); nothing if they can. The invite
    is for the person it names: a forwarded link does not let someone else in."""
    if invite is None:
        raise ValidationError("This invite link is not valid.", code="unknown")
    if invite.revoked_at is not None:
        raise ValidationError(
            "This invite was revoked: ask an owner for a new one.", code="revoked"
        )
    if invite.accepted_at is not None:
        raise ValidationError(
            "This invite was already used: a link works once. Ask an owner for a new one.",
            code="used",
        )
    if invite.expires_at <= timezone.now():
        raise ValidationError(
            "This invite has expired (links work for 7 days): ask an owner for a new one.",
            code="expired",
        )
    if invite.email:
        mine = (getattr(user, "email", "") or "").strip().lower() == invite.email.lower()
    else:
        mine = user.get_username() == invite.username
    if not mine:
        raise ValidationError(
            f"This invite is for {invite.invitee}, and you are logged in as "
            f"{user.get_username()}: log in as {invite.invitee}, or ask an owner to invite you.",
            code="someone_else",
        )
    if Membership.objects.filter(application_id=invite.application_id, user=user).exists():
        raise ValidationError(
            f"You are already a member of {invite.application.name}.", code="member"
        )


@transaction.atomic
def invite_accept(*, token: str, user: Any) -> Membership:
    """The logged-in ``user`` joins the invite's application at its role; the invite is used
    up. Refused (``invite_check``) for a revoked, used or expired invite, or one for someone
    else; two accepts of one link take turns on its row."""
    invite = invite_find(token)
    if invite is not None:
        invite = Invite.objects.select_for_update().select_related("application").get(pk=invite.pk)
    invite_check(invite, user)
    membership = Membership(application=invite.application, user=user, role=invite.role)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise ValidationError(
            f"You are already a member of {invite.application.name}.", code="member"
        ) from None
    invite.accepted_at = timezone.now()
    invite.accepted_by = user
    invite.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(
        application=invite.application,
        action="member.joined",
        obj=membership,
        summary=f"Joined as {invite.role} with the invite for {invite.invitee}",
    )
    return membership


@transaction.atomic
def invite_revoke(*, invite: Invite) -> Invite:
    """The link stops working; an accepted invite is past revoking (remove the member)."""
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    if invite.accepted_at is not None:
        raise ValidationError(f"{invite.invitee} already accepted this invite.")
    if invite.revoked_at is None:
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
        audit.record(
            application=invite.application,
            action="invite.revoked",
            obj=invite,
            summary=f"Revoked the invite for {invite.invitee}",
        )
    return invite


# --- Trait indexes (PostgreSQL) ----------------------------------------------------------


def trait_indexes_sync(*, application: Application) -> tuple[list[str], list[str]]:
    """Make the per-trait expression indexes match the traits the application's rules use
    (segments/indexing.py); returns (created, dropped). A no-op on SQLite."""
    from . import indexing

    return indexing.sync(application)


def _sync_indexes_on_commit(application: Application) -> None:
    # After commit, outside the transaction: the build runs CONCURRENTLY and does not block
    # identify calls; a failed build leaves an invalid index that the next sync replaces.
    if connection.vendor == "postgresql":
        transaction.on_commit(lambda: trait_indexes_sync(application=application))


# --- Trait definitions -------------------------------------------------------------------


def _check_trait_fields(key: str, type: str) -> None:
    try:
        check_key(key)
    except TraitError as error:
        raise ValidationError({"key": [error.message]}) from None
    if type not in coerce.TRAIT_TYPES:
        raise ValidationError({"type": [f"Type must be one of {', '.join(coerce.TRAIT_TYPES)}."]})


@transaction.atomic
def trait_definition_create(
    *,
    application: Application,
    key: str,
    type: str = coerce.STRING,
    label: str = "",
    description: str = "",
    auto_discovered: bool = False,
    scope: str = TraitDefinition.Scope.USER,
) -> TraitDefinition:
    """A trait of the application's users, or of its companies (``scope``): the two are
    separate definitions, so "plan" may be both."""
    if scope not in TraitDefinition.Scope.values:
        raise ValidationError({"scope": ["Scope must be user or company."]})
    key = (key or "").strip()
    _check_trait_fields(key, type)
    # Keys are case-sensitive, exactly as the snippet sends them (JSON keys): "PLAN" is
    # another trait than "plan", as it is in a user's traits.
    noun = "company trait" if scope == TraitDefinition.Scope.COMPANY else "trait"
    taken = f'A {noun} "{key}" already exists.'
    if application.trait_definitions.filter(scope=scope, key=key).exists():
        raise ValidationError({"key": [taken]})
    if trait_keys_over_limit(application=application, keys=[key], scope=scope):
        raise ValidationError({"key": [trait_limit_message(key, scope)]})
    with unique_or_field_error("key", taken):  # a parallel "Add trait" with this key
        trait = TraitDefinition.objects.create(
            application=application,
            scope=scope,
            key=key,
            type=type,
            label=label.strip(),
            description=description.strip(),
            auto_discovered=auto_discovered,
        )
    audit.record(application=application, action="trait.created", obj=trait)
    return trait


def segments_using(trait: TraitDefinition) -> list[Segment]:
    return list(Segment.objects.filter(rules__trait=trait).distinct().order_by("name"))


@transaction.atomic
def trait_definition_update(
    *,
    trait: TraitDefinition,
    label: str | None = None,
    type: str | None = None,
    description: str | None = None,
) -> TraitDefinition:
    """Changing the type is allowed; rules whose operator no longer fits then match nobody
    (the UI shows which segments are affected before saving)."""
    if type is not None:
        _check_trait_fields(trait.key, type)
        trait.type = type
        # A manual decision now stands behind the type.
        trait.auto_discovered = False
    if label is not None:
        trait.label = label.strip()
    if description is not None:
        trait.description = description.strip()
    trait.save()
    if type is not None:
        _sync_indexes_on_commit(trait.application)
    audit.record(application=trait.application, action="trait.updated", obj=trait)
    return trait


@transaction.atomic
def trait_definition_delete(*, trait: TraitDefinition) -> None:
    using = segments_using(trait)
    if using:
        names = ", ".join(f'"{s.name}"' for s in using)
        raise ValidationError(f'{trait_noun(trait)} "{trait.key}" is used by the rules of {names}.')
    audit.record(application=trait.application, action="trait.deleted", obj=trait)
    trait.delete()


def trait_noun(trait: TraitDefinition) -> str:
    """How messages name a trait: "Trait", or "Company trait"."""
    return "Company trait" if trait.scope == TraitDefinition.Scope.COMPANY else "Trait"


# --- Segments ----------------------------------------------------------------------------


def rules_check(
    *, application: Application, rules: Iterable[RuleInput]
) -> tuple[list[Rule | None], dict[str, list[str]]]:
    """Each rule input cleaned to an unsaved Rule (None where it is invalid), and every
    problem keyed by rule and field. Saves go through ``_clean_rules``, which refuses any
    error; the live preview uses this to count the valid rules of a form still being filled."""
    traits = {t.key: t for t in application.trait_definitions.users()}
    errors: dict[str, list[str]] = {}
    cleaned: list[Rule | None] = []
    for index, data in enumerate(rules):
        prefix = f"rules.{index}"
        cleaned.append(None)
        trait = data.get("trait")
        if isinstance(trait, TraitDefinition):
            trait = traits.get(trait.key) if trait.application_id == application.pk else None
        else:
            trait = traits.get(trait)
        if trait is None:
            errors[f"{prefix}.trait"] = [f"Rule {index + 1}: choose a trait of this application."]
            continue
        operator = data.get("operator") or ""
        op = operators.OPERATORS.get(operator)
        if op is None or trait.type not in op.types:
            errors[f"{prefix}.operator"] = [
                f"Rule {index + 1}: choose an operator for a {trait.type} trait."
            ]
            continue
        try:
            value = operators.clean_value(trait.type, operator, data.get("value"))
        except RuleError as error:
            errors[f"{prefix}.value"] = [f"Rule {index + 1} ({trait.key} {op.label}): {error}."]
            continue
        case_sensitive = bool(data.get("case_sensitive")) and operators.case_applies(
            trait.type, operator
        )
        cleaned[index] = Rule(
            trait=trait,
            operator=operator,
            value=value,
            case_sensitive=case_sensitive,
            position=index,
        )
    return cleaned, errors


def _clean_rules(application: Application, rules: Iterable[RuleInput]) -> list[Rule]:
    """Rule inputs -> unsaved Rule objects; every problem, keyed by rule and field."""
    cleaned, errors = rules_check(application=application, rules=rules)
    if errors:
        raise ValidationError(errors)
    return [rule for rule in cleaned if rule is not None]


def clean_unique_name(queryset: Any, name: Any, *, noun: str, exclude: Any = None) -> str:
    """A name for a new or renamed object: stripped, present, short, and not taken (ignoring
    case) in ``queryset``, the application's objects of that kind."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError({"name": [f"Give the {noun} a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["Keep the name under 100 characters."]})
    clash = queryset.filter(name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        article = "An" if noun[0] in "aeiou" else "A"
        raise ValidationError({"name": [f'{article} {noun} named "{name}" already exists.']})
    return name


def _name_taken(name: str) -> str:
    return f'A segment named "{name}" already exists.'


def _clean_name(application: Application, name: str, exclude: Segment | None = None) -> str:
    return clean_unique_name(application.segments, name, noun="segment", exclude=exclude)


def _collect(*checks: Any) -> list[Any]:
    """Run every check and raise all their errors together, so a form shows them at once."""
    results, errors = [], {}
    for check in checks:
        try:
            results.append(check())
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return results


def _lock(application: Application) -> None:
    """Segment saves of one application one at a time: two edits that each pass the cycle
    check (A uses B, B uses A) cannot both commit. FOR NO KEY UPDATE, as every lock on the
    application's row (``application_lock``)."""
    application_lock(application)


def application_lock(application: Application) -> None:
    """Lock the application's row until the transaction ends: segment saves and discoveries of
    new trait keys and event names take turns. FOR NO KEY UPDATE, not FOR UPDATE: an insert
    that refers to the application (a user, an event) checks its foreign key with FOR KEY
    SHARE, which FOR UPDATE would block; a transaction holding a user's row and inserting an
    event (/track, the snippet's events) would then deadlock with one holding the application
    and waiting for that user (identify discovering a trait)."""
    Application.objects.select_for_update(no_key=True).filter(pk=application.pk).exists()


def definition_check(
    *, application: Application, definition: Any, segment: Segment | None = None
) -> dict[str, Any]:
    """A definition (segments/tree.py) validated and normalised for saving; raises
    ValidationError keyed by path in the body (``definition.rules[2].value``)."""
    trees = trees_of(application.pk)
    names = dict(application.segments.values_list("pk", "name"))
    try:
        return tree.clean(
            definition,
            trait_types=dict(application.trait_definitions.users().values_list("key", "type")),
            company_types=dict(
                application.trait_definitions.companies().values_list("key", "type")
            ),
            segments={sid: tree.as_json(t) for sid, t in trees.items()},
            names=names,
            this=segment.pk if segment is not None else None,
            experiences=dict(application.experiences.values_list("pk", "name")),
        )
    except tree.DefinitionError as error:
        raise ValidationError(error.errors) from None


def _store_definition(segment: Segment, definition: Mapping[str, Any]) -> None:
    """Replace the segment's nodes with a clean definition's."""
    segment.rules.all().delete()
    segment.segment_conditions.all().delete()
    segment.event_rules.all().delete()
    segment.experience_rules.all().delete()
    segment.company_users_rules.all().delete()
    segment.groups.all().delete()
    definitions = segment.application.trait_definitions.all()
    traits = {t.key: t for t in definitions if t.scope == TraitDefinition.Scope.USER}
    company_traits = {t.key: t for t in definitions if t.scope == TraitDefinition.Scope.COMPANY}
    rules: list[Rule] = []
    counts: list[CompanyUsersRule] = []
    references: list[SegmentCondition] = []
    events: list[EventRule] = []
    experiences: list[ExperienceRule] = []

    def store(nodes: list[Mapping[str, Any]], group: RuleGroup | None) -> None:
        for position, node in enumerate(nodes):
            if "match" in node:
                child = RuleGroup.objects.create(
                    segment=segment, parent=group, match=node["match"], position=position
                )
                store(node["rules"], child)
            elif "segment" in node:
                references.append(
                    SegmentCondition(
                        segment=segment, group=group, target_id=node["segment"], position=position
                    )
                )
            elif "event" in node:
                events.append(
                    EventRule(
                        segment=segment,
                        group=group,
                        event=node["event"],
                        operator=node["operator"],
                        value=node["value"],
                        within_days=node.get("within_days"),
                        position=position,
                    )
                )
            elif tree.COMPANY_USERS in node:
                counts.append(
                    CompanyUsersRule(
                        segment=segment,
                        group=group,
                        target_id=node[tree.COMPANY_USERS]["segment"],
                        operator=node["operator"],
                        value=node["value"],
                        position=position,
                    )
                )
            elif "experience" in node:
                experiences.append(
                    ExperienceRule(
                        segment=segment,
                        group=group,
                        experience_id=node["experience"],
                        state=node["state"],
                        position=position,
                    )
                )
            else:
                company = tree.COMPANY_TRAIT in node
                rules.append(
                    Rule(
                        segment=segment,
                        group=group,
                        trait=company_traits[node[tree.COMPANY_TRAIT]]
                        if company
                        else traits[node["trait"]],
                        operator=node["operator"],
                        value=node.get("value"),
                        case_sensitive=node.get("case_sensitive", False),
                        position=position,
                    )
                )

    segment.match = definition["match"]
    store(definition["rules"], None)
    Rule.objects.bulk_create(rules)
    SegmentCondition.objects.bulk_create(references)
    EventRule.objects.bulk_create(events)
    ExperienceRule.objects.bulk_create(experiences)
    CompanyUsersRule.objects.bulk_create(counts)
    # A windowed count larger than the summaries keep: keep more, rebuilt from the raw events.
    events_kept_ensure(application=segment.application, definition=definition)


def _flat(rules: list[Rule]) -> dict[str, Any]:
    """Clean rules (the rule-row form's) as the top group of a definition."""
    return {
        "match": tree.ALL,
        "rules": [
            {
                "trait": rule.trait.key,
                "operator": rule.operator,
                "value": rule.value,
                "case_sensitive": rule.case_sensitive,
            }
            for rule in rules
        ],
    }


@transaction.atomic
def segment_create(
    *,
    application: Application,
    name: str,
    rules: Iterable[RuleInput] = (),
    definition: Any = None,
    description: str = "",
) -> Segment:
    """A new segment: its rules AND'd (``rules``, as the rule-row form sends them, errors keyed
    ``rules.N.field``) or a whole tree (``definition``, errors keyed by path)."""
    _lock(application)
    rules = list(rules)
    name, cleaned = _collect(
        lambda: _clean_name(application, name),
        lambda: (
            _flat(_clean_rules(application, rules))
            if definition is None
            else definition_check(application=application, definition=definition)
        ),
    )
    with unique_or_field_error("name", _name_taken(name)):  # a concurrent save of this name
        segment = Segment.objects.create(
            application=application, name=name, description=(description or "").strip()
        )
    _store_definition(segment, cleaned)
    segment.save(update_fields=["match"])
    versions.record(segment)
    _sync_indexes_on_commit(application)
    audit.record(application=application, action="segment.created", obj=segment)
    return segment


def _refuse_builtin(segment: Segment, verb: str) -> None:
    if segment.is_builtin:
        raise ValidationError(f'The built-in "{segment.name}" segment cannot be {verb}.')


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    name: str | None = None,
    description: str | None = None,
    rules: Iterable[RuleInput] | None = None,
    definition: Any = None,
    version: int | None = None,
) -> Segment:
    """Rename, describe, or replace the rules (``rules``: AND'd) or the tree (``definition``).
    ``version``: the version the change was made on (an edit form's, the API's); when a newer
    one was saved since, ``versions.StaleVersion`` and nothing is written (None: no check)."""
    _refuse_builtin(segment, "edited")
    application = segment.application
    _lock(application)
    versions.check_current(segment, version)
    rules = None if rules is None else list(rules)

    def check_definition() -> dict[str, Any] | None:
        if definition is not None:
            return definition_check(application=application, definition=definition, segment=segment)
        return None if rules is None else _flat(_clean_rules(application, rules))

    new_name, cleaned = _collect(
        lambda: segment.name if name is None else _clean_name(application, name, segment),
        check_definition,
    )
    segment.name = new_name
    if description is not None:
        segment.description = description.strip()
    if cleaned is not None:
        _store_definition(segment, cleaned)
        _sync_indexes_on_commit(application)
    with unique_or_field_error("name", _name_taken(new_name)):  # a concurrent rename
        segment.save()
    for cached in ("tree", "conditions", "compiled"):
        segment.__dict__.pop(cached, None)
    versions.record(segment)
    audit.record(application=application, action="segment.updated", obj=segment)
    return segment


def segment_users(segment: Segment) -> tuple[list[Segment], list[Any]]:
    """Where a segment is used: the segments whose definitions reference it, and the
    experiences that target it."""
    using = (
        Segment.objects.filter(
            Q(segment_conditions__target=segment) | Q(company_users_rules__target=segment)
        )
        .distinct()
        .order_by("name")
    )
    return list(using), list(segment.experiences.order_by("name"))


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    """Refused while the segment is used, naming where (a segment condition of another
    segment is also held by the database: RESTRICT)."""
    _refuse_builtin(segment, "deleted")
    segments, experiences = segment_users(segment)
    if segments or experiences:
        used = [f'segment "{s.name}"' for s in segments]
        used += [f'experience "{e.name}"' for e in experiences]
        raise ValidationError(
            f'"{segment.name}" is used by {", ".join(used)}: remove it from them first.',
            code="in_use",
        )
    audit.record(application=segment.application, action="segment.deleted", obj=segment)
    segment.delete()
    _sync_indexes_on_commit(segment.application)


# --- End users ---------------------------------------------------------------------------


_USER = TraitDefinition.Scope.USER
_COMPANY = TraitDefinition.Scope.COMPANY


def _new_trait_keys(
    application: Application, traits: Mapping[str, Any], scope: str = _USER
) -> list[str]:
    """The keys of ``traits`` (with a value) that have no definition yet in ``scope`` (the
    users' traits, or the companies'), in order."""
    known = set(
        application.trait_definitions.filter(scope=scope, key__in=list(traits)).values_list(
            "key", flat=True
        )
    )
    return [key for key, value in traits.items() if key not in known and value is not None]


def trait_keys_over_limit(
    *, application: Application, keys: Iterable[str], scope: str = TraitDefinition.Scope.USER
) -> list[str]:
    """Of these new trait keys of ``scope``, in order, the ones that would take the
    application past ``settings.CALLOUT_MAX_TRAIT_DEFINITIONS`` of that scope (user traits
    and company traits each have the limit). Call it in the transaction that creates the
    definitions: it locks the application's row, so parallel discoveries count in turn."""
    keys = list(keys)
    if not keys:
        return []
    application_lock(application)
    defined = application.trait_definitions.filter(scope=scope).count()
    room = settings.CALLOUT_MAX_TRAIT_DEFINITIONS - defined
    return keys[max(room, 0) :]


def trait_limit_message(key: str, scope: str = TraitDefinition.Scope.USER) -> str:
    limit = settings.CALLOUT_MAX_TRAIT_DEFINITIONS
    if scope == TraitDefinition.Scope.COMPANY:
        return (
            f"Company trait {key!r} is new, and an application can define at most {limit} "
            "company traits: send a trait it already has, or delete unused ones on the "
            "Traits page."
        )
    return (
        f"Trait {key!r} is new, and an application can define at most {limit} traits: "
        "send a trait it already has, or delete unused ones on the Traits page."
    )


def _discover_traits(
    application: Application, traits: Mapping[str, Any], scope: str = _USER
) -> None:
    """Unknown trait keys get a definition with an inferred type, marked auto-discovered;
    ValidationError (the first key past the limit, as ``traits.<key>``, or
    ``company.traits.<key>`` for a company's) when they would pass the application's limit of
    definitions in ``scope``, so that the caller's transaction writes nothing."""
    if not traits:
        return
    keys = _new_trait_keys(application, traits, scope)
    over = trait_keys_over_limit(application=application, keys=keys, scope=scope)
    if over:
        within = "company.traits" if scope == _COMPANY else "traits"
        raise ValidationError({f"{within}.{over[0]}": [trait_limit_message(over[0], scope)]})
    new = [
        TraitDefinition(
            application=application,
            scope=scope,
            key=key,
            type=infer_type(traits[key]),
            auto_discovered=True,
        )
        for key in keys
    ]
    if new:
        TraitDefinition.objects.bulk_create(new, ignore_conflicts=True)


# In the model's order: ``from_db`` with some fields left out reads the values in that order.
_FIELDS = ["id", "application_id", "external_id", "traits", "company_id", "first_seen", "last_seen"]
_RETURNING = ", ".join(_FIELDS)


@lru_cache(maxsize=4)
def _upsert_sql(vendor: str, company: bool) -> str:
    table = connection.ops.quote_name(EndUser._meta.db_table)
    if vendor == "postgresql":
        values = "VALUES (%s, %s, %s::jsonb, %s, %s" + (", %s)" if company else ")")
        return merge.pg_upsert(table, values, _RETURNING, company=company)
    return merge.sqlite_upsert(table, _RETURNING, company=company)


def _upsert_end_user(
    application: Application,
    external_id: str,
    changes: Mapping[str, Any],
    company_id: Any = KEEP,
) -> EndUser | None:
    """Create or merge in one statement (``segments.merge``), so parallel calls for one user
    (each a row-level atomic upsert) lose none of each other's traits, and the refused case
    (too many traits) writes nothing; None if the merge would exceed MAX_TRAITS.
    ``company_id``: the user's company from now on (None: none), or KEEP it as it is."""
    vendor = connection.vendor
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if vendor == "postgresql":
        traits, merged = merge.pg_params(changes)
    elif vendor == "sqlite":
        traits, merged = merge.sqlite_params(changes)
    else:  # pragma: no cover - Callout runs on PostgreSQL and SQLite only
        raise NotImplementedError(vendor)
    sql = _upsert_sql(vendor, company_id is not KEEP)
    company = [] if company_id is KEEP else [company_id]
    params = [application.pk, external_id, traits, now, now, *company, *merged]
    if vendor == "postgresql":
        # Prepared (planned once per connection); the row as the model, traits decoded (Django
        # reads jsonb as text), the timestamps already aware.
        row = fetchone_prepared(sql, params)
        if row is None:
            return None
        values = list(row)
        if isinstance(values[3], str):
            values[3] = json.loads(values[3])
        return EndUser.from_db(connection.alias, _FIELDS, values)
    rows = list(EndUser.objects.raw(sql, params))
    return rows[0] if rows else None


def end_user_clean(*, external_id: Any, traits: Any) -> dict[str, Any]:
    """identify's checks of one call, before anything is read or written: the id, the trait
    changes (keys and values) and their number. Returns the validated changes (None removes a
    trait); raises ValidationError keyed by field. The bulk import (segments/importing.py)
    shares it, so a row is refused exactly when an identify call would be."""
    if (
        not isinstance(external_id, str)
        or not 1 <= len(external_id) <= MAX_ID
        or "\x00" in external_id
    ):
        raise ValidationError({"id": [f"id must be text of 1 to {MAX_ID} characters."]})
    try:
        changes = check_traits(traits or {})
    except TraitError as error:
        raise ValidationError({error.field: [error.message]}) from None
    if sum(1 for value in changes.values() if value is not None) > MAX_TRAITS:
        raise ValidationError({"traits": [f"A user can have at most {MAX_TRAITS} traits."]})
    return changes


def end_user_identify(
    *,
    application: Application,
    external_id: str,
    traits: Mapping[str, Any] | None = None,
    known_traits: Collection[str] | None = None,
    company: Any = KEEP,
    known_company_traits: Collection[str] | None = None,
) -> EndUser:
    """Create or update a user; traits merge into what is stored (null removes one).

    Unknown trait keys get an auto-discovered definition. ``known_traits`` (the application's
    trait keys, e.g. from the cached targeting) lets the common call skip looking them up: then
    a call whose keys are all known is one SQL statement.

    ``company`` is identify's field of that name (or ``company_clean``'s output):
    ``{"id", "traits"}`` (the company is created
    or its traits merged as a user's are, its new keys discovered as company traits, and the
    user belongs to it from then on: the returned user's ``company`` is it), None (the user
    leaves their company), or ``KEEP`` (not given: the user's company stays).
    ``known_company_traits`` is ``known_traits`` for the company's keys. Everything is checked
    before anything is written, and a refused merge (the user's or the company's) writes
    nothing at all.
    """
    changes = end_user_clean(external_id=external_id, traits=traits)
    joined = company
    if company is not KEEP and not isinstance(company, CompanyChange):
        joined = companies.company_clean(company)
    present = [key for key, value in changes.items() if value is not None]
    unknown = present if known_traits is None else [k for k in present if k not in known_traits]
    company_unknown: list[str] = []
    if isinstance(joined, CompanyChange):
        present = [key for key, value in joined.changes.items() if value is not None]
        known = known_company_traits
        company_unknown = present if known is None else [k for k in present if k not in known]
    writes_company = isinstance(joined, CompanyChange)
    with transaction.atomic() if unknown or writes_company else nullcontext():
        # Definitions first: discovering locks the application's row (the definition limit),
        # then the company's row is written, then the user's; the imports take them in the
        # same order, so none can deadlock with another. A refused merge rolls back the rest.
        _discover_traits(application, {key: changes[key] for key in unknown})
        if isinstance(joined, CompanyChange):
            _discover_traits(
                application, {key: joined.changes[key] for key in company_unknown}, _COMPANY
            )
            found = companies.company_upsert(application=application, change=joined)
            if found is None:
                raise ValidationError({"company.traits": [merge.COMPANY_TOO_MANY]})
            user = _upsert_end_user(application, external_id, changes, found.pk)
        else:
            found = None
            user = _upsert_end_user(application, external_id, changes, joined)
        if user is None:
            raise ValidationError({"traits": [merge.TOO_MANY]})
    if joined is not KEEP:
        user.company = found
    return user
