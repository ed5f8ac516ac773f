"""The OpenAPI 3.1 document of the snippet API and the management API, written by hand.

Why by hand and not generated (django-ninja, drf-spectacular): the endpoints are plain
Django views whose errors must keep our exact shape (``{"error": {"code", "message",
"field"}}`` with ``field`` a path such as ``definition.rules[2].value``, produced by the
actions' ValidationErrors), which a framework's own validation layer would answer in its
shape first; the snippet's hot path must stay a bare Django view; and a dependency
(pydantic with ninja, DRF with spectacular) for twelve paths costs more than this module.
tests/manage/test_openapi.py validates the document with openapi-spec-validator and checks
that every management URL is in it, so it cannot drift silently.
"""

from __future__ import annotations

from typing import Any

from segments.accounts import COUNT_OPERATORS, MAX_MEMBERS
from segments.behaviour import EVENT_NAME, EVENT_OPERATORS, EXPERIENCE_STATES, MAX_COUNT
from segments.operators import MAX_DAYS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, type_: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": type_},
        "description": description,
    }


def _query(name: str, type_: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": {"type": type_},
        "description": description,
    }


PAGE = [
    _query("limit", "integer", "Results per page, 1 to 500 (default 50)."),
    _query("cursor", "string", "The cursor from the previous page's `next` URL."),
]

