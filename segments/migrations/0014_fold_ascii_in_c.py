"""callout_fold lowers ASCII text in the C collation (ICU's mapping on ASCII at half the cost
per row: a count that reads a text trait of a million users spent ~0.4 s of CPU in ICU). The
definitions come from segments/pgsql.py. Same values as before for every text: the
expression indexes on it stay valid and are not rebuilt."""

from django.db import migrations

PREVIOUS_FOLD = """
CREATE OR REPLACE FUNCTION callout_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT lower(s COLLATE "und-x-icu")
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from segments import pgsql

        schema_editor.execute(pgsql.FUNCTIONS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_FOLD)


class Migration(migrations.Migration):
    dependencies = [("segments", "0013_companies")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
