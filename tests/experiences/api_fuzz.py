"""Generated requests for the snippet's JSON API (docs/api.md) and what every answer must be.

``calls(world)`` draws one request: a valid call of one endpoint (identify, experiences,
events) for an application with or without identity verification, then perhaps mutated field
by field (a field dropped, given a wrong type, a value at or past a documented limit, NUL
bytes, lone surrogates, huge numbers, deep JSON, unknown keys), sent with any method and body
type; or raw garbage. ``Fuzz.send`` sends it through Django's test client and records what
breaks a promise of docs/api.md: any 5xx, a 4xx that is not our JSON error with CORS, a
refused request that wrote a row, a valid call that was refused.

Used by tests/experiences/test_fuzz.py (a few thousand calls) and, through it, by
benchmarks/fuzz_api.py (ten thousand or more, with the figures printed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Max
from hypothesis import strategies as st

from experiences.models import Event, TargetingVersion
from segments.models import EndUser, TraitDefinition

IDENTIFY, EXPERIENCES, EVENTS = "/api/v1/identify", "/api/v1/experiences", "/api/v1/events"
METHOD = {IDENTIFY: "POST", EXPERIENCES: "GET", EVENTS: "POST"}
SUCCESS = {IDENTIFY: 200, EXPERIENCES: 200, EVENTS: 201}
# docs/api.md, "Errors": every code the API answers, with its status.
ERROR_STATUS = {
    "invalid_json": 400,
    "invalid_field": 400,
    "invalid_request": 400,
    "unknown_key": 401,
    "identity_verification_failed": 403,
    "unknown_user": 404,
    "unknown_experience": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "body_too_large": 413,
    "request_too_long": 414,
    "rate_limited": 429,
    "headers_too_large": 431,
    "unavailable": 503,
}
# The traits every fuzzed application defines, with a valid value of each type.
TRAITS = {
    "plan": st.sampled_from(["free", "pro", "enterprise", "x" * 2000, "é" * 2000, ""]),
    "teamSize": st.integers(0, 500),
    "signupDate": st.sampled_from(["2026-11-20", "2026-11-20T14:30:00Z", "2020-06-09"]),
    "beta": st.booleans(),
}
URLS = [
    "https://app.acme.com/dashboard",
    "/dashboard?tab=1#top",
    "https://app.acme.com/projects/42/settings",
    "/caf%C3%A9",
    "http://localhost:8000/docs/a/b",
]
# At the documented 4,096 characters (the test client has no request-line limit; gunicorn's is
# tests/callout/test_gunicorn.py's).
LONG_URLS = ["/" + "a" * 4095, "https://app.acme.com/" + "é" * 4075, "/dashboard?q=" + "%" * 4083]
EVENT_TYPES = ["shown", "step", "dismissed", "completed"]


@dataclass(frozen=True)
class App:
    key: str
    secret: str
    verified: bool  # requires user_hash
    experiences: tuple[int, ...]  # published
    users: tuple[str, ...]  # identified before the fuzz


@dataclass(frozen=True)
class World:
    apps: tuple[App, ...]
    foreign_experience: int  # published, of an application the fuzz never names


def build_world() -> World:
    """Two applications, one requiring identity verification, each with trait definitions,
    segments, published experiences and identified users; and a third one's experience."""
    from experiences.models import Experience
    from tests.factories import ApplicationFactory, PublishedExperienceFactory, segment_with_rules

    apps = []
    for verified in (False, True):
        application = ApplicationFactory(require_user_hash=verified)
        free = segment_with_rules(
            application,
            "Free",
            ("plan", "string", "equals", "free"),
            ("teamSize", "number", "gt", 2),
        )
        beta = segment_with_rules(application, "Beta", ("beta", "boolean", "is_true", None))
        segment_with_rules(application, "Recent", ("signupDate", "date", "is_set", None))
        experiences = [
            PublishedExperienceFactory(
                application=application, segments=[free], url_include=["/dashboard"]
            ),
            PublishedExperienceFactory(
                application=application, segments=[beta], frequency="every_time"
            ),
            PublishedExperienceFactory(
                application=application,
                kind=Experience.Kind.TOOLTIP,
                content={"selector": "#save", "body": "Saves it."},
                url_exclude=["/docs/**"],
            ),
        ]
        users = tuple(f"known-{n}" for n in range(4))
        for n, user_id in enumerate(users):
            EndUser.objects.create(
                application=application, external_id=user_id, traits={"plan": "free", "teamSize": n}
            )
        apps.append(
            App(
                key=application.public_key,
                secret=application.secret_key,
                verified=verified,
                experiences=tuple(e.pk for e in experiences),
                users=users,
            )
        )
    foreign = PublishedExperienceFactory(application=ApplicationFactory())
    return World(apps=tuple(apps), foreign_experience=foreign.pk)


