"""The URL pattern language's matcher (experiences/pages.py): the regular expressions it
replaced say what it must answer; its time grows linearly with the URL, whatever the pattern.

url_matches' cases (exact, *, **, :param, ?q=, host, #fragment, trailing slash, exclude wins)
are in test_targeting.py and test_views.py; here, the old matcher is the reference."""

import re
import time
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from experiences import pages
from experiences.pages import _path_matches, compile_pattern, parse_url, url_matches


def _old_segment_regex(segment: str) -> str:
    """The matcher before: each pattern segment a regex, the path one fullmatch."""
    if segment == "**":
        return "(?:/.*)?"
    if segment == "*" or segment.startswith(":"):
        return "/[^/]+"
    return "/" + "[^/]*".join(re.escape(unquote(piece)) for piece in segment.split("*"))


def old_path_regex(pattern: str) -> str:
    text = pattern.strip().partition("#")[0].partition("?")[0]
    if text == "":
        return "(?:/.*)?"
    stripped = text.strip("/")
    return "".join(_old_segment_regex(s) for s in (stripped.split("/") if stripped else []))


# Small alphabets make collisions likely: literals that do and do not match, encoded slashes,
# empty segments, every wildcard. "\n" is left out on purpose: the old "**" (regex ".") did not
# match a segment holding a percent-encoded newline, an accident the new matcher does not keep.
PATTERN_SEGMENTS = st.sampled_from(["a", "b", "ab", "a-b", "*", "**", ":id", "a*", "*b", "*-*"])
PATTERN_SEGMENTS |= st.sampled_from(["a*b*a", "", "a%2Fb", "*%2F*", "x.pdf", "*.pdf"])
URL_TEXT = st.text(alphabet="ab-/.%2F", max_size=14)


@settings(max_examples=1500, deadline=None)
@given(
    segments=st.lists(PATTERN_SEGMENTS, min_size=0, max_size=5), slash=st.booleans(), url=URL_TEXT
)
def test_path_matching__agrees_with_the_old_regex(segments, slash, url):
    pattern = "/" + "/".join(segments) + ("/" if slash else "")
    path = parse_url("/" + url).path
    expected = re.fullmatch(old_path_regex(pattern), path) is not None
    assert _path_matches(compile_pattern(pattern).path, path) is expected, (pattern, path)


@given(url=URL_TEXT)
def test_a_path_not_starting_with_a_slash__matches_nothing_as_before(url):
    path = "x" + url  # urlsplit's path of "x..." (no scheme, no slash)
    for pattern in ("/**", "/x*", "/*", "app.example.com"):
        assert re.fullmatch(old_path_regex(pattern.removeprefix("app.example.com")), path) is None
        assert _path_matches(compile_pattern(pattern).path, path) is False


def test_double_star__matches_a_segment_with_an_encoded_line_break():
    # The old regex's "." stopped at a line break: an accident, not a rule (docs/api.md).
    assert url_matches("/docs/**", "/docs/a%0Ab/c")
    assert url_matches("/docs/*", "/docs/a%0Ab")  # as before


def test_encoded_slash_in_a_pattern__names_two_segments():
    assert url_matches("/a%2Fb", "/a/b")
    assert url_matches("/x*%2F*y", "/x1/2y")
    assert not url_matches("/x*%2F*y", "/x1/2/3y")


# --- Linear time -------------------------------------------------------------------------

# The worst patterns of the language for a backtracking matcher: many stars in one segment,
# stars around repeated literals, ** between runs that almost match everywhere.
WORST = [
    ("/reports/*-*-*.pdf", lambda n: "/reports/" + "-" * n),
    ("/*a*a*a*a*a*b", lambda n: "/" + "a" * n),
    ("/**/a/a/a/b/**", lambda n: "/a" * (n // 2)),
    ("/**/*-*-*/**/x", lambda n: "/-" * (n // 2)),
    ("/**/:id/**/*a*b/**", lambda n: "/a" * (n // 2)),
    ("/docs/**/edit", lambda n: "/docs" + "/e" * (n // 2)),
]


def _seconds(pattern, path):
    compiled = compile_pattern(pattern)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(20):
            _path_matches(compiled.path, path)
        best = min(best, time.perf_counter() - started)
    return best


def test_matching_time__linear_in_the_url(monkeypatch):
    """4,096 characters against 40,960 (ten times longer): a linear matcher takes about ten
    times as long, a quadratic one a hundred. The segment checks are counted too: at most
    (pattern units) per URL segment, so no pattern can make a URL cost more than its length."""
    calls = 0
    check = pages._unit_matches

    def counted(unit, segment):
        nonlocal calls
        calls += 1
        return check(unit, segment)

    for pattern, url_of in WORST:
        units = len(compile_pattern(pattern).path)
        for n in (4096, 40960):
            path = url_of(n)
            calls = 0
            monkeypatch.setattr(pages, "_unit_matches", counted)
            assert _path_matches(compile_pattern(pattern).path, path) is False
            monkeypatch.setattr(pages, "_unit_matches", check)
            assert calls <= units * (path.count("/") + 1), (pattern, n, calls)
        small, large = _seconds(pattern, url_of(4096)), _seconds(pattern, url_of(40960))
        assert large / small < 35, (pattern, small, large)
