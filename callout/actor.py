"""Who is writing, and through what: the actor that versions and the audit log record.

Set once where a write enters (``ActorMiddleware`` for Engage and the admin, the management
API's authentication, a management command's ``acting``) and read by the actions that record.
A context variable rather than an argument to every action: a write has one actor however
many actions it calls, and an entry point that forgets to say who still records "system"
instead of failing or recording nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class Actor:
    """``via``: engage, admin, api, import, command or system. ``user`` a signed-in person
    (Engage, admin), ``token`` a management API token (api)."""

    via: str = "system"
    user: Any = None
    token: Any = None

    @property
    def person(self) -> Any:
        """The signed-in user, or None (anonymous, a token, a command)."""
        user = self.user
        return user if user is not None and user.is_authenticated else None

    @property
    def name(self) -> str:
        """What a product manager reads in a history or the audit log."""
        if self.token is not None:
            return f"API token “{self.token.name}”"
        if self.person is not None:
            return self.person.get_username()
        return {"import": "an import", "command": "a command"}.get(self.via, "the system")


SYSTEM = Actor()
_current: ContextVar[Actor | None] = ContextVar("callout_actor", default=None)


def current() -> Actor:
    return _current.get() or SYSTEM


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Writes inside the block are ``actor``'s."""
    reset = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(reset)


class ActorMiddleware:
    """Engage's and the admin's writes are the signed-in user's. After AuthenticationMiddleware;
    ``request.user`` stays lazy, so requests that write nothing query nothing for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        via = "admin" if request.path.startswith("/admin/") else "engage"
        with acting(Actor(via=via, user=getattr(request, "user", None))):
            return self.get_response(request)
