"""callout_date reads ISO timestamps with up to nine fractional digits (what Go and Java send),
dropping those past the sixth, as the Python coercion does. The definitions come from
segments/pgsql.py (the one place holding the current ones); the date expression indexes are
rebuilt, since values they stored as NULL now read as dates."""

import importlib

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from segments import pgsql

        schema_editor.execute(pgsql.FUNCTIONS)
        pgsql.reindex_dates(schema_editor.connection)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from segments import pgsql

        schema_editor.execute(
            importlib.import_module("segments.migrations.0006_inline_date_functions").FUNCTIONS
        )
        pgsql.reindex_dates(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("segments", "0007_segment_name_unique_ignoring_case")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
