from datetime import datetime

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def startswith(text: str | None, prefix: str) -> bool:
    return bool(text) and str(text).startswith(prefix)


@register.filter
def trait_value(value: object) -> str:
    """A stored trait value as the customer's app sent it (JSON spelling: true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@register.filter
def thousands(value: int) -> str:
    """12345 -> "12,345", as the charts' summaries write counts."""
    return f"{value:,}"


@register.filter
def ago(moment: datetime | None) -> str:
    """ "3 hours ago", or "just now" within a minute (where timesince says "0 minutes")."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def labelled(field: BoundField, label: str) -> str:
    """A form field's widget named by ``aria-label``, where no <label> names it (the admin's
    tabular inlines, whose column headers are not labels)."""
    return field.as_widget(attrs={"aria-label": str(label)})
