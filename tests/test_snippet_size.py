"""The minified snippet that pages embed (static/callout.min.js): within its size budget
(benchmarks/snippet_size.py prints the figures), served with its source map next to the readable
static/callout.js. CI's scripts/build-snippet --check keeps it built from the readable file."""

import json

from benchmarks.snippet_size import BUDGET, MINIFIED, READABLE, sizes


def test_the_minified_snippet_is_within_its_gzipped_budget_and_smaller_than_the_readable_one():
    raw, gzipped = sizes(MINIFIED)
    assert gzipped <= BUDGET == 12 * 1024
    readable_raw, readable_gzipped = sizes(READABLE)
    assert raw < readable_raw * 0.7 and gzipped < readable_gzipped


def test_the_app_serves_the_minified_snippet_its_source_map_and_the_readable_source(client):
    minified = client.get("/static/callout.min.js")
    assert minified.status_code == 200
    assert minified["Content-Type"].startswith("text/javascript")
    body = b"".join(minified.streaming_content).decode()
    assert body.startswith("/*! Callout snippet")  # the header comment is kept
    assert body.endswith("\n//# sourceMappingURL=callout.min.js.map")

    source_map = client.get("/static/callout.min.js.map")
    assert source_map.status_code == 200
    mapping = json.loads(b"".join(source_map.streaming_content))
    assert mapping["file"] == "callout.min.js" and mapping["sources"] == ["callout.js"]

    readable = client.get("/static/callout.js")
    assert readable.status_code == 200
    assert b"".join(readable.streaming_content) == READABLE.read_bytes()
