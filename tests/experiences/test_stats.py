"""experiences/stats.py against published worked examples."""

import math

import pytest

from experiences import stats


def test_the_95_percent_quantile_is_1_96():
    assert stats.z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [(56, 70, 48, 80, 0.0575, 0.3425), (9, 10, 3, 10, 0.2605, 0.9395)],
)
def test_the_difference_of_proportions_matches_newcombe_1998(x1, n1, x2, n2, low, high):
    """Newcombe RG. Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Statistics in Medicine 1998;17:873-890, Table II, method 1
    (asymptotic, no continuity correction): example (a) 56/70 - 48/80 = 0.2000, 95% CI
    +0.0575 to +0.3425; example (b) 9/10 - 3/10 = 0.6000, 95% CI +0.2605 to +0.9395."""
    found = stats.difference(x1, n1, x2, n2)
    assert found.estimate == pytest.approx(x1 / n1 - x2 / n2)
    assert round(found.low, 4) == low
    assert round(found.high, 4) == high


def test_the_ratio_uses_the_log_method():
    """The log-method (Katz et al., Biometrics 1978;34:469-474) interval as Gardner and Altman,
    Statistics with Confidence (BMJ, 1989; reprint 1994, pp 51-52) give it: SE(ln RR) =
    sqrt(1/a - 1/(a+c) + 1/b - 1/(b+d)). On Newcombe's example (a), by hand: RR = 0.8 / 0.6 =
    1.3333, SE = sqrt(1/56 - 1/70 + 1/48 - 1/80) = 0.109109, 95% CI exp(0.287682 ± 1.959964 *
    0.109109) = 1.0766 to 1.6512 (computed from the formula, not quoted from a table)."""
    found = stats.ratio(56, 70, 48, 80)
    assert found.estimate == pytest.approx(4 / 3)
    assert round(found.low, 4) == 1.0766
    assert round(found.high, 4) == 1.6512
    # Symmetric on the log scale around the estimate.
    assert math.log(found.estimate) - math.log(found.low) == pytest.approx(
        math.log(found.high) - math.log(found.estimate)
    )


def test_a_ratio_without_a_conversion_in_a_group_is_undefined():
    assert stats.ratio(0, 100, 5, 100) is None
    assert stats.ratio(5, 100, 0, 100) is None


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "enough"),
    [
        (10, 100, 10, 100, True),
        (10, 99, 10, 100, False),  # too few eligible users in one group
        (9, 100, 40, 100, False),  # too few conversions in one group
        (50, 1000, 10, 100, True),
    ],
)
def test_results_need_100_eligible_users_and_10_conversions_in_each_group(x1, n1, x2, n2, enough):
    assert stats.enough_data(x1, n1, x2, n2) is enough
    assert (stats.compare(x1, n1, x2, n2) is not None) is enough


def test_the_comparison_gives_the_relative_lift_as_the_ratio_less_one():
    found = stats.compare(120, 1000, 100, 1000)
    assert found.absolute.estimate == pytest.approx(0.02)
    assert found.relative.estimate == pytest.approx(0.2)
    ratio = stats.ratio(120, 1000, 100, 1000)
    assert found.relative.low == pytest.approx(ratio.low - 1)
    assert found.relative.high == pytest.approx(ratio.high - 1)
    # The difference's interval holds 0 here: not significant at 95%.
    assert found.absolute.low < 0 < found.absolute.high
