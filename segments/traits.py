"""What a trait may be: key and value limits, and the type a new key is given. Pure Python."""

from __future__ import annotations

import math
import re
from typing import Any

from .coerce import BOOLEAN, DATE, NUMBER, STRING, parse_iso

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
MAX_TRAITS = 200
MAX_STRING = 2000
MAX_ID = 255
MAX_INT = 2**63 - 1


class TraitError(ValueError):
    """A trait that cannot be stored; ``field`` names it (``traits.plan``)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def check_key(key: Any, *, noun: str = "Trait", within: str = "traits") -> str:
    """``noun`` and ``within`` word the error for what the key names (an event's properties
    share the trait rules: "Property", ``events[0].properties``)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise TraitError(
            f"{noun} key {key!r} is invalid: 1-128 characters, starting with a letter or _, "
            "then letters, digits, _, - or .",
            f"{within}.{key}",
        )
    return key


def check_value(key: str, value: Any, *, noun: str = "Trait", within: str = "traits") -> Any:
    """A storable value: a JSON scalar within limits (None means: remove the trait)."""
    field = f"{within}.{key}"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise TraitError(f"{noun} {key!r}: the number is out of range.", field)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TraitError(f"{noun} {key!r}: the number must be finite.", field)
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise TraitError(f"{noun} {key!r}: text is longer than {MAX_STRING} characters.", field)
        if "\x00" in value:
            raise TraitError(f"{noun} {key!r}: text contains a NUL character.", field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TraitError(f"{noun} {key!r}: text is not valid Unicode.", field) from None
        return value
    kind = (
        "a list"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else (type(value).__name__)
    )
    raise TraitError(
        f"{noun} {key!r} is {kind}; {noun.lower()} values must be text, numbers, true/false "
        "or null.",
        field,
    )


def check_traits(traits: Any, *, noun: str = "Trait", within: str = "traits") -> dict[str, Any]:
    """``within``: the field the traits are (a company's: ``company.traits``), which errors
    name (``company.traits.seats``); ``noun`` words them ("Company trait")."""
    if not isinstance(traits, dict):
        raise TraitError(f"{within} must be a JSON object.", within)
    return {
        check_key(key, noun=noun, within=within): check_value(key, value, noun=noun, within=within)
        for key, value in traits.items()
    }


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str) and parse_iso(value) is not None:
        return DATE
    return STRING
