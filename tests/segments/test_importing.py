"""Bulk import: identify's validation and merge, line-numbered rejects, idempotent re-runs.

Runs on whichever database the suite uses (the COPY path on PostgreSQL, the batched one on
SQLite); small batch sizes push rows through several batches."""

import csv
import io
import json
import sys

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import actions
from segments.importing import (
    ImportFileError,
    ImportResult,
    Reject,
    cell_value,
    clean_row,
    read_csv,
    read_jsonl,
    users_import,
)
from segments.management.commands.import_users import _Progress
from segments.models import EndUser
from segments.traits import MAX_TRAITS
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    actions.trait_definition_create(application=application, key="teamSize", type="number")
    actions.trait_definition_create(application=application, key="beta", type="boolean")
    return application


def traits_of(application):
    return dict(application.end_users.values_list("external_id", "traits"))


def import_csv(application, text, batch_size=2):
    types = {t.key: t.type for t in application.trait_definitions.all()}
    rows = read_csv(io.StringIO(text), types)
    return users_import(application=application, rows=rows, batch_size=batch_size)


def import_jsonl(application, lines, batch_size=2):
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return users_import(
        application=application, rows=read_jsonl(io.StringIO(text)), batch_size=batch_size
    )


CSV = """id,plan,teamSize,beta,zip
u1,free,3,true,02134
u2,pro,12,FALSE,
u3,,,,
"""


def test_csv__types_from_definitions__other_columns_stay_text(app):
    result = import_csv(app, CSV)
    assert (result.created, result.updated, result.unchanged, result.rejected) == (3, 0, 0, [])
    assert traits_of(app) == {
        "u1": {"plan": "free", "teamSize": 3, "beta": True, "zip": "02134"},
        "u2": {"plan": "pro", "teamSize": 12, "beta": False},
        "u3": {},
    }


def test_csv__unknown_columns_auto_discovered_like_identify(app):
    import_csv(app, "id,plan,signupDate\nu1,free,2026-11-01\n")
    types = dict(app.trait_definitions.values_list("key", "type"))
    assert types["plan"] == "string"
    assert types["signupDate"] == "date"
    assert app.trait_definitions.get(key="plan").auto_discovered


def test_csv__bad_rows_rejected_with_line_and_reason__good_rows_imported(app):
    text = (
        "id,plan,teamSize\n"  # line 1
        "u1,free,3\n"  # 2
        "u2,pro,lots\n"  # 3: not a number
        ",free,1\n"  # 4: no id
        'u3,"two\nlines",5\n'  # 5-6: a quoted newline
        "u4,pro\n"  # 7: a field short
        f"u5,{'x' * 2001},1\n"  # 8: text too long (identify's limit)
        "u6,ok,99999999999999999999\n"  # 9: out of range (identify's limit)
        "u7,enterprise,7\n"  # 10
    )
    result = import_csv(app, text)
    reasons = {r.line: r for r in result.rejected}
    assert sorted(reasons) == [3, 4, 7, 8, 9]
    assert "teamSize" in reasons[3].reason and "not a number" in reasons[3].reason
    assert reasons[4].reason == "id must be text of 1 to 255 characters."
    assert reasons[7].reason == "expected 3 fields, found 2"
    assert "longer than 2000" in reasons[8].reason
    assert "out of range" in reasons[9].reason
    assert set(traits_of(app)) == {"u1", "u3", "u7"}
    assert traits_of(app)["u3"] == {"plan": "two\nlines", "teamSize": 5}
    assert result.created == 3 and result.rows == 8


def test_import__merges_into_existing_users_like_identify(app):
    actions.end_user_identify(
        application=app, external_id="u1", traits={"plan": "free", "company": "Acme"}
    )
    result = import_jsonl(
        app,
        [
            {"id": "u1", "traits": {"plan": "pro", "company": None, "teamSize": 4}},
            {"id": "u2", "traits": {"plan": "free", "gone": None}},
        ],
    )
    assert (result.created, result.updated, result.rejected) == (1, 1, [])
    assert traits_of(app) == {"u1": {"plan": "pro", "teamSize": 4}, "u2": {"plan": "free"}}


def test_import__same_user_twice__later_line_merges_onto_earlier(app):
    import_jsonl(
        app,
        [
            {"id": "u1", "traits": {"plan": "free", "role": "admin"}},
            {"id": "u1", "traits": {"plan": "pro", "role": None}},
            {"id": "u1", "traits": {"teamSize": 2}},
        ],
        batch_size=100,
    )
    assert traits_of(app) == {"u1": {"plan": "pro", "teamSize": 2}}


