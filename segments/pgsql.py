"""The PostgreSQL twins of the coercions in ``segments/coerce.py``, as they are now.

Migrations run ``FUNCTIONS`` (the latest one that changed them: 0013) and the tests read it:
one place holds the current definitions. Each function mirrors its Python twin exactly;
tests/segments/test_parity.py holds them to it. They are IMMUTABLE so that expression indexes
can be built on them; a change of meaning must REINDEX those indexes (``reindex_dates``).

callout_date carries the ISO parse as a plain SQL expression that PostgreSQL inlines (into
queries and index expressions): the regular expression only validates, and the fields are
read at the fixed positions the pattern guarantees (see migration 0006 for the measurements).
"""

from __future__ import annotations

from typing import Any

from .coerce import ISO_PATTERN, NUMERIC_PATTERN

# Positions in an ISO text that matched ISO_PATTERN: YYYY-MM-DD at 1-10; with a time, HH at
# 12, MM at 15, then ":SS" at 17, ".f{1,9}" at 20 (the first six digits are read: digits past
# microseconds are dropped), and an offset last ("Z", or "+HH:MM" in the last six characters;
# a date alone has no offset, and its "-" at length - 5 is not one). CASE runs its branches
# lazily, so the casts only ever see text that the pattern admitted.
_ISO_EPOCH = r"""CASE
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
    """The ISO parse as an expression of ``text`` (an SQL expression yielding text)."""
    return _ISO_EPOCH.replace("@s", text) % {"iso": ISO_PATTERN}


FUNCTIONS = rf"""
CREATE OR REPLACE FUNCTION callout_num(v jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(v)
    WHEN 'number' THEN (v #>> '{{}}')::double precision
    WHEN 'string' THEN CASE WHEN (v #>> '{{}}') ~ '{NUMERIC_PATTERN}'
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

-- Python's str.lower() is Unicode's full lowercase mapping; ICU's root locale is the same.
-- ASCII text (as many bytes as characters: the database is UTF-8, as Django requires) is
-- lowered in the C collation instead, the same mapping on ASCII at half ICU's cost per row.
CREATE OR REPLACE FUNCTION callout_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length(s) = length(s) THEN lower(s COLLATE "C") COLLATE "und-x-icu"
              ELSE lower(s COLLATE "und-x-icu") END
$$;
"""

# Expression indexes on a date trait (segments/indexing.py) store callout_date's values.
_DATE_INDEXES = """
    SELECT i.indexrelid::regclass::text FROM pg_index i
    WHERE strpos(pg_get_indexdef(i.indexrelid), 'callout_date') > 0"""


def reindex_dates(connection: Any) -> list[str]:
    """Rebuild every index on callout_date: after its meaning changed, values it used to read
    as NULL (or otherwise) must be indexed anew. Returns the names rebuilt."""
    with connection.cursor() as cursor:
        cursor.execute(_DATE_INDEXES)
        names = [name for (name,) in cursor.fetchall()]
        for name in names:
            cursor.execute(f"REINDEX INDEX {name}")  # a regclass text: quoted where needed
    return names