AUTH_ERRORS = {
    "401": _error("No token, or an unknown or revoked token."),
    "404": _error("Not found in the token's application (another application's ids too)."),
}
WRITE_ERRORS = {
    **AUTH_ERRORS,
    "400": _error("Invalid JSON or an invalid field; `field` is its path in the body."),
    "403": _error("A viewer token, or a built-in segment."),
}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["results", "next"],
        "properties": {
            "results": {"type": "array", "items": _ref(item)},
            "next": {"type": ["string", "null"], "format": "uri"},
        },
    }


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["invalid_field"]},
                    "message": {"type": "string"},
                    "field": {
                        "type": "string",
                        "description": "The path of the faulty field in the body.",
                        "examples": ["definition.rules[2].rules[0].value"],
                    },
                    "used_by": {
                        "type": "object",
                        "description": "With 409 in_use: where the object is used.",
                        "properties": {
                            "segments": {"type": "array", "items": _ref("NamedId")},
                            "experiences": {"type": "array", "items": _ref("NamedId")},
                        },
                    },
                },
            }
        },
    },
    "NamedId": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "Definition": {
        "type": "object",
        "description": "A group: its nodes are all / any / none true (docs/segments.md).",
        "required": ["match", "rules"],
        "properties": {
            "match": {"enum": ["all", "any", "none"]},
            "rules": {"type": "array", "items": _ref("Node")},
        },
    },
    "Node": {
        "oneOf": [
            _ref("Rule"),
            _ref("SegmentCondition"),
            _ref("EventCondition"),
            _ref("ExperienceCondition"),
            _ref("CompanyTraitCondition"),
            _ref("CompanyUsersCondition"),
            _ref("Definition"),
        ]
    },
    "Rule": {
        "type": "object",
        "required": ["trait", "operator"],
        "additionalProperties": False,
        "properties": {
            "trait": {"type": "string"},
            "operator": {"type": "string", "examples": ["equals", "greater_than"]},
            "value": {"description": "Omitted for valueless operators (is_set...)."},
            "case_sensitive": {"type": "boolean", "default": False},
        },
    },
    "SegmentCondition": {
        "type": "object",
        "required": ["segment"],
        "properties": {"segment": {"type": "integer", "description": "A segment's id."}},
    },
    "EventCondition": {
        "type": "object",
        "description": (
            "What the user did: a count of an event (ever, or within the last within_days "
            "days) or the first / last time they did it. A window of D days is [now - D x 24 h, "
            "now]. A user who never did the event: at_least N (N >= 1) and the time operators "
            "are false, at_most N and exactly 0 are true."
        ),
        "required": ["event", "operator", "value"],
        "additionalProperties": False,
        "properties": {
            "event": {
                "type": "string",
                "pattern": f"^{EVENT_NAME.pattern}$",
                "examples": ["project_created"],
            },
            "operator": {"enum": list(EVENT_OPERATORS)},
            "value": {
                "type": "integer",
                "minimum": 0,
                "maximum": max(MAX_COUNT, MAX_DAYS),
                "description": (
                    f"A count of times, 0 to {MAX_COUNT:,} (at_least, at_most, exactly); a "
                    f"number of days, 1 to {MAX_DAYS:,} (the first / last operators)."
                ),
            },
            "within_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_DAYS,
                "description": "Counts only: the window in days. Omitted: ever.",
            },
        },
    },
    "ExperienceCondition": {
        "type": "object",
        "description": (
            "What the user saw: true when they have that state for the experience, at any "
            "time (seen: shown at least once). Negate it in a none group."
        ),
        "required": ["experience", "state"],
        "additionalProperties": False,
        "properties": {
            "experience": {
                "type": "integer",
                "description": "An experience of this application (deleting it is refused).",
            },
            "state": {"enum": list(EXPERIENCE_STATES)},
        },
    },
    "CompanyTraitCondition": {
        "type": "object",
        "description": (
            "A rule on the user's company's traits, as a Rule is on the user's: company_trait "
            "names a company trait of this application. A user without a company has every "
            "company trait missing (is_not_set and the negated operators are true)."
        ),
        "required": ["company_trait", "operator"],
        "additionalProperties": False,
        "properties": {
            "company_trait": {"type": "string", "examples": ["plan"]},
            "operator": {"type": "string", "examples": ["equals", "greater_than"]},
            "value": {"description": "Omitted for valueless operators (is_set...)."},
            "case_sensitive": {"type": "boolean", "default": False},
        },
    },
    "CompanyUsersCondition": {
        "type": "object",
        "description": (
            "How many users of the user's company (the user included) are in a segment: at "
            "least / at most / exactly value. A user without a company counts 0. The "
            "counted segment is a reference: the same cycle and chain checks apply."
        ),
        "required": ["company_users", "operator", "value"],
        "additionalProperties": False,
        "properties": {
            "company_users": {
                "type": "object",
                "required": ["segment"],
                "additionalProperties": False,
                "properties": {"segment": {"type": "integer", "description": "A segment's id."}},
            },
            "operator": {"enum": list(COUNT_OPERATORS)},
            "value": {"type": "integer", "minimum": 0, "maximum": MAX_MEMBERS},
        },
    },
    "Trait": {
        "type": "object",
        "required": ["key", "type"],
        "properties": {
            "key": {"type": "string"},
            "type": {"enum": ["string", "number", "boolean", "date"]},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "auto_discovered": {"type": "boolean", "readOnly": True},
        },
    },
    "TraitPatch": {
        "type": "object",
        "properties": {
            "type": {"enum": ["string", "number", "boolean", "date"]},
            "label": {"type": "string"},
            "description": {"type": "string"},
        },
    },
    "Segment": {
        "type": "object",
        "required": ["id", "name", "description", "definition", "is_builtin", "warnings"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "definition": _ref("Definition"),
            "version": {
                "type": "integer",
                "readOnly": True,
                "description": "The latest version's number (History); send it with a PUT.",
            },
            "is_builtin": {"type": "boolean", "readOnly": True},
            "warnings": {
                "type": "array",
                "readOnly": True,
                "description": "Lint: never blocks a save. Empty in lists.",
                "items": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "created_at": {"type": "string", "format": "date-time", "readOnly": True},
            "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        },
    },
    "SegmentInput": {
        "type": "object",
        "required": ["name", "definition"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "definition": _ref("Definition"),
            "version": {
                "type": "integer",
                "minimum": 0,
                "description": "PUT only, optional: the version you read; a newer one answers "
                "409 stale_version and nothing changes.",
            },
        },
    },
    "Member": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "traits": {"type": "object"}},
    },
    "Count": {
        "type": "object",
        "required": ["count"],
        "properties": {"count": {"type": "integer"}},
    },
    "Evaluation": {
        "type": "object",
        "required": ["definition", "user"],
        "properties": {
            "definition": _ref("Definition"),
            "user": {
                "oneOf": [
                    {
                        "type": "object",
                        "description": (
                            "A stored user: their traits, and what they did and saw as it "
                            "stood at now (their tracked and experience events up to now)."
                        ),
                        "required": ["id"],
                        "properties": {"id": {"type": "string", "examples": ["user-42"]}},
                    },
                    {
                        "type": "object",
                        "description": "Inline traits: a user with no events.",
                        "required": ["traits"],
                        "properties": {"traits": {"type": "object"}},
                    },
                ]
            },
            "company": {
                "type": "object",
                "description": (
                    "With inline traits only (a stored user's company is read with them, its "
                    "users counted at now): a made-up company. Left out: no company."
                ),
                "additionalProperties": False,
                "properties": {
                    "traits": {"type": "object"},
                    "users": {
                        "type": "object",
                        "description": (
                            "How many of its users are in each segment, by segment id "
                            '({"12": 3}); a segment left out counts 0.'
                        ),
                        "additionalProperties": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_MEMBERS,
                        },
                    },
                },
            },
            "now": {
                "type": "string",
                "format": "date-time",
                "description": "With its offset; default: the server's time.",
            },
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["path", "matches"],
        "properties": {
            "path": {"type": "string", "examples": ["definition.rules[1]"]},
            "matches": {"type": "boolean"},
            "node": {"description": "The node (not a group), as in the definition."},
            "actual": {
                "description": (
                    "Event and experience nodes: what the user did or saw, as it stood at now. "
                    "Company nodes: the company's value of the trait, or how many of its "
                    "users are in the counted segment."
                ),
                "oneOf": [
                    _ref("EventActual"),
                    _ref("ExperienceActual"),
                    _ref("CompanyTraitActual"),
                    _ref("CompanyUsersActual"),
                ],
            },
            "match": {"enum": ["all", "any", "none"]},
            "rules": {"type": "array", "items": _ref("Verdict")},
        },
    },
    "EventActual": {
        "type": "object",
        "required": ["count", "first", "last"],
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer", "description": "Times ever, up to now."},
            "first": {"type": ["string", "null"], "format": "date-time"},
            "last": {"type": ["string", "null"], "format": "date-time"},
            "count_in_window": {
                "type": "integer",
                "description": "With within_days: times within the node's window.",
            },
        },
    },
    "CompanyTraitActual": {
        "type": "object",
        "required": ["value"],
        "additionalProperties": False,
        "properties": {"value": {"description": "As stored; null: not set, or no company."}},
    },
    "CompanyUsersActual": {
        "type": "object",
        "required": ["count"],
        "additionalProperties": False,
        "properties": {"count": {"type": "integer", "description": "0 without a company."}},
    },
    "ExperienceActual": {
        "type": "object",
        "description": "The first time of each state (null: never).",
        "required": list(EXPERIENCE_STATES),
        "additionalProperties": False,
        "properties": {
            state: {"type": ["string", "null"], "format": "date-time"}
            for state in EXPERIENCE_STATES
        },
    },
    "Experience": {
        "type": "object",
        "required": ["name", "kind", "content"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "version": {
                "type": "integer",
                "minimum": 0,
                "description": "Its latest version's number (History). On a PUT, optional: "
                "the version you read; a newer one answers 409 stale_version, nothing changed.",
            },
            "name": {"type": "string"},
            "kind": {"enum": ["tour", "checklist", "tooltip", "banner"]},
            "status": {"enum": ["draft", "published"], "readOnly": True},
            "content": {"type": "object", "description": "Per kind: docs/experiences.md."},
            "segments": {"type": "array", "items": {"type": "integer"}},
            "url_include": {"type": "array", "items": {"type": "string"}},
            "url_exclude": {"type": "array", "items": {"type": "string"}},
            "frequency": {"type": "string"},
            "priority": {"type": "integer", "minimum": -1000, "maximum": 1000},
            "starts_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "Served from this moment (ISO 8601 with its offset; answered in "
                "UTC). null: from when it is published. Absent on a PUT: unchanged.",
            },
            "ends_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "Not served from this moment on; after starts_at. null: no end.",
            },
            "goal_kind": {
                "enum": ["none", "completed", "event", "page"],
                "description": "What counts as a conversion: docs/experiences.md, Goals.",
            },
            "goal_event": {"type": "string", "description": "goal_kind event: its name."},
            "goal_url": {"type": "string", "description": "goal_kind page: a URL pattern."},
            "conversion_window_days": {"type": "integer", "minimum": 1, "maximum": 90},
            "holdout_percent": {"type": "integer", "minimum": 0, "maximum": 50},
            "translations": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "description": "Per other enabled language, texts by field path "
                '({"pt": {"text": "..."}}): docs/experiences.md, Languages.',
            },
        },
    },
    "Interval": {
        "type": ["object", "null"],
        "properties": {
            "estimate": {"type": "number"},
            "low": {"type": "number"},
            "high": {"type": "number"},
        },
    },
    "GroupResult": {
        "type": "object",
        "properties": {
            "eligible": {"type": "integer"},
            "conversions": {"type": "integer"},
            "rate": {"type": ["number", "null"]},
        },
    },
    "Results": {
        "type": "object",
        "description": "docs/experiences.md, Goals, holdouts and how to read the results.",
        "properties": {
            "experience": {"type": "integer"},
            "goal_kind": {"type": "string"},
            "goal_event": {"type": "string"},
            "goal_url": {"type": "string"},
            "conversion_window_days": {"type": "integer"},
            "holdout_percent": {"type": "integer"},
            "treatment": {"$ref": "#/components/schemas/GroupResult"},
            "holdout": {"$ref": "#/components/schemas/GroupResult"},
            "enough_data": {"type": "boolean"},
            "thresholds": {"type": "object"},
            "confidence": {"type": "number"},
            "absolute_lift": {"$ref": "#/components/schemas/Interval"},
            "relative_lift": {"$ref": "#/components/schemas/Interval"},
        },
    },
    "ServedExperience": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "frequency": {"type": "string"},
            "priority": {"type": "integer"},
            "content": {"type": "object"},
        },
    },
    "Identify": {
        "type": "object",
        "required": ["key", "id"],
        "properties": {
            "key": {"type": "string"},
            "id": {"type": ["string", "integer"]},
            "traits": {"type": "object"},
            "company": {
                "type": ["object", "null"],
                "description": "The user's company, created or its traits merged; the user "
                "belongs to it from now on. null: the user leaves theirs; absent: unchanged.",
                "required": ["id"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": ["string", "integer"]},
                    "traits": {"type": "object"},
                },
            },
            "url": {"type": "string"},
            "user_hash": {"type": "string"},
            "company_hash": {
                "type": "string",
                "description": "With identity verification and a company: hex HMAC-SHA256 of "
                "the user id, a NUL character and the company id, with the secret key.",
            },
        },
    },
    "EventInput": {
        "type": "object",
        "required": ["key", "id", "experience", "type"],
        "properties": {
            "key": {"type": "string"},
            "id": {"type": ["string", "integer"]},
            "experience": {"type": "integer"},
            "type": {"enum": ["shown", "step", "dismissed", "completed"]},
            "step": {"type": "integer", "minimum": 0, "maximum": 10000},
            "user_hash": {"type": "string"},
        },
    },
    "TrackInput": {
        "type": "object",
        "required": ["key", "id", "events"],
        "properties": {
            "key": {"type": "string"},
            "id": {"type": ["string", "integer"]},
            "user_hash": {"type": "string"},
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {
                            "type": "string",
                            "pattern": f"^{EVENT_NAME.pattern}$",
                        },
                        "timestamp": {
                            "type": ["string", "number"],
                            "description": "ISO 8601, or Unix seconds (milliseconds above "
                            "10^11); default: the server's time",
                        },
                        "properties": {"type": "object", "maxProperties": 200},
                    },
                },
            },
        },
    },
}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