def test_import__rerun__changes_nothing(app):
    first = import_csv(app, CSV)
    stored = traits_of(app)
    again = import_csv(app, CSV)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert traits_of(app) == stored
    assert first.rows == again.rows == 3


def test_jsonl__rejects_like_identify(app):
    result = import_jsonl(
        app,
        [
            {"id": "ok", "traits": {"plan": "free"}},
            "{not json",
            {"id": 42, "traits": {}},
            {"id": "list", "traits": {"tags": ["a"]}},
            {"id": "badkey", "traits": {"1abc": 1}},
            {"id": "typo", "trait": {"plan": "x"}},
            "[1, 2]",
        ],
    )
    reasons = {r.line: r.reason for r in result.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "id must be text of 1 to 255 characters."
    assert "is a list" in reasons[4]
    assert "invalid" in reasons[5]
    assert "unknown field 'trait'" in reasons[6]
    assert set(traits_of(app)) == {"ok"}


def test_import__merge_beyond_the_trait_limit__rejected_and_user_untouched(app):
    full = {f"t{i}": i for i in range(MAX_TRAITS)}
    actions.end_user_identify(application=app, external_id="full", traits=full)
    result = import_jsonl(
        app,
        [
            {"id": "full", "traits": {"extra": 1}},  # 201 traits: refused, as identify does
            {"id": "full", "traits": {"t0": None, "extra": 1}},  # 200: fine
            {"id": "other", "traits": {"plan": "free"}},
        ],
        batch_size=100,
    )
    assert result.rejected == [Reject(1, "full", f"A user can have at most {MAX_TRAITS} traits.")]
    stored = traits_of(app)["full"]
    assert len(stored) == MAX_TRAITS and "t0" not in stored and stored["extra"] == 1
    assert traits_of(app)["other"] == {"plan": "free"}


def test_import__new_user_with_too_many_traits__rejected(app):
    result = import_jsonl(
        app,
        [
            {"id": "many", "traits": {f"t{i}": i for i in range(MAX_TRAITS + 1)}},
            {"id": "fine", "traits": {f"t{i}": i for i in range(MAX_TRAITS)}},
        ],
    )
    assert result.rejected == [Reject(1, "many", f"A user can have at most {MAX_TRAITS} traits.")]
    assert set(traits_of(app)) == {"fine"}
    assert (result.created, result.unchanged) == (1, 0)


def test_csv__header_problems__refuse_the_whole_file(app):
    with pytest.raises(ImportFileError, match='no "id" column'):
        import_csv(app, "user,plan\nu1,free\n")
    with pytest.raises(ImportFileError, match="twice"):
        import_csv(app, "id,plan,plan\nu1,a,b\n")
    with pytest.raises(ImportFileError, match="invalid"):
        import_csv(app, "id,1plan\nu1,a\n")
    assert EndUser.objects.filter(application=app).count() == 0


def test_command__imports_reports_and_writes_rejects(app, tmp_path, capsys):
    path = tmp_path / "users.csv"
    path.write_text("id,plan,teamSize,signupDate\nu1,free,3,2026-11-01\nu2,pro,x,\n")
    call_command("import_users", str(path), "--app", str(app.pk), "--type", "signupDate=date")
    out, err = capsys.readouterr()
    assert "2 rows" in out and "1 created" in out and "1 rejected" in out
    assert "line 3 (u2): teamSize" in err
    rejects = (tmp_path / "users.csv.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,id,reason" and rejects[1].startswith("3,u2,")
    assert app.trait_definitions.get(key="signupDate").type == "date"
    assert traits_of(app) == {"u1": {"plan": "free", "teamSize": 3, "signupDate": "2026-11-01"}}

    call_command("import_users", str(path), "--app", app.public_key, "--no-progress")
    out, _ = capsys.readouterr()
    assert "0 created, 0 updated, 1 unchanged, 1 rejected" in out


def test_command__from_standard_input__keeps_line_breaks_inside_quoted_cells(
    app, tmp_path, monkeypatch, capsys
):
    data = '\ufeffid,bio\r\nu1,"two\r\nlines"\r\nu2,plain\r\n'.encode()
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.chdir(tmp_path)
    call_command("import_users", "-", "--app", str(app.pk), "--no-progress")
    assert traits_of(app) == {"u1": {"bio": "two\r\nlines"}, "u2": {"bio": "plain"}}
    assert not stdin.closed


def test_command__jsonl_by_extension(app, tmp_path, capsys):
    path = tmp_path / "users.jsonl"
    path.write_text('{"id": "u1", "traits": {"teamSize": "12"}}\n\n')
    call_command("import_users", str(path), "--app", app.name)
    assert traits_of(app) == {"u1": {"teamSize": "12"}}  # JSON values are stored as given


def test_command__conflicting_type_declaration__refused(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,teamSize\nu1,3\n")
    with pytest.raises(CommandError, match="already a number"):
        call_command("import_users", str(path), "--app", str(app.pk), "--type", "teamSize=date")
    with pytest.raises(CommandError, match="No application"):
        call_command("import_users", str(path), "--app", "nope")


# --- read_csv checks rows on the whole record; it must refuse exactly what identify refuses ---

TYPES = {"plan": "string", "teamSize": "number", "beta": "boolean", "signupDate": "date"}
COLUMNS = ["id", "plan", "teamSize", "beta", "signupDate", "note"]  # note: no definition

cells = st.one_of(
    st.just(""),
    st.sampled_from(["free", "pro", " 12 ", "-3.5", "1e400", "n/a", "TRUE", "false", "yes"]),
    st.sampled_from(["2026-11-20", "2026-11-20T14:30:00Z", "2026-02-30", "1700000000", "1.5"]),
    st.integers().map(str),  # beyond 64 bits too: identify's range check
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["x" * 255, "x" * 256, "x" * 2000, "x" * 2001]),  # id and text limits
    st.sampled_from(["a\x00b", "\udc80", "caf\u00e9", 'a "quoted", cell', "back\\slash\t"]),
    st.text(st.characters(exclude_characters="\r\n"), max_size=8),
)


def read_by_identify(line, record):
    """The reading without shortcuts: each cell by cell_value, each row through clean_row."""
    traits = {}
    for name, text in zip(COLUMNS[1:], record[1:], strict=True):
        if text:
            try:
                traits[name] = cell_value(text, TYPES.get(name))
            except ValueError as error:
                return Reject(
                    line, record[0], f"{name}: {error} (the trait is a {TYPES.get(name)})"
                )
    return clean_row(line, record[0], traits)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(cells, min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=5))
def test_read_csv__accepts_and_refuses_exactly_like_identify(records):
    out = io.StringIO()
    csv.writer(out).writerows([COLUMNS, *records])
    expected = [read_by_identify(n, record) for n, record in enumerate(records, start=2)]
    assert list(read_csv(io.StringIO(out.getvalue()), TYPES)) == expected


def test_postgresql_copy__ids_and_text_with_tabs_backslashes_and_quotes_round_trip(app):
    odd = {"note": 'back\\slash, "quoted"\ttab\nnewline', "path": "C:\\x"}
    result = import_jsonl(app, [{"id": "a\tb\\c\nd", "traits": odd}, {"id": "plain", "traits": {}}])
    assert result.created == 2 and result.rejected == []
    assert traits_of(app) == {"a\tb\\c\nd": odd, "plain": {}}


def test_jsonl__null_for_a_trait_the_user_lacks__rerun_is_unchanged(app):
    lines = [{"id": "u1", "traits": {"plan": "pro", "null": None}}]
    import_jsonl(app, [{"id": "u1", "traits": {"null": "a key named null", "plan": "free"}}])
    first = import_jsonl(app, lines)
    assert (first.updated, traits_of(app)) == (1, {"u1": {"plan": "pro"}})
    again = import_jsonl(app, lines)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_progress__share_read_is_the_file_offset(tmp_path, capsys):
    path = tmp_path / "users.csv"
    path.write_text("id\n" + "u\n" * 50_000)
    with open(path) as stream:
        progress = _Progress(stream, enabled=True)
        stream.read(50_000)  # half of the file
        progress.update(ImportResult(rows=1_000))
    err = capsys.readouterr().err
    assert "50%" in err and "1,000 rows" in err and "ETA" in err


def test_import__rows_with_a_new_trait_past_the_definition_limit__rejected(app, settings):
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 3  # teamSize and beta are defined: room for one
    result = import_jsonl(
        app,
        [
            {"id": "a", "traits": {"plan": "free"}},
            {"id": "b", "traits": {"teamSize": 2, "region": "eu"}},
            {"id": "c", "traits": {"plan": "pro", "teamSize": 3}},
            {"id": "d", "traits": {"region": None, "beta": True}},
        ],
        batch_size=10,
    )
    assert [(r.line, r.external_id) for r in result.rejected] == [(2, "b")]
    assert "'region' is new" in result.rejected[0].reason
    assert traits_of(app) == {
        "a": {"plan": "free"},
        "c": {"plan": "pro", "teamSize": 3},
        "d": {"beta": True},
    }
    assert set(app.trait_definitions.values_list("key", flat=True)) == {"teamSize", "beta", "plan"}
