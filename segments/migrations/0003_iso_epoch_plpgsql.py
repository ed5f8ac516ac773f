"""callout_iso_epoch in PL/pgSQL: the same statements, about 6x faster per call.

As a LANGUAGE sql function with a FROM clause it cannot be inlined, and PostgreSQL 15 runs such
a function through the SQL-function executor on every call: about 190 us per date, which made
a date rule over 1,000,000 users take minutes (benchmarks/members.py). PL/pgSQL keeps its plan
and costs about 30 us, most of it the regular expression. The body is the one in 0002, term for
term; tests/segments/test_parity.py holds it to the Python evaluator. Still IMMUTABLE, so the
per-trait expression indexes (segments/indexing.py) can be built on callout_date.
"""

import importlib

from django.db import migrations

ISO = importlib.import_module("segments.migrations.0002_sql_functions").ISO

PLPGSQL = rf"""
CREATE OR REPLACE FUNCTION callout_iso_epoch(s text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  m text[] := regexp_match(s, '{ISO}');
BEGIN
  RETURN CASE
    WHEN m IS NULL OR m[1] = '0000' THEN NULL
    WHEN m[3]::int > extract(day FROM make_date(m[1]::int, m[2]::int, 1)
                                      + interval '1 month' - interval '1 day') THEN NULL
    ELSE ((
      ((make_date(m[1]::int, m[2]::int, m[3]::int) - date '1970-01-01')::bigint * 86400
        + coalesce(m[4]::bigint, 0) * 3600 + coalesce(m[5]::bigint, 0) * 60
        + coalesce(m[6]::bigint, 0)
        - CASE WHEN m[8] IS NULL OR m[8] = 'Z' THEN 0
               ELSE (CASE WHEN left(m[8], 1) = '+' THEN 1 ELSE -1 END)
                    * (substr(m[8], 2, 2)::bigint * 3600 + substr(m[8], 5, 2)::bigint * 60)
          END) * 1000000
      + rpad(coalesce(m[7], ''), 6, '0')::bigint
    )::numeric * 0.000001)::double precision
  END;
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLPGSQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = importlib.import_module("segments.migrations.0002_sql_functions").FUNCTIONS
        schema_editor.execute(previous)


class Migration(migrations.Migration):
    dependencies = [("segments", "0002_sql_functions")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