MANAGED = {"security": [{"token": []}], "tags": ["management"]}
SNIPPET = {"security": [], "tags": ["snippet"]}
ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "For If-Match."}}
SEGMENT_ID = _path_param("id", "integer", "The segment's id.")
EXPERIENCE_ID = _path_param("id", "integer", "The experience's id.")
TRAIT_KEY = _path_param("key", "string", "The trait's key.")
COMPANY_TRAIT_KEY = _path_param("key", "string", "The company trait's key.")


def _trait_paths(route: str, noun: str, key: dict[str, Any]) -> dict[str, Any]:
    """/traits and /company-traits: the same operations on the users' trait definitions and
    on the companies'."""
    return {
        f"/api/v1/manage/{route}": {
            "get": _op(
                f"List {noun} definitions",
                {"200": _json(_page_of("Trait"), f"Every {noun}, by key."), **AUTH_ERRORS},
                **MANAGED,
            ),
            "post": _op(
                f"Define a {noun}",
                {"201": _json(_ref("Trait"), "Created."), **WRITE_ERRORS},
                requestBody=_body(_ref("Trait")),
                **MANAGED,
            ),
        },
        f"/api/v1/manage/{route}/{{key}}": {
            "parameters": [key],
            "get": _op(
                f"Read a {noun}",
                {"200": _json(_ref("Trait"), f"The {noun}."), **AUTH_ERRORS},
                **MANAGED,
            ),
            "patch": _op(
                f"Change a {noun}'s type, label or description",
                {"200": _json(_ref("Trait"), "Changed."), **WRITE_ERRORS},
                requestBody=_body(_ref("TraitPatch")),
                **MANAGED,
            ),
            "delete": _op(
                f"Delete a {noun}",
                {
                    "204": {"description": "Deleted."},
                    "409": _error("Used by segments (listed in used_by)."),
                    **WRITE_ERRORS,
                },
                **MANAGED,
            ),
        },
    }


