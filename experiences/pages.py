"""The URL pattern language of experiences: ``/dashboard``, ``/projects/*/settings``,
``/docs/**``, ``/users/:id``, ``/billing?tab=plans``, ``app.example.com/**``, ``#fragment``.

Pure Python, no database: ``compile_pattern`` turns a pattern into a ``UrlPattern``,
``parse_url`` a page URL into a ``ParsedUrl``, and ``UrlPattern.matches`` decides.
Documented for product managers in docs/api.md; the editor's syntax check with its messages is
``experiences/content.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit

MAX_PATTERN = 500
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_HOST = re.compile(r"^(localhost|[a-z0-9*\-]+(?:\.[a-z0-9*\-]+)+)(?::([0-9]{1,5}))?$")
_PARAM = re.compile(r"^:[A-Za-z_][A-Za-z0-9_]*$")


class PatternError(ValueError):
    """A URL pattern that cannot be used; the message says why, for a product manager."""


@dataclass(frozen=True)
class UrlPattern:
    """One compiled pattern. ``source`` is the text as written."""

    source: str
    path: re.Pattern[str]
    trailing_slash: bool = False
    host: re.Pattern[str] | None = None
    port: int | None = None
    query: tuple[tuple[str, str | None], ...] = ()
    fragment: str | None = None

    def matches(self, url: ParsedUrl) -> bool:
        if self.host is not None:
            if url.host is None or not self.host.fullmatch(url.host):
                return False
            if self.port is not None and url.port != self.port:
                return False
        if not self.path.fullmatch(url.path):
            return False
        if self.trailing_slash and not url.trailing_slash:
            return False
        for name, value in self.query:
            values = url.query.get(name)
            if values is None or (value is not None and value not in values):
                return False
        return self.fragment is None or self.fragment == url.fragment


@dataclass(frozen=True)
class ParsedUrl:
    """A page URL as patterns see it: path without trailing slash ("" for the root)."""

    path: str
    trailing_slash: bool = False
    host: str | None = None
    port: int | None = None
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fragment: str = ""


def _query_pairs(query: str) -> list[tuple[str, str | None]]:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        pairs.append(
            (unquote(name.replace("+", " ")), unquote(value.replace("+", " ")) if equals else None)
        )
    return pairs


@lru_cache(maxsize=1024)  # the API checks a url, then the serve reads it: parse it once
def parse_url(url: str) -> ParsedUrl:
    """A full URL (``https://app.example.com/dashboard?tab=1#x``) or a path (``/dashboard``);
    raises ValueError for what is neither (``http://[oops``)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    path = unquote(parts.path) or "/"
    query: dict[str, tuple[str, ...]] = {}
    for name, value in _query_pairs(parts.query):
        query[name] = (*query.get(name, ()), value or "")
    stripped = path.rstrip("/")
    return ParsedUrl(
        path=stripped,
        trailing_slash=stripped != "" and path.endswith("/"),
        host=parts.hostname.lower() if parts.hostname else None,
        port=port,
        query=query,
        fragment=unquote(parts.fragment),
    )


def _segment_regex(segment: str) -> str:
    if segment == "**":
        return "(?:/.*)?"
    if segment == "*":
        return "/[^/]+"
    if segment.startswith(":"):
        if not _PARAM.fullmatch(segment):
            raise PatternError(f'"{segment}": a named segment is : and a name, as in :id.')
        return "/[^/]+"
    if "**" in segment:
        raise PatternError('"**" must be a whole segment, as in /docs/**.')
    return "/" + "[^/]*".join(re.escape(unquote(piece)) for piece in segment.split("*"))


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> UrlPattern:
    """``/dashboard``, ``/projects/*/settings``, ``/docs/**``, ``/users/:id``,
    ``/billing?tab=plans``, ``app.example.com/**``; raises PatternError."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("A URL pattern cannot be empty.")
    text = pattern.strip()
    if len(text) > MAX_PATTERN:
        raise PatternError(f"A URL pattern has at most {MAX_PATTERN} characters.")
    text = _SCHEME.sub("", text, count=1)
    text, hashed, fragment = text.partition("#")
    text, asked, query = text.partition("?")
    host = port = None
    if not text.startswith("/") and text:
        host_text, slash, rest = text.partition("/")
        match = _HOST.fullmatch(host_text.lower())
        if not match:
            raise PatternError(
                f'"{pattern}": start with / for a path, or with a host such as app.example.com.'
            )
        labels = match.group(1).split(".")
        host = re.compile(r"\.".join("[^.]+" if x == "*" else re.escape(x) for x in labels))
        port = int(match.group(2)) if match.group(2) else None
        text = slash + rest
    if text == "":
        # A host alone, or only ?query / #hash: any path.
        path_regex, trailing = "(?:/.*)?", False
    else:
        trailing = text.endswith("/") and text.strip("/") != ""
        segments = text.strip("/").split("/") if text.strip("/") else []
        path_regex = "".join(_segment_regex(s) for s in segments)
    query_pairs = tuple(_query_pairs(query)) if asked else ()
    if asked and not query_pairs:
        raise PatternError(f'"{pattern}": name a parameter after ?, as in ?tab=billing.')
    return UrlPattern(
        source=pattern,
        path=re.compile(path_regex),
        trailing_slash=trailing,
        host=host,
        port=port,
        query=query_pairs,
        fragment=unquote(fragment) if hashed else None,
    )


def url_matches(pattern: str, url: str) -> bool:
    """Whether a page URL matches one pattern; raises PatternError for an invalid pattern."""
    return compile_pattern(pattern).matches(parse_url(url))