def user_hash(app: App, user_id: Any) -> str:
    text = str(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else user_id
    if not isinstance(text, str):
        return "0" * 64
    message = text.encode("utf-8", "surrogatepass")
    return hmac.new(app.secret.encode(), message, hashlib.sha256).hexdigest()


# --- Values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put as it is in place of a value: what ``json.dumps`` cannot write (deep
    nesting, numbers past a float, ``1E2``, ``-0``)."""

    text: str


def _deep(kind: str, depth: int) -> Raw:
    if kind == "array":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a": ' * depth + "1" + "}" * depth)


LIMIT_LENGTHS = [0, 1, 127, 128, 129, 254, 255, 256, 1999, 2000, 2001, 4095, 4096, 4097, 9000]
TRICKY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "a\udfffb",
    "\ud83d\ude00",
    "é",
    "\u202e",
    "\ufeff",
    "null",
    "0",
    "-1",
    "1e999",
    "NaN",
    "<script>",
    "%00",
    "%zz",
    "../../etc/passwd",
    "pk_",
    "known-0",
    "\r\n",
]
HUGE_NUMBERS = [
    2**31,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    -1,
    0,
    1.5,
    -0.0,
    1e308,
    5e-324,
    float("inf"),  # json.dumps writes Infinity: not JSON
    float("nan"),
]
RAW_NUMBERS = ["1e999", "-1e999", "1E2", "-0", "1" * 4300, "1" * 4301, "0." + "1" * 1000, "1e-999"]


def pick(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as likely (``a | b`` flattens nested choices, so that a
    short list of edge cases beside ``weird`` would be drawn once in dozens)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


scalars = pick(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(HUGE_NUMBERS),
    st.builds(Raw, st.sampled_from(RAW_NUMBERS)),
    st.text(max_size=12),
    st.sampled_from(TRICKY_TEXT),
    st.builds(
        lambda char, n: char * n,
        st.sampled_from(["a", "é", "\U0001f600", "\x00", "/", "%", "\ud800"]),
        st.sampled_from(LIMIT_LENGTHS),
    ),
)
weird = pick(
    scalars,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=6,
    ),
    st.builds(_deep, st.sampled_from(["array", "object"]), st.sampled_from([20, 900, 5000])),
)
trait_keys = pick(
    st.sampled_from(list(TRAITS)),
    st.sampled_from(["PLAN", "_x", "a.b-c", "9lives", "a b", "", "k" * 128, "k" * 129, "é"]),
    st.text(max_size=10),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)


@st.composite
def valid_traits(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(list(TRAITS)), unique=True, max_size=4))
    return {key: draw(st.none() | TRAITS[key]) for key in keys}


# --- Calls -------------------------------------------------------------------------------


@dataclass
class Call:
    """One request: ``fields`` encoded as JSON for a body or as a query string, unless ``body``
    or ``query`` give the raw text."""

    method: str
    path: str
    fields: dict[str, Any] | None = None
    body: bytes | None = None
    query: str | None = None
    content_type: str = "text/plain"
    encoding: str = "ascii-json"
    headers: dict[str, str] = field(default_factory=dict)
    valid: bool = False  # a call docs/api.md says succeeds
    app: App | None = None
    user_id: Any = None
    mutations: list[str] = field(default_factory=list)

    def describe(self) -> str:
        shown = self.body if self.body is not None else self.fields
        text = repr(shown)
        if len(text) > 300:
            text = text[:300] + f"... ({len(text)} characters)"
        return (
            f"{self.method} {self.path} ({self.content_type}, {self.encoding}) query={self.query!r}"
            f" headers={self.headers} {text}"
        )


def one_in(n: int, draw: st.DrawFn) -> bool:
    """True about once in n draws: a middle value, as Hypothesis draws an integer's bounds far
    more often than the values between."""
    return draw(st.integers(0, n - 1)) == n // 2


@st.composite
def valid_call(draw: st.DrawFn, world: World) -> Call:
    """A call docs/api.md says succeeds: a known key, right user_hash, limits kept."""
    app = draw(st.sampled_from(world.apps))
    path = draw(st.sampled_from(list(METHOD)))
    if path == IDENTIFY:
        user_id: Any = draw(
            pick(
                st.sampled_from(app.users),
                st.sampled_from([f"u-{n}" for n in range(8)]),
                st.integers(0, 10**9),
                st.sampled_from([-1, 2**63, 10**254, "x" * 255, "é" * 255, " ", "\U0001f600"]),
                st.text(
                    st.characters(codec="utf-8", exclude_characters="\x00"),
                    min_size=1,
                    max_size=20,
                ),
            )
        )
        fields: dict[str, Any] = {"key": app.key, "id": user_id}
        if draw(st.booleans()):
            fields["traits"] = draw(valid_traits())
        if draw(st.booleans()):
            fields["url"] = draw(st.sampled_from(URLS + LONG_URLS))
    else:
        user_id = draw(st.sampled_from(app.users))
        fields = {"key": app.key, "id": user_id}
        if path == EXPERIENCES:
            fields["url"] = draw(st.sampled_from(URLS + LONG_URLS))
        else:
            kind = draw(st.sampled_from(EVENT_TYPES))
            fields |= {"experience": draw(st.sampled_from(app.experiences)), "type": kind}
            if kind == "step" or draw(st.booleans()):
                fields["step"] = draw(st.integers(0, 10_000))
    if app.verified or draw(st.booleans()):  # ignored when verification is off
        fields["user_hash"] = user_hash(app, user_id)
    return Call(METHOD[path], path, fields, valid=True, app=app, user_id=user_id)


FIELDS = ["key", "id", "traits", "url", "user_hash", "experience", "type", "step"]


@st.composite
def mutation(draw: st.DrawFn, call: Call, world: World) -> None:
    """Breaks (or perhaps keeps) one promise of the call's fields, in place."""
    fields = call.fields
    assert fields is not None and call.app is not None
    how = draw(
        st.sampled_from(
            ["drop", "retype", "retype", "unknown", "trait", "traits", "hash", "id", "reference"]
        )
    )
    call.mutations.append(how)
    if how == "drop" and fields:
        del fields[draw(st.sampled_from(sorted(fields)))]
    elif how == "retype":
        fields[draw(st.sampled_from(FIELDS))] = draw(weird)
    elif how == "unknown":
        fields[draw(pick(st.text(max_size=8), st.sampled_from(["__proto__", "Key", "id "])))] = (
            draw(weird)
        )
    elif how == "trait":
        traits = fields.get("traits")
        traits = dict(traits) if isinstance(traits, dict) else {}
        traits[draw(trait_keys)] = draw(pick(weird, *TRAITS.values()))
        fields["traits"] = traits
    elif how == "traits":  # at and past the counts docs/api.md allows
        n = draw(st.sampled_from([199, 200, 201, 300]))
        prefix = draw(st.sampled_from(["t", "plan", "x_"]))
        fields["traits"] = {f"{prefix}{i}": i for i in range(n)}
        # A user no valid call names: a valid call's few traits must always fit.
        fields["id"] = "many-traits"
        if call.app.verified:
            fields["user_hash"] = user_hash(call.app, "many-traits")
    elif how == "hash":
        fields["user_hash"] = draw(
            pick(
                weird,
                st.sampled_from(
                    [
                        user_hash(call.app, call.user_id).upper(),
                        user_hash(call.app, "someone-else"),
                        user_hash(call.app, call.user_id)[:-1],
                        user_hash(call.app, call.user_id) + "0",
                        "\ud800",
                        "é" * 64,
                        "",
                    ]
                ),
            )
        )
    elif how == "id":
        odd_ids = ["known-0", "nobody", " known-0", "KNOWN-0", "known-0\x00"]
        fields["id"] = draw(pick(st.sampled_from(odd_ids), weird))
        if call.app.verified and draw(st.booleans()):  # the hash of that id: only the id is odd
            fields["user_hash"] = user_hash(call.app, fields["id"])
    else:  # another application's key or experience, a key never issued
        other = draw(st.sampled_from(world.apps))
        target = draw(st.sampled_from(["key", "experience"]))
        fields[target] = draw(
            st.sampled_from(
                [other.key, "pk_nope", "pk_" + "a" * 100, "sk_" + other.secret[3:], other.secret]
            )
            if target == "key"
            else st.sampled_from([world.foreign_experience, *other.experiences, 0, -1, 2**63])
        )
    call.valid = False