def _with_etag(description: str) -> dict[str, Any]:
    return {**_json(_ref("Segment"), description), "headers": ETAG_HEADER}


def _experience_action(summary: str) -> dict[str, Any]:
    return _op(
        summary,
        {"200": _json(_ref("Experience"), "The experience."), **WRITE_ERRORS},
        parameters=[EXPERIENCE_ID],
        **MANAGED,
    )


PATHS: dict[str, Any] = {
    "/api/v1/identify": {
        "post": _op(
            "Create or update a user; with url, also their experiences",
            {
                "200": _json({"type": "object"}, "The user's stored traits (and experiences)."),
                "400": _error("Invalid JSON or field."),
                "401": _error("Unknown public key."),
                "403": _error("Identity verification failed."),
                "413": _error("Body over 64 KB."),
                "429": _error("Rate limited."),
            },
            requestBody=_body(_ref("Identify")),
            **SNIPPET,
        )
    },
    "/api/v1/experiences": {
        "get": _op(
            "The experiences this user should see on this URL",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "experiences": {"type": "array", "items": _ref("ServedExperience")},
                        },
                    },
                    "Published experiences, highest priority first.",
                ),
                "400": _error("A missing or invalid parameter."),
                "401": _error("Unknown public key."),
                "404": _error("Unknown user."),
            },
            parameters=[
                _query("key", "string", "The public key.", True),
                _query("id", "string", "Your user id.", True),
                _query("url", "string", "The page's URL.", True),
                _query("user_hash", "string", "With identity verification."),
            ],
            **SNIPPET,
        )
    },
    "/api/v1/events": {
        "post": _op(
            "Record what the user did with an experience",
            {
                "201": _json({"type": "object"}, "Recorded."),
                "400": _error("Invalid JSON or field."),
                "401": _error("Unknown public key."),
                "404": _error("Unknown user or experience."),
            },
            requestBody=_body(_ref("EventInput")),
            **SNIPPET,
        )
    },
    "/api/v1/track": {
        "post": _op(
            "Record events of your app for one user: all of them, or none",
            {
                "200": _json(
                    {"type": "object", "properties": {"accepted": {"type": "integer"}}},
                    "How many events were stored.",
                ),
                "400": _error("Invalid JSON or field (events[i].name, events[i].timestamp, ...)."),
                "401": _error("Unknown public key."),
                "403": _error("Identity verification failed."),
                "413": _error("Body over 64 KB."),
                "429": _error("Rate limited."),
            },
            requestBody=_body(_ref("TrackInput")),
            **SNIPPET,
        )
    },
    **_trait_paths("traits", "trait", TRAIT_KEY),
    **_trait_paths("company-traits", "company trait", COMPANY_TRAIT_KEY),
    "/api/v1/manage/segments": {
        "get": _op(
            "List segments",
            {"200": _json(_page_of("Segment"), "One page, by id."), **AUTH_ERRORS},
            parameters=PAGE,
            **MANAGED,
        ),
        "post": _op(
            "Create a segment",
            {"201": _with_etag("Created, with its warnings."), **WRITE_ERRORS},
            requestBody=_body(_ref("SegmentInput")),
            **MANAGED,
        ),
    },
    "/api/v1/manage/segments/{id}": {
        "parameters": [SEGMENT_ID],
        "get": _op("Read a segment", {"200": _with_etag("The segment."), **AUTH_ERRORS}, **MANAGED),
        "put": _op(
            "Change a segment (fields given are changed)",
            {
                "200": _with_etag("Changed."),
                "409": _error("version is not the latest (stale_version): nothing changed."),
                "412": _error("If-Match is not the current ETag: nothing changed."),
                **WRITE_ERRORS,
            },
            parameters=[
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The ETag you read; a stale one answers 412.",
                }
            ],
            requestBody=_body({**_ref("SegmentInput")}),
            **MANAGED,
        ),
        "delete": _op(
            "Delete a segment",
            {
                "204": {"description": "Deleted."},
                "409": _error("Used by segments or experiences (listed in used_by)."),
                **WRITE_ERRORS,
            },
            **MANAGED,
        ),
    },
    "/api/v1/manage/segments/{id}/count": {
        "parameters": [SEGMENT_ID],
        "get": _op(
            "Count a segment's users",
            {"200": _json(_ref("Count"), "Now."), **AUTH_ERRORS},
            **MANAGED,
        ),
    },
    "/api/v1/manage/segments/{id}/members": {
        "parameters": [SEGMENT_ID],
        "get": _op(
            "A segment's users, a page at a time",
            {"200": _json(_page_of("Member"), "One page."), **AUTH_ERRORS},
            parameters=PAGE,
            **MANAGED,
        ),
    },
    "/api/v1/manage/count": {
        "post": _op(
            "Count the users of a definition, saving nothing",
            {"200": _json(_ref("Count"), "Now."), **WRITE_ERRORS},
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["definition"],
                    "properties": {"definition": _ref("Definition")},
                }
            ),
            **MANAGED,
        ),
    },
    "/api/v1/manage/evaluate": {
        "post": _op(
            "Dry-run a definition against a stored user (traits and history at now) or inline "
            "traits",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["matches", "explain", "company"],
                        "properties": {
                            "matches": {"type": "boolean"},
                            "explain": {"type": "array", "items": _ref("Verdict")},
                            "company": {
                                "description": (
                                    "The company the definition was evaluated with (id: a "
                                    "stored user's); null: none."
                                ),
                                "oneOf": [
                                    {"type": "null"},
                                    {
                                        "type": "object",
                                        "required": ["traits"],
                                        "properties": {
                                            "id": {"type": "string"},
                                            "traits": {"type": "object"},
                                        },
                                    },
                                ],
                            },
                        },
                    },
                    "The answer, node by node.",
                ),
                **WRITE_ERRORS,
            },
            requestBody=_body(_ref("Evaluation")),
            **MANAGED,
        ),
    },
    "/api/v1/manage/experiences": {
        "get": _op(
            "List experiences",
            {"200": _json(_page_of("Experience"), "One page, by id."), **AUTH_ERRORS},
            parameters=PAGE,
            **MANAGED,
        ),
        "post": _op(
            "Create a draft experience",
            {"201": _json(_ref("Experience"), "Created."), **WRITE_ERRORS},
            requestBody=_body(_ref("Experience")),
            **MANAGED,
        ),
    },
    "/api/v1/manage/experiences/{id}": {
        "parameters": [EXPERIENCE_ID],
        "get": _op(
            "Read an experience",
            {"200": _json(_ref("Experience"), "It."), **AUTH_ERRORS},
            **MANAGED,
        ),
        "put": _op(
            "Change an experience (fields given are changed; the kind is fixed)",
            {
                "200": _json(_ref("Experience"), "Changed."),
                "409": _error("version is not the latest (stale_version): nothing changed."),
                **WRITE_ERRORS,
            },
            requestBody=_body({"type": "object"}),
            **MANAGED,
        ),
        "delete": _op(
            "Delete an experience and its events",
            {
                "204": {"description": "Deleted."},
                "409": _error("Named by segments' rules (listed in used_by): nothing deleted."),
                **WRITE_ERRORS,
            },
            **MANAGED,
        ),
    },
    "/api/v1/manage/experiences/{id}/publish": {
        "post": _experience_action("Publish (serve from now on)")
    },
    "/api/v1/manage/experiences/{id}/unpublish": {
        "post": _experience_action("Unpublish (back to draft)")
    },
    "/api/v1/manage/experiences/{id}/results": {
        "get": _op(
            "Results: eligible users, conversions and lifts per group",
            {"200": _json(_ref("Results"), "The results."), **AUTH_ERRORS},
            parameters=[EXPERIENCE_ID],
            **MANAGED,
        )
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callout API",
            "version": "1",
            "description": (
                "The snippet API (public key, called from the browser) and the management "
                "API (bearer token, from your code and CI). See docs/api.md."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "snippet", "description": "Called by static/callout.js."},
            {"name": "management", "description": "Segments as code: Authorization: Bearer."},
        ],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from Settings > API tokens.",
                }
            },
        },
    }
