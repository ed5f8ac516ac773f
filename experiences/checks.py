"""What a snippet call must carry, checked: the public key, the user id, ``user_hash`` (and
with a company, ``company_hash``) when the application requires it, the url. A failed check is
an ``ApiError``, which ``experiences/api.py`` answers as our JSON error;
``experiences/identify.py`` uses the same checks to decide whether its one-statement path may
stand for the general one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from segments.traits import MAX_ID

from . import lookup, targeting
from .lookup import Visitor
from .pages import parse_url
from .targeting import Targeting

MAX_URL = 4096


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field)


def text_field(
    data: dict[str, Any], field: str, *, max_length: int, required: bool = True
) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise invalid(field, f"{field} is required.")
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise invalid(field, f"{field} must be text of 1 to {max_length} characters.")
    if "\x00" in value:
        raise invalid(field, f"{field} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(field, f"{field} is not valid Unicode.") from None
    return value


def query_id(data: dict[str, Any]) -> str:
    return text_field(data, "id", max_length=MAX_ID)  # type: ignore[return-value]


def user_id_of(data: dict[str, Any]) -> str:
    value = data.get("id")
    # Many apps number their users: an integer id is taken as its decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        data = {**data, "id": str(value)}
    return text_field(data, "id", max_length=MAX_ID)  # type: ignore[return-value]


def key_of(data: dict[str, Any]) -> str:
    key = data.get("key")
    if key is None or key == "":
        raise invalid("key", "key (the application's public key) is required.")
    if not isinstance(key, str):
        raise invalid("key", "key must be text.")
    return key


def unknown_key() -> ApiError:
    return ApiError(401, "unknown_key", "No application has this public key.", "key")


def application_and_user(
    data: dict[str, Any], read_id: Callable[[dict[str, Any]], str]
) -> tuple[Targeting, str, Visitor]:
    """The application (401 first, whatever else is wrong), the user id (400) and the user as
    the serve sees them, in one query (``lookup.lookup``)."""
    key = key_of(data)
    try:
        user_id = read_id(data)
    except ApiError:
        # An unknown key answers 401 before a bad id answers 400.
        if targeting.targeting_for_key(key) is None:
            raise unknown_key() from None
        raise
    found = lookup.lookup(key, user_id)
    if found is None:
        raise unknown_key()
    return found[0], user_id, found[1]


def user_hash(secret_key: str, user_id: str) -> str:
    """What the customer's server computes: hex HMAC-SHA256 of the user id with the secret key."""
    return hmac.new(secret_key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify(app: Targeting, user_id: str, data: dict[str, Any]) -> None:
    if not app.application.require_user_hash:
        return
    given = data.get("user_hash")
    # A hex digest is ASCII: anything else (a lone surrogate cannot even be encoded) is wrong.
    if (
        not isinstance(given, str)
        or not given.isascii()
        or not hmac.compare_digest(
            given.lower().encode(), user_hash(app.application.secret_key, user_id).encode()
        )
    ):
        raise ApiError(
            403,
            "identity_verification_failed",
            "This application requires user_hash: the hex HMAC-SHA256 of the user id with "
            "the application's secret key."
            + (" It is missing." if given is None else " It does not match."),
            "user_hash",
        )


def company_hash(secret_key: str, user_id: str, company_id: str) -> str:
    """What the customer's server computes for identify with a company: hex HMAC-SHA256 of the
    user id, a NUL character and the company id, with the secret key. Bound to the user, so a
    member cannot hand their company's hash to another user; the NUL (which no id may hold)
    keeps it apart from every ``user_hash`` and every other (user, company) pair."""
    message = f"{user_id}\x00{company_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def verify_company(app: Targeting, user_id: str, company_id: str, data: dict[str, Any]) -> None:
    """With identity verification on, identify naming a company must carry ``company_hash``:
    the user_hash proves who the user is, not which company the customer's server put them in,
    and a company's traits are read by all its users' targeting (docs/api.md)."""
    if not app.application.require_user_hash:
        return
    given = data.get("company_hash")
    if (
        not isinstance(given, str)
        or not given.isascii()
        or not hmac.compare_digest(
            given.lower().encode(),
            company_hash(app.application.secret_key, user_id, company_id).encode(),
        )
    ):
        raise ApiError(
            403,
            "identity_verification_failed",
            "This application requires company_hash with a company: the hex HMAC-SHA256 of "
            "the user id, a NUL character and the company id, with the application's secret "
            "key." + (" It is missing." if given is None else " It does not match."),
            "company_hash",
        )


def url_of(data: dict[str, Any], *, required: bool) -> str | None:
    url = text_field(data, "url", max_length=MAX_URL, required=required)
    if url is not None:
        try:
            parse_url(url)
        except ValueError:
            raise invalid("url", "url is not a valid URL.") from None
    return url


def known_user(visitor: Visitor, user_id: str) -> int:
    if visitor.id is None:
        raise ApiError(404, "unknown_user", f"No user {user_id!r}: identify the user first.", "id")
    return visitor.id