# Bodies the API cannot read: "raw-surrogates" writes a lone surrogate as the bytes UTF-8 would
# give it (invalid UTF-8), where a browser's JSON.stringify writes the escape "\\ud800".
NOT_UTF8 = ["raw-surrogates", "utf-16", "bom", "latin-1"]
_SURROGATE = re.compile("[\ud800-\udfff]")


@st.composite
def transport(draw: st.DrawFn, call: Call) -> None:
    """How the call travels: method, body type and encoding, headers; perhaps not as
    documented (which refuses it, unless it is only another accepted body type)."""
    if one_in(20, draw):  # no endpoint: our JSON 404
        call.path = draw(
            st.sampled_from(
                [
                    call.path + "/",
                    call.path.replace("/v1/", "/v1/E"),
                    call.path + "/x",
                    "/api/v1/",
                    "/api/v1/identif",
                ]
            )
        )
        call.valid = False
    if one_in(6, draw):
        call.method = draw(
            st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"])
        )
    call.content_type = draw(
        st.sampled_from(
            [
                "text/plain",
                "text/plain;charset=UTF-8",
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=xyz",
                "application/octet-stream",
                "",
            ]
        )
    )
    accepted = call.content_type.startswith(("text/plain", "application/json"))
    call.encoding = draw(st.sampled_from(["ascii-json"] * 3 + ["utf8-json"] * 3 + NOT_UTF8))
    if call.encoding in NOT_UTF8 or (call.method == "POST" and not accepted):
        # A BOM is not JSON either; form and multipart are not documented.
        call.valid = call.valid and call.method != "POST"
    if one_in(8, draw):
        call.headers = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "HTTP_ORIGIN": st.sampled_from(["https://app.acme.com", "null", "\x00"]),
                    "HTTP_X_FORWARDED_FOR": st.sampled_from(
                        ["", "garbage", "1.2.3.4, 5.6.7.8", "::1", "999.1.1.1", "a," * 500]
                    ),
                    # Never more than the body: the test client's stream asserts on a short body
                    # (a real server would wait for the rest).
                    "CONTENT_LENGTH": st.sampled_from(["abc", "-1", "", "1e3", "0", "+0"]),
                    "HTTP_ACCEPT": st.sampled_from(["text/html", "*/*", ""]),
                },
            )
        )
        if "CONTENT_LENGTH" in call.headers:
            call.valid = False
    if call.method not in ("GET", "POST") or (call.method == "GET" and call.path != EXPERIENCES):
        call.valid = False
    if call.method == "POST" and call.path == EXPERIENCES:
        call.valid = False


