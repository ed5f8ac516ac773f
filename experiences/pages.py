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


# A pattern's path is a sequence of units, each matching URL segments (the text between two
# slashes): ``ANY_SEGMENTS`` (``**``: zero or more whole segments), ``ONE_SEGMENT`` (``*`` and
# ``:name``: one non-empty segment), or a ``Glob``: one segment made of literal pieces with any
# run of characters between them (``report-*.pdf`` is ("report-", ".pdf")). Matching walks
# segments and, inside one, finds the literal pieces left to right: time linear in the URL,
# where the regular expression this replaces backtracked (``/reports/*-*-*.pdf`` took seconds
# on a 4,000-character path).
ANY_SEGMENTS = "**"
ONE_SEGMENT = "*"
Glob = tuple[str, ...]
Unit = Glob | str


def _glob_matches(glob: Glob, segment: str) -> bool:
    """Whether one segment is the glob's pieces with anything between them. Leftmost search
    for each middle piece is exact: a piece found later leaves less room for those after."""
    first, last = glob[0], glob[-1]
    if len(glob) == 1:
        return segment == first
    if len(segment) < len(first) + len(last):
        return False
    if not (segment.startswith(first) and segment.endswith(last)):
        return False
    at, end = len(first), len(segment) - len(last)
    for piece in glob[1:-1]:
        found = segment.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _unit_matches(unit: Unit, segment: str) -> bool:
    if unit == ONE_SEGMENT:
        return segment != ""
    return _glob_matches(unit, segment)  # type: ignore[arg-type]


def _run_at(run: tuple[Unit, ...], segments: list[str], at: int) -> bool:
    return all(_unit_matches(unit, segments[at + i]) for i, unit in enumerate(run))


def _path_matches(units: tuple[Unit, ...], path: str) -> bool:
    """Whether a path ("" or "/a/b") matches: runs of segment units separated by ``**``. The
    first run is anchored at the start, the last at the end, and each run between is taken at
    its leftmost place: ``**`` matches any segments, so the earliest fit leaves the most room
    for what follows (glob matching's greedy rule, over segments)."""
    if path and not path.startswith("/"):
        return False
    segments = path[1:].split("/") if path else []
    runs: list[tuple[Unit, ...]] = [()]
    for unit in units:
        if unit == ANY_SEGMENTS:
            runs.append(())
        else:
            runs[-1] = (*runs[-1], unit)
    if len(runs) == 1:
        return len(segments) == len(runs[0]) and _run_at(runs[0], segments, 0)
    first, middle, last = runs[0], runs[1:-1], runs[-1]
    start, end = len(first), len(segments) - len(last)
    if start > end or not _run_at(first, segments, 0) or not _run_at(last, segments, end):
        return False
    for run in middle:
        while start + len(run) <= end and not _run_at(run, segments, start):
            start += 1
        if start + len(run) > end:
            return False
        start += len(run)
    return True


@dataclass(frozen=True)
class UrlPattern:
    """One compiled pattern. ``source`` is the text as written."""

    source: str
    path: tuple[Unit, ...]
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
        if not _path_matches(self.path, url.path):
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


def _segment_units(segment: str) -> list[Unit]:
    """One segment of a pattern as units; a literal with an encoded slash (``a%2Fb``) names
    two URL segments, so it is split there."""
    if segment == "**":
        return [ANY_SEGMENTS]
    if segment == "*":
        return [ONE_SEGMENT]
    if segment.startswith(":"):
        if not _PARAM.fullmatch(segment):
            raise PatternError(f'"{segment}": a named segment is : and a name, as in :id.')
        return [ONE_SEGMENT]
    if "**" in segment:
        raise PatternError('"**" must be a whole segment, as in /docs/**.')
    units: list[Unit] = []
    pieces = [""]
    for index, piece in enumerate(segment.split("*")):
        if index:
            pieces.append("")  # a * between two pieces
        head, *rest = unquote(piece).split("/")
        pieces[-1] += head
        for part in rest:
            units.append(tuple(pieces))
            pieces = [part]
    units.append(tuple(pieces))
    return units


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
        path: tuple[Unit, ...] = (ANY_SEGMENTS,)
        trailing = False
    else:
        trailing = text.endswith("/") and text.strip("/") != ""
        segments = text.strip("/").split("/") if text.strip("/") else []
        path = tuple(unit for segment in segments for unit in _segment_units(segment))
    query_pairs = tuple(_query_pairs(query)) if asked else ()
    if asked and not query_pairs:
        raise PatternError(f'"{pattern}": name a parameter after ?, as in ?tab=billing.')
    return UrlPattern(
        source=pattern,
        path=path,
        trailing_slash=trailing,
        host=host,
        port=port,
        query=query_pairs,
        fragment=unquote(fragment) if hashed else None,
    )


def url_matches(pattern: str, url: str) -> bool:
    """Whether a page URL matches one pattern; raises PatternError for an invalid pattern."""
    return compile_pattern(pattern).matches(parse_url(url))
