"""PostgreSQL versions of the evaluator's coercions (segments/evaluator.py).

Each mirrors its Python twin exactly; tests/segments/test_parity.py holds them to it. They are
IMMUTABLE so that expression indexes can be built on them. SQLite gets the Python functions
themselves, registered per connection (segments/apps.py).
"""

from django.db import migrations

NUMERIC = (
    r"^[ \t\n\r\f\v]*[+-]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-9]{1,2})?"
    r"[ \t\n\r\f\v]*$"
)
ISO = (
    r"^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,6}))?)?"
    r"(Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?)?$"
)

FUNCTIONS = rf"""
CREATE OR REPLACE FUNCTION callout_num(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'number' THEN (v #>> '{{}}')::double precision
    WHEN 'string' THEN CASE WHEN (v #>> '{{}}') ~ '{NUMERIC}'
                            THEN (v #>> '{{}}')::double precision END
  END
$$;

CREATE OR REPLACE FUNCTION callout_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'boolean' THEN (v #>> '{{}}')::boolean
    WHEN 'string' THEN CASE lower((v #>> '{{}}') COLLATE "C")
                         WHEN 'true' THEN true WHEN 'false' THEN false END
  END
$$;

-- ISO 8601 text to Unix seconds, or NULL: no exception block (no subtransaction per row);
-- nested CASEs keep make_date away from impossible dates.
CREATE OR REPLACE FUNCTION callout_iso_epoch(s text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
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
  END
  FROM (SELECT regexp_match(s, '{ISO}') AS m) AS parsed
$$;

CREATE OR REPLACE FUNCTION callout_date(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'number' THEN CASE WHEN (v #>> '{{}}')::double precision > 1e11
                            THEN (v #>> '{{}}')::double precision / 1000.0
                            ELSE (v #>> '{{}}')::double precision END
    WHEN 'string' THEN callout_iso_epoch(v #>> '{{}}')
  END
$$;

-- Python's str.lower() is Unicode's full lowercase mapping; ICU's root locale is the same.
CREATE OR REPLACE FUNCTION callout_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT lower(s COLLATE "und-x-icu")
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS callout_fold(text);
DROP FUNCTION IF EXISTS callout_date(jsonb);
DROP FUNCTION IF EXISTS callout_iso_epoch(text);
DROP FUNCTION IF EXISTS callout_bool(jsonb);
DROP FUNCTION IF EXISTS callout_num(jsonb);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