def _padded(key: str, size: int) -> bytes:
    """A call of exactly ``size`` bytes: an identify padded with an unknown field."""
    head, tail = f'{{"key": "{key}", "id": "u1", "pad": "', '"}'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()


@st.composite
def garbage(draw: st.DrawFn, world: World) -> Call:
    """A body or query string that is no call at all."""
    path = draw(st.sampled_from(list(METHOD)))
    key = draw(st.sampled_from(world.apps)).key
    text = draw(
        st.sampled_from(
            [
                "",
                "{",
                '{"key": ',
                "[1, 2]",
                '"text"',
                "1",
                "null",
                "true",
                "NaN",
                '{"key": NaN}',
                '{"key": Infinity, "id": -Infinity}',
                "{}",
                f'{{"key": "{key}", "id": "u1"}}{{}}',
                f'{{"key": "{key}", "id": "u1", "id": "u2"}}',
                f'{{"key": "{key}", "id": "u1", "traits": {{"a": 1, "a": 2}}}}',
                "[" * 100_000,
                '{"a":' * 100_000,
                "1" * 5000,
                "\ufeff{}",
                "{'key': 'x'}",
                '{"key": "\\ud800"}',
                '{"key": "\\u0000"}',
                f'{{"key": "{key}", "id": "\\udfff\\ud800"}}',
            ]
        )
        | st.text(max_size=40)
    )
    raw: bytes = draw(
        pick(
            st.just(text.encode("utf-8", "surrogatepass")),
            st.binary(max_size=64),
            # At and past the 64 KB body limit, and past Django's own (2.5 MB).
            st.builds(
                lambda size: _padded(key, size),
                st.sampled_from([65_535, 65_536, 65_537, 70_000, 2_700_000]),
            ),
        )
    )
    call = Call(METHOD[path], path)
    if path == EXPERIENCES:
        call.query = draw(
            st.sampled_from(
                [
                    "",
                    "key",
                    "%",
                    "%zz=%zz",
                    "key=%FF%FE&id=%C3%28&url=/",
                    f"key={key}&key=&id=u1&url=/",
                    "&&&=&=",
                    "a=1&" * 1500,
                    f"key={key}&id=known-0&url=" + "%E2%82%AC" * 1400,
                    f"key={key}&id=known-0&url=/" + "a" * 4095,
                    f"key={key}&id=known-0&url=%00",
                ]
            )
            | st.text(max_size=30)
        )
    else:
        call.body = raw
    return call


