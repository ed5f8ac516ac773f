"""Delivery: of the experiences a user may see on a page (audience, URL and frequency passed),
which run together, and which are held back for a later page (docs/experiences.md, Delivery).

In priority order (highest first, as served), each experience takes its place on the page:

- **modal**: at most one per page. A tour is modal (its steps take the user through the page;
  a modal step dims it), and so is a checklist: the snippet opens its panel by itself, expanded,
  on every page it is served on (the content format has no launcher-only checklist). The first
  modal wins; the others wait for a page where no higher-priority one is served.
- **banners**: at most ``max_banners_per_edge`` per edge (``position``: top, the default, or
  bottom); the snippet stacks them in priority order.
- **tooltips**: at most one per anchor (the same ``selector``, spaces around it ignored).
- **caps**: at most ``cap_per_day`` experiences started (shown) per user in the last 24 hours,
  and ``cap_per_session`` in the user's session (segments/activity.py: a run of shown
  experiences without a gap of more than 30 minutes). An experience already started in the
  window keeps being served (it does not start again); a new one is held back once the window
  has as many as the cap, counting those this serve starts.

An experience held back by a place or a cap takes neither: the next one may have it.
``deliver`` is the one implementation, for a serve and for an explanation alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segments.activity import session_start, started_since

if TYPE_CHECKING:
    from .targeting import CompiledExperience

DAY = 24 * 60 * 60
MODAL_KINDS = ("tour", "checklist")
MODAL = ("modal",)

Slot = tuple[str, ...] | None


@dataclass(frozen=True)
class Delivery:
    """An application's delivery settings, compiled with its targeting."""

    max_banners_per_edge: int = 2
    cap_per_day: int | None = None
    cap_per_session: int | None = None

    @property
    def capped(self) -> bool:
        return self.cap_per_day is not None or self.cap_per_session is not None


def slot_of(kind: str, content: Any) -> Slot:
    """The place an experience takes on a page: ``MODAL``, ``("banner", edge)``,
    ``("tooltip", selector)``; None for content the snippet cannot render anyway."""
    if kind in MODAL_KINDS:
        return MODAL
    if not isinstance(content, Mapping):
        return None
    if kind == "banner":
        return ("banner", "bottom" if content.get("position") == "bottom" else "top")
    if kind == "tooltip":
        selector = content.get("selector")
        return ("tooltip", selector.strip()) if isinstance(selector, str) else None
    return None


def deliver(
    candidates: Sequence[CompiledExperience],
    delivery: Delivery,
    activity: Mapping[str, Any],
    when: float,
) -> tuple[list[CompiledExperience], dict[int, str]]:
    """(the experiences served, in order; {id: why held back} for the others). ``candidates``:
    those that passed audience, URL and frequency, highest priority first. The activity summary
    is read only when a cap is on."""
    if len(candidates) <= 1 and not delivery.capped:
        return list(candidates), {}
    day = session = None
    if delivery.cap_per_day is not None:
        day = started_since(activity, when - DAY)
    if delivery.cap_per_session is not None:
        start = session_start(activity, when)
        session = set() if start is None else started_since(activity, start)
    modal: CompiledExperience | None = None
    banners: dict[str, int] = {}
    anchors: set[str] = set()
    served: list[CompiledExperience] = []
    held: dict[int, str] = {}
    for experience in candidates:
        slot = experience.slot
        if slot == MODAL and modal is not None:
            held[experience.id] = (
                f"held back: a higher-priority {modal.kind} runs on this page ({modal.name})"
            )
            continue
        if slot is not None and slot[0] == "banner":
            on_edge = banners.get(slot[1], 0)
            if on_edge >= delivery.max_banners_per_edge:
                held[experience.id] = f"held back: {on_edge} banners already at the {slot[1]}"
                continue
        if slot is not None and slot[0] == "tooltip" and slot[1] in anchors:
            held[experience.id] = "held back: another tooltip on the same element"
            continue
        if day is not None and experience.id not in day and len(day) >= delivery.cap_per_day:
            held[experience.id] = f"held back: daily cap reached ({delivery.cap_per_day})"
            continue
        if (
            session is not None
            and experience.id not in session
            and len(session) >= delivery.cap_per_session
        ):
            held[experience.id] = f"held back: session cap reached ({delivery.cap_per_session})"
            continue
        if day is not None:
            day.add(experience.id)
        if session is not None:
            session.add(experience.id)
        if slot == MODAL:
            modal = experience
        elif slot is not None and slot[0] == "banner":
            banners[slot[1]] = banners.get(slot[1], 0) + 1
        elif slot is not None and slot[0] == "tooltip":
            anchors.add(slot[1])
        served.append(experience)
    return served, held
