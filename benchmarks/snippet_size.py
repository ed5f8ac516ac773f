"""What the snippet weighs: the readable static/callout.js and the minified static/callout.min.js
that pages embed, raw and gzipped, against the budget for the minified one.

    .venv/bin/python benchmarks/snippet_size.py     # exits 1 when over budget

Gzipped at level 9, as WhiteNoise's collectstatic compresses static files; a proxy that
compresses on the fly at a lower level sends a few hundred bytes more. The minified file is the
one committed (scripts/build-snippet rebuilds it; CI checks it matches the readable source).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
READABLE = STATIC / "callout.js"
MINIFIED = STATIC / "callout.min.js"
BUDGET = 12 * 1024  # bytes, gzipped, of the minified file


def sizes(path: Path) -> tuple[int, int]:
    """The file's size in bytes, raw and gzipped."""
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=9, mtime=0))


def main() -> int:
    readable, minified = sizes(READABLE), sizes(MINIFIED)
    print(f"{'file':<22}{'raw':>10}{'gzipped':>10}")
    for path, (raw, zipped) in ((READABLE, readable), (MINIFIED, minified)):
        print(f"{'static/' + path.name:<22}{raw:>10,}{zipped:>10,}")
    print(
        f"minified: {minified[0] / readable[0]:.0%} of the readable file raw, "
        f"{minified[1] / readable[1]:.0%} gzipped"
    )
    over = minified[1] > BUDGET
    verdict = "OVER" if over else "within"
    print(f"budget: {minified[1]:,} of {BUDGET:,} bytes gzipped ({verdict} budget)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
