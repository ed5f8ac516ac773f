from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _json_value(kind: str | None, value: Any) -> Any:
    """SQLite's json_type/json_extract pair back to the Python value the evaluator reads."""
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind is None or kind == "null":
        return None
    return value


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """SQLite runs the evaluator's own coercions as SQL functions (PostgreSQL: migration 0002)."""
    if connection.vendor != "sqlite":
        return
    from . import evaluator

    def coercing(coerce: Any) -> Any:
        return lambda kind, value: coerce(_json_value(kind, value))

    create = connection.connection.create_function
    create("callout_text", 2, coercing(evaluator.coerce_text), deterministic=True)
    create("callout_num", 2, coercing(evaluator.coerce_number), deterministic=True)
    create("callout_bool", 2, coercing(evaluator.coerce_boolean), deterministic=True)
    create("callout_date", 2, coercing(evaluator.coerce_date), deterministic=True)
    create(
        "callout_fold", 1, lambda s: None if s is None else evaluator.fold(s), deterministic=True
    )


class SegmentsConfig(AppConfig):
    name = "segments"

    def ready(self) -> None:
        connection_created.connect(
            register_sqlite_functions, dispatch_uid="segments.sqlite_functions"
        )
