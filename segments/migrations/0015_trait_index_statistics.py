"""Each per-trait expression index gets a statistics object on its expression, named
callout_ts_... for its callout_ti_... (segments/indexing.py creates them with new indexes from
now on, and for company traits): PostgreSQL ignores a partial
index's statistics, so without them every trait rule was estimated at 0.5% of the users and
counts of broad rules ran in one process (docs/scale.md). Then the users table is analysed."""

from django.db import migrations

INDEXES = r"""
    SELECT c.relname, pg_get_expr(i.indexprs, i.indrelid) FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'segments_enduser'::regclass AND c.relname LIKE 'callout\_ti\_%'
      AND i.indexprs IS NOT NULL"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(INDEXES)
        indexes = cursor.fetchall()
        for name, expression in indexes:
            statistics = name.replace("callout_ti_", "callout_ts_", 1)
            cursor.execute(
                f'CREATE STATISTICS IF NOT EXISTS "{statistics}" ON ({expression}) '
                "FROM segments_enduser"
            )
        if indexes:
            cursor.execute("ANALYZE segments_enduser (application_id, traits)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE %s", [r"callout\_ts\_%"]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP STATISTICS IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("segments", "0014_fold_ascii_in_c")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