@st.composite
def calls(draw: st.DrawFn, world: World) -> Call:
    if one_in(10, draw):
        call = draw(garbage(world))
    else:
        call = draw(valid_call(world))
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
            draw(mutation(call, world))
    draw(transport(call))
    return call


# --- Sending and judging -----------------------------------------------------------------


def _encode_json(fields: dict[str, Any], *, ensure_ascii: bool) -> str:
    raws: list[Raw] = []

    def placeholder(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value)
            return f"@@raw{len(raws) - 1}@@"
        raise TypeError(type(value))

    text = json.dumps(fields, ensure_ascii=ensure_ascii, default=placeholder)
    for n, raw in enumerate(raws):
        text = text.replace(f'"@@raw{n}@@"', raw.text, 1)
    return text


def _query_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Raw):
        return value.text
    return _encode_json({"v": value}, ensure_ascii=False)[6:-1]


def encode(call: Call) -> tuple[bytes, str]:
    """(body, query string) as the call sends them."""
    if call.body is not None or call.query is not None:
        return call.body or b"", call.query or ""
    fields = call.fields or {}
    if call.path == EXPERIENCES and call.method != "POST":
        pairs = [(k, _query_value(v)) for k, v in fields.items()]
        return b"", urlencode(pairs, encoding="utf-8", errors="surrogatepass")
    text = _encode_json(fields, ensure_ascii=call.encoding == "ascii-json")
    if call.encoding == "utf-16":
        return text.encode("utf-16", "surrogatepass"), ""
    if call.encoding == "latin-1":
        return text.encode("latin-1", "replace"), ""
    if call.encoding != "raw-surrogates":  # as JSON.stringify writes them: escaped
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    body = text.encode("utf-8", "surrogatepass")
    return (b"\xef\xbb\xbf" + body if call.encoding == "bom" else body), ""


