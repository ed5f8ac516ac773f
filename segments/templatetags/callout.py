from django import template

register = template.Library()


@register.filter
def startswith(text: str | None, prefix: str) -> bool:
    return bool(text) and str(text).startswith(prefix)
