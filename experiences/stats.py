"""Two-group statistics for an experience's results (docs/experiences.md, "Goals, holdouts and
how to read the results"), with the standard library only: ``statistics.NormalDist``.

Group 1 is the treatment (served), group 2 the holdout. For conversions ``x`` of ``n``:

- **absolute lift**: p1 - p2, with the Wald interval p1 - p2 ± z·sqrt(p1(1-p1)/n1 +
  p2(1-p2)/n2) (Newcombe 1998, method 1);
- **relative lift**: p1 / p2 - 1, with the log (Katz) interval of the ratio:
  exp(ln(p1/p2) ± z·sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)) - 1 (Katz et al. 1978; Gardner and
  Altman, *Statistics with Confidence*, 1989).

Both are large-sample approximations, poor with few conversions (the Wald interval can even
leave [-1, 1]; the log interval is undefined without a conversion in each group), hence
``enough_data``: at least ``MIN_ELIGIBLE`` eligible users and ``MIN_CONVERSIONS``
conversions in *each* group. Ten conversions (and ten non-conversions, which 100 users with
a rate under 90% give) is the usual rule of thumb for the normal approximation of a binomial
(n·p ≥ 10 and n·(1-p) ≥ 10); 100 users keeps one user's conversion from moving a rate by more
than one point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

MIN_ELIGIBLE = 100
MIN_CONVERSIONS = 10
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """Treatment against holdout: both lifts with their intervals (``relative`` None when a
    group has no conversion or the holdout none, where a ratio means nothing)."""

    absolute: Interval
    relative: Interval | None


def z_for(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile: 1.959964 for 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def rate(conversions: int, eligible: int) -> float | None:
    return conversions / eligible if eligible else None


def difference(x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE) -> Interval:
    """p1 - p2 with its Wald interval. Needs n1, n2 > 0."""
    p1, p2 = x1 / n1, x2 / n2
    spread = z_for(confidence) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Interval(p1 - p2, p1 - spread - p2, p1 + spread - p2)


def ratio(x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE) -> Interval | None:
    """p1 / p2 with its log-method interval; None when x1 or x2 is 0."""
    if x1 <= 0 or x2 <= 0 or n1 <= 0 or n2 <= 0:
        return None
    estimate = (x1 / n1) / (x2 / n2)
    spread = z_for(confidence) * math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    centre = math.log(estimate)
    return Interval(estimate, math.exp(centre - spread), math.exp(centre + spread))


def enough_data(x1: int, n1: int, x2: int, n2: int) -> bool:
    """Whether both groups are past the threshold (see the module's docstring)."""
    return min(n1, n2) >= MIN_ELIGIBLE and min(x1, x2) >= MIN_CONVERSIONS


def compare(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Comparison | None:
    """Treatment (1) against holdout (2), or None: not enough data yet."""
    if not enough_data(x1, n1, x2, n2):
        return None
    found = ratio(x1, n1, x2, n2, confidence)
    relative = (
        None if found is None else Interval(found.estimate - 1, found.low - 1, found.high - 1)
    )
    return Comparison(difference(x1, n1, x2, n2, confidence), relative)