@dataclass
class Fuzz:
    """Sends calls and keeps the figures."""

    client: Any
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)  # "POST /api/v1/identify": n
    codes: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    bad_refusals: list[str] = field(default_factory=list)  # a 4xx not our JSON error with CORS
    writing_refusals: list[str] = field(default_factory=list)
    wrongly_refused: list[str] = field(default_factory=list)  # valid calls not answered 2xx
    bad_successes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A view's exception becomes the 500 a server would answer, counted like any answer,
        # rather than raised out of the test client.
        self.client.raise_request_exception = False

    def send(self, call: Call) -> None:
        body, query = encode(call)
        # WSGI's QUERY_STRING: the request line's bytes read as Latin-1.
        wsgi_query = query.encode("utf-8", "surrogatepass").decode("latin-1")
        extra: dict[str, Any] = {"QUERY_STRING": wsgi_query} if query else {}
        before = footprint(call)
        response = self.client.generic(
            call.method,
            call.path,
            data=body,
            content_type=call.content_type,
            **extra,
            **call.headers,
        )
        self.sent += 1
        self.endpoints[f"{call.method} {call.path}"] += 1
        status = response.status_code
        self.statuses[status] += 1
        what = f"{status} for {call.describe()}: {response.content[:300]!r}"
        if status >= 500:
            self.server_errors.append(what)
            return
        problem = judge(call, response)
        if status >= 400:
            if problem:
                self.bad_refusals.append(f"{problem}: {what}")
            elif response.content:  # a HEAD answer has none
                self.codes[response.json()["error"]["code"]] += 1
            if footprint(call) != before:
                self.writing_refusals.append(what)
            if call.valid:
                self.wrongly_refused.append(what)
        elif problem:
            self.bad_successes.append(f"{problem}: {what}")

    def problems(self) -> list[str]:
        return [
            *self.server_errors,
            *self.bad_refusals,
            *self.writing_refusals,
            *self.wrongly_refused,
            *self.bad_successes,
        ]

    def figures(self) -> str:
        by_status = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        by_code = ", ".join(f"{c}: {n}" for c, n in sorted(self.codes.items()))
        by_endpoint = ", ".join(f"{e}: {n}" for e, n in sorted(self.endpoints.items()))
        return "\n".join(
            [
                f"requests sent: {self.sent}",
                f"by method and endpoint: {by_endpoint}",
                f"by status: {by_status}",
                f"4xx by error code: {by_code}",
                f"5xx: {len(self.server_errors)}",
                f"4xx not our JSON error with CORS: {len(self.bad_refusals)}",
                f"refused requests that wrote rows: {len(self.writing_refusals)}",
                f"valid calls refused: {len(self.wrongly_refused)}",
                f"2xx answers not as documented: {len(self.bad_successes)}",
            ]
        )


def judge(call: Call, response: Any) -> str | None:
    """What is wrong with an answer under 500 (None: nothing)."""
    status = response.status_code
    if response.get("Access-Control-Allow-Origin") != "*":
        return "no CORS"
    if call.method == "OPTIONS" and status == 204:
        return None
    if response.get("Content-Type") != "application/json":
        return f"Content-Type {response.get('Content-Type')!r}"
    if call.method == "HEAD" and not response.content:
        return None  # a HEAD answer has no body; its status and headers say it all
    try:
        data = json.loads(response.content)
    except ValueError:
        return "not JSON"
    if status >= 400:
        error = data.get("error") if isinstance(data, dict) and len(data) == 1 else None
        if not isinstance(error, dict) or not {"code", "message"} <= error.keys() <= {
            "code",
            "message",
            "field",
        }:
            return "not {error: {code, message, field?}}"
        if ERROR_STATUS.get(error["code"]) != status:
            return f"code {error['code']!r} is not documented for {status}"
        if not all(isinstance(v, str) and v for v in error.values()):
            return "error fields are not text"
        if status == 405 and not response.get("Allow"):
            return "405 without Allow"
        return None
    if status != SUCCESS.get(call.path) or not isinstance(data, dict):
        return f"unexpected success {status}"
    if call.path == IDENTIFY and not data.keys() <= {"id", "experiences"}:
        return f"identify answered {sorted(data)}"
    return None


def footprint(call: Call) -> tuple[Any, ...]:
    """What a refused call must leave as it was: the rows of users, events and trait
    definitions (counts and latest changes), every targeting version, and the named user."""
    users = EndUser.objects.aggregate(n=Count("pk"), seen=Max("last_seen"))
    definitions = TraitDefinition.objects.aggregate(n=Count("pk"), changed=Max("updated_at"))
    named: list[Any] = []
    user_id = (call.fields or {}).get("id")
    if isinstance(user_id, str) and "\x00" not in user_id and user_id.isascii():
        named = list(EndUser.objects.filter(external_id=user_id).values_list("traits", "last_seen"))
    return (
        users["n"],
        users["seen"],
        definitions["n"],
        definitions["changed"],
        Event.objects.count(),
        sorted(TargetingVersion.objects.values_list("application_id", "version")),
        named,
    )
