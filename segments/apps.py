from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _json_value(kind: str | None, value: Any) -> Any:
    """SQLite's json_type/json_extract pair back to the Python value the coercions read."""
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind is None or kind == "null":
        return None
    return value


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """SQLite runs the coercions themselves as SQL functions (PostgreSQL: segments/pgsql.py)."""
    if connection.vendor != "sqlite":
        return
    from . import coerce

    def coercing(coerce: Any) -> Any:
        return lambda kind, value: coerce(_json_value(kind, value))

    create = connection.connection.create_function
    create("callout_text", 2, coercing(coerce.coerce_text), deterministic=True)
    create("callout_num", 2, coercing(coerce.coerce_number), deterministic=True)
    create("callout_bool", 2, coercing(coerce.coerce_boolean), deterministic=True)
    create("callout_date", 2, coercing(coerce.coerce_date), deterministic=True)
    create("callout_fold", 1, lambda s: None if s is None else coerce.fold(s), deterministic=True)


class SegmentsConfig(AppConfig):
    name = "segments"

    def ready(self) -> None:
        connection_created.connect(
            register_sqlite_functions, dispatch_uid="segments.sqlite_functions"
        )
        from . import audit  # noqa: F401  (connects the login signals the audit log records)
