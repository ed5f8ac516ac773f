"""An experience's results (docs/experiences.md, "Goals, holdouts and how to read the
results"): per group, the users eligible (``Exposure``) and those who reached the goal within
the conversion window after first being eligible; the lifts (``experiences/stats.py``).

One query, grouped by group: conversions are an ``EXISTS`` per exposure over the user's
events (``Event`` for "experience completed", ``TrackedEvent`` for "event tracked", both
indexed by user first), or the exposure's ``converted_at`` for "page visited" (written by
the serve).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from typing import Any

from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q

from callout.csvexport import safe_cell
from segments.models import TrackedEvent

from . import stats
from .models import Event, Experience, Exposure, GoalKind


@dataclass(frozen=True)
class GroupResult:
    eligible: int
    conversions: int

    @property
    def rate(self) -> float | None:
        return stats.rate(self.conversions, self.eligible)

    @property
    def rate_words(self) -> str:
        return "\u2013" if self.rate is None else f"{self.rate * 100:.1f}%"


MINUS = "\u2212"  # the typographic minus sign, as rates are read


def _signed(value: float, unit: str) -> str:
    return f"{value * 100:+.1f}{unit}".replace("-", MINUS)


@dataclass(frozen=True)
class Results:
    experience: Experience
    treatment: GroupResult
    holdout: GroupResult
    comparison: stats.Comparison | None  # None: not enough data yet (or no goal, no holdout)

    @property
    def has_goal(self) -> bool:
        return self.experience.goal_kind != GoalKind.NONE

    @property
    def enough_data(self) -> bool:
        return self.comparison is not None

    @property
    def absolute_words(self) -> str:
        """``+2.0 points (-0.7 to +4.7)``: the difference of the rates, in percentage points."""
        if self.comparison is None:
            return ""
        found = self.comparison.absolute
        low, high = _signed(found.low, ""), _signed(found.high, "")
        return f"{_signed(found.estimate, ' points')} ({low} to {high})"

    @property
    def relative_words(self) -> str:
        """``+20.0% (-5.6% to +52.6%)``: the treatment's rate against the holdout's."""
        if self.comparison is None or self.comparison.relative is None:
            return ""
        found = self.comparison.relative
        low, high = _signed(found.low, "%"), _signed(found.high, "%")
        return f"{_signed(found.estimate, '%')} ({low} to {high})"

    def as_json(self) -> dict[str, Any]:
        def group(result: GroupResult) -> dict[str, Any]:
            return {
                "eligible": result.eligible,
                "conversions": result.conversions,
                "rate": result.rate,
            }

        def interval(found: stats.Interval | None) -> dict[str, float] | None:
            if found is None:
                return None
            return {"estimate": found.estimate, "low": found.low, "high": found.high}

        comparison = self.comparison
        return {
            "experience": self.experience.pk,
            "goal_kind": self.experience.goal_kind,
            "goal_event": self.experience.goal_event,
            "goal_url": self.experience.goal_url,
            "conversion_window_days": self.experience.conversion_window_days,
            "holdout_percent": self.experience.holdout_percent,
            "treatment": group(self.treatment),
            "holdout": group(self.holdout),
            "enough_data": self.enough_data,
            "thresholds": {
                "min_eligible_per_group": stats.MIN_ELIGIBLE,
                "min_conversions_per_group": stats.MIN_CONVERSIONS,
            },
            "confidence": stats.CONFIDENCE,
            "absolute_lift": interval(comparison.absolute) if comparison else None,
            "relative_lift": interval(comparison.relative) if comparison else None,
        }


def _converted(experience: Experience) -> Q | None:
    """Which exposures converted (on exposures annotated with ``deadline``); None: no goal."""
    kind = experience.goal_kind
    within = {"gte": OuterRef("eligible_at"), "lte": OuterRef("deadline")}
    if kind == GoalKind.COMPLETED:
        events = Event.objects.filter(
            end_user_id=OuterRef("end_user_id"),
            experience_id=experience.pk,
            type=Event.Type.COMPLETED,
            created_at__gte=within["gte"],
            created_at__lte=within["lte"],
        )
        return Q(Exists(events))
    if kind == GoalKind.EVENT:
        tracked = TrackedEvent.objects.filter(
            end_user_id=OuterRef("end_user_id"),
            name=experience.goal_event,
            timestamp__gte=within["gte"],
            timestamp__lte=within["lte"],
        )
        return Q(Exists(tracked))
    if kind == GoalKind.PAGE:
        return Q(converted_at__isnull=False, converted_at__lte=F("deadline"))
    return None


def experience_results(experience: Experience) -> Results:
    """The experience's results as stored now (one query)."""
    window = timedelta(days=experience.conversion_window_days)
    exposures = Exposure.objects.filter(experience=experience).annotate(
        deadline=ExpressionWrapper(F("eligible_at") + window, output_field=DateTimeField())
    )
    converted = _converted(experience)
    counts = {"eligible": Count("pk")}
    if converted is not None:
        counts["conversions"] = Count("pk", filter=converted)
    found = {
        row["group"]: GroupResult(row["eligible"], row.get("conversions", 0))
        for row in exposures.values("group").annotate(**counts).order_by()
    }
    treatment = found.get(Exposure.Group.TREATMENT, GroupResult(0, 0))
    holdout = found.get(Exposure.Group.HOLDOUT, GroupResult(0, 0))
    comparison = None
    if converted is not None:
        comparison = stats.compare(
            treatment.conversions, treatment.eligible, holdout.conversions, holdout.eligible
        )
    return Results(experience, treatment, holdout, comparison)


CSV_HEADER = (
    "experience_id",
    "experience",
    "goal",
    "conversion_window_days",
    "group",
    "eligible",
    "conversions",
    "conversion_rate",
    "absolute_lift",
    "absolute_lift_low",
    "absolute_lift_high",
    "relative_lift",
    "relative_lift_low",
    "relative_lift_high",
    "enough_data",
)


def _goal_words(experience: Experience) -> str:
    kind = experience.goal_kind
    if kind == GoalKind.EVENT:
        return f"event {experience.goal_event}"
    if kind == GoalKind.PAGE:
        return f"page {experience.goal_url}"
    return GoalKind(kind).label.lower() if kind in GoalKind.values else kind


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def csv_rows(results: Results) -> Iterator[str]:
    """The results as CSV lines: one row per group; the lifts on the treatment's row."""
    out = StringIO()
    writer = csv.writer(out)
    experience = results.experience
    writer.writerow(CSV_HEADER)
    comparison = results.comparison
    for group, found in (("treatment", results.treatment), ("holdout", results.holdout)):
        lifts: list[str] = [""] * 6
        if comparison is not None and group == "treatment":
            absolute, relative = comparison.absolute, comparison.relative
            lifts = [_number(absolute.estimate), _number(absolute.low), _number(absolute.high)]
            lifts += (
                [_number(relative.estimate), _number(relative.low), _number(relative.high)]
                if relative
                else ["", "", ""]
            )
        writer.writerow(
            [
                experience.pk,
                safe_cell(experience.name),
                safe_cell(_goal_words(experience)),
                experience.conversion_window_days,
                group,
                found.eligible,
                found.conversions,
                _number(found.rate),
                *lifts,
                "yes" if results.enough_data else "no",
            ]
        )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
