"""identify: one entry point (``identify``) that tries the one-statement path and falls back
to the general one. Both merge the user's traits (and the traits of the company the call
names) with ``segments.merge``; the general path also answers every error and discovers new
trait keys.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from segments.actions import end_user_clean, end_user_identify
from segments.companies import KEEP, CompanyChange, company_clean

from . import lookup, targeting
from .checks import (
    ApiError,
    application_and_user,
    invalid,
    url_of,
    user_id_of,
    verify,
    verify_company,
)
from .lookup import Visitor
from .targeting import Targeting


def identify(data: dict[str, Any]) -> tuple[Targeting, str, Visitor]:
    """One identify call's body: (the application's targeting, the user id, the user as the
    serve sees them after the write). Raises ApiError for a call to refuse."""
    return identify_at_once(data) or identify_in_steps(data)


def _known(changes: dict[str, Any], *keys: set[str] | frozenset[str]) -> bool:
    """Whether every key given a value is in one of ``keys`` (else: the general path, which
    creates its definition)."""
    return all(
        value is None or any(key in known for known in keys) for key, value in changes.items()
    )


def identify_at_once(data: dict[str, Any]) -> tuple[Targeting, str, Visitor] | None:
    """identify in one statement (``lookup.identify_and_lookup``), checked against the
    targeting this process already holds for the key; the statement writes only if that is
    still the application's current one. None, with nothing written, to take the general
    path, which also answers every error: on the first call of a process for an application,
    after an edit, with a new trait key (its definition is created there), or when anything
    is wrong with the call (the general path checks it again, on fresh data)."""
    app = targeting.known_targeting(data.get("key"))
    if app is None:
        return None
    try:
        user_id = user_id_of(data)
        verify(app, user_id, data)
        url_of(data, required=False)
        traits = data.get("traits")
        changes = end_user_clean(external_id=user_id, traits={} if traits is None else traits)
        company = data.get("company", KEEP)
        if company is not KEEP:
            company = company_clean(company)
        if isinstance(company, CompanyChange):
            verify_company(app, user_id, company.external_id, data)
    except (ApiError, ValidationError):
        return None
    if not _known(changes, app.trait_keys, app.discovered):
        return None
    if isinstance(company, CompanyChange) and not _known(
        company.changes, app.company_trait_keys, app.discovered_company
    ):
        return None
    visitor = lookup.identify_and_lookup(app, user_id, changes, company)
    return None if visitor is None else (app, user_id, visitor)


def identify_in_steps(data: dict[str, Any]) -> tuple[Targeting, str, Visitor]:
    """identify's general path: the lookup (which also refreshes this process's targeting),
    every check with its error, then the write, creating definitions for new trait keys."""
    app, user_id, visitor = application_and_user(data, user_id_of)
    verify(app, user_id, data)
    url_of(data, required=False)
    traits = data.get("traits")
    company = data.get("company", KEEP)
    try:
        if company is not KEEP:
            # Checked before company_hash, which signs the company's id.
            company = company_clean(company)
        if isinstance(company, CompanyChange):
            verify_company(app, user_id, company.external_id, data)
        user = end_user_identify(
            application=app.application,
            external_id=user_id,
            traits={} if traits is None else traits,
            known_traits=app.trait_keys | app.discovered,
            company=company,
            known_company_traits=app.company_trait_keys | app.discovered_company,
        )
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise invalid(field, messages[0]) from None
    # Every key now has a definition (created or found): known from now on in this process,
    # without a new targeting version, which would make every process recompile.
    if traits:
        app.discovered.update(k for k, v in traits.items() if v is not None)
    if isinstance(company, CompanyChange):
        app.discovered_company.update(k for k, v in company.changes.items() if v is not None)
    # The activity read before the write is still the user's: identify records no event. So
    # is their company, unless the call named one (or none).
    if company is KEEP:
        company_id, company_traits = visitor.company_id, visitor.company
    else:
        joined = user.company
        company_id = None if joined is None else joined.pk
        company_traits = {} if joined is None else joined.traits
    return app, user_id, Visitor(user.pk, user.traits, visitor.activity, company_id, company_traits)
