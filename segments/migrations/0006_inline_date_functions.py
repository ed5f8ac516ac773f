"""callout_date and callout_iso_epoch as plain SQL expressions that PostgreSQL inlines.

The PL/pgSQL callout_iso_epoch of 0003 costs about 20 us a call in bulk and about 80 us for the
first call of each transaction, most of it ``regexp_match`` capturing eight groups. Every
identify that changes a user's traits pays it once more for each date trait with an expression
index (segments/indexing.py): it was the largest part of identify's cost in the database.

Here the regular expression only validates (``~``, about 1 us: no captures), and the fields are
read at the fixed positions the pattern guarantees. A single-SELECT SQL function without FROM
whose body is immutable is inlined into the calling query and into index expressions, so
there is no function call at all (``EXPLAIN VERBOSE`` shows the expression). callout_date
carries the expression itself, calling no function of ours: an index on it does not depend on
the search_path, which pg_restore empties.

The result is the same for every input: term for term the arithmetic of 0003, and
tests/segments/test_parity.py holds it to the Python evaluator. Existing indexes on
callout_date stay valid, since no value changes.
"""

import importlib

from django.db import migrations

ISO = importlib.import_module("segments.migrations.0002_sql_functions").ISO

# Positions in an ISO text that matched ISO: YYYY-MM-DD at 1-10; with a time, HH at 12, MM at
# 15, then ":SS" at 17, ".f{1,6}" at 20, and an offset last ("Z", or "+HH:MM" in the last six
# characters; a date alone has no offset, and its "-" at length - 5 is not one). CASE runs its
# branches lazily, so the casts only ever see text that the pattern admitted.
ISO_EPOCH = r"""CASE
    WHEN NOT @s ~ '%(iso)s' OR left(@s, 4) = '0000' THEN NULL
    WHEN substr(@s, 9, 2)::int > extract(day FROM
           make_date(left(@s, 4)::int, substr(@s, 6, 2)::int, 1)
           + interval '1 month' - interval '1 day') THEN NULL
    ELSE ((
      ((make_date(left(@s, 4)::int, substr(@s, 6, 2)::int, substr(@s, 9, 2)::int)
          - date '1970-01-01')::bigint * 86400
        + CASE WHEN length(@s) > 10
               THEN substr(@s, 12, 2)::bigint * 3600 + substr(@s, 15, 2)::bigint * 60 ELSE 0 END
        + CASE WHEN substr(@s, 17, 1) = ':' THEN substr(@s, 18, 2)::bigint ELSE 0 END
        - CASE WHEN length(@s) <= 16 OR substr(@s, length(@s) - 5, 1) NOT IN ('+', '-') THEN 0
               ELSE (CASE WHEN substr(@s, length(@s) - 5, 1) = '+' THEN 1 ELSE -1 END)
                    * (substr(@s, length(@s) - 4, 2)::bigint * 3600 + right(@s, 2)::bigint * 60)
          END) * 1000000
      + CASE WHEN substr(@s, 20, 1) = '.'
             THEN rpad(split_part(translate(substr(@s, 21, 6), 'Z+-', '   '), ' ', 1), 6, '0')
                  ::bigint
             ELSE 0 END
    )::numeric * 0.000001)::double precision
  END"""


def iso_epoch(text: str) -> str:
    """The ISO branch as an expression of ``text`` (an SQL expression yielding text)."""
    return ISO_EPOCH.replace("@s", text) % {"iso": ISO}


FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION callout_iso_epoch(s text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT {iso_epoch("s")}
$$;

CREATE OR REPLACE FUNCTION callout_date(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'number' THEN CASE WHEN (v #>> '{{}}')::double precision > 1e11
                            THEN (v #>> '{{}}')::double precision / 1000.0
                            ELSE (v #>> '{{}}')::double precision END
    WHEN 'string' THEN {iso_epoch("(v #>> '{}')")}
  END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            importlib.import_module("segments.migrations.0002_sql_functions").FUNCTIONS
        )
        schema_editor.execute(
            importlib.import_module("segments.migrations.0003_iso_epoch_plpgsql").PLPGSQL
        )


class Migration(migrations.Migration):
    dependencies = [("segments", "0005_enduser_no_lone_application_index")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
