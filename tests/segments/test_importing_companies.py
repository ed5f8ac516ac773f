"""Companies in the bulk imports: import_companies (identify's checks and merge for a company,
company trait discovery, rejects, idempotent re-runs) and the company of each user in
import_users (JSON Lines' "company", CSV's --company-column).

Runs on whichever database the suite uses (the COPY path on PostgreSQL, the batched one on
SQLite); small batch sizes push rows through several batches."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import actions, merge
from segments.companies import KEEP
from segments.importing import (
    ImportFileError,
    Reject,
    Row,
    clean_company_row,
    clean_row,
    companies_import,
    read_csv,
    read_jsonl,
    users_import,
)
from segments.models import Company, EndUser, TraitDefinition
from segments.traits import MAX_TRAITS
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

COMPANY = TraitDefinition.Scope.COMPANY


@pytest.fixture
def app():
    application = ApplicationFactory()
    actions.trait_definition_create(
        application=application, key="seats", type="number", scope=COMPANY
    )
    # A user trait of the same name is not the company's: it does not type company cells.
    actions.trait_definition_create(application=application, key="trial", type="boolean")
    return application


def company_types(application):
    return dict(application.trait_definitions.filter(scope=COMPANY).values_list("key", "type"))


def companies_of(application):
    return dict(
        Company.objects.filter(application=application).values_list("external_id", "traits")
    )


def members_of(application):
    return dict(
        EndUser.objects.filter(application=application).values_list(
            "external_id", "company__external_id"
        )
    )


def import_companies_csv(application, text, batch_size=2):
    rows = read_csv(io.StringIO(text), company_types(application), clean=clean_company_row)
    return companies_import(application=application, rows=rows, batch_size=batch_size)


def lines_of(lines):
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)


def import_companies_jsonl(application, lines, batch_size=2):
    rows = read_jsonl(io.StringIO(lines_of(lines)), clean=clean_company_row)
    return companies_import(application=application, rows=rows, batch_size=batch_size)


def import_users_jsonl(application, lines, batch_size=2):
    rows = read_jsonl(io.StringIO(lines_of(lines)))
    return users_import(application=application, rows=rows, batch_size=batch_size)


def counts(result):
    return (result.created, result.updated, result.unchanged, len(result.rejected))


# --- import_companies --------------------------------------------------------------------


def test_csv__company_trait_types_convert__other_columns_discovered_as_company_traits(app):
    text = "id,plan,seats,trial,renewal\nacme,enterprise,40,true,2026-12-01\nglobex,,3,,\n"
    result = import_companies_csv(app, text)
    assert counts(result) == (2, 0, 0, 0)
    assert companies_of(app) == {
        "acme": {"plan": "enterprise", "seats": 40, "trial": "true", "renewal": "2026-12-01"},
        "globex": {"seats": 3},
    }
    assert company_types(app) == {
        "seats": "number",
        "plan": "string",
        "trial": "string",
        "renewal": "date",
    }
    assert app.trait_definitions.get(scope=COMPANY, key="plan").auto_discovered
    # No user trait was defined by it, nor a user created.
    assert set(app.trait_definitions.users().values_list("key", flat=True)) == {"trial"}
    assert not EndUser.objects.exists()


def test_csv__bad_rows_rejected_with_line_and_reason__good_rows_imported(app):
    text = (
        "id,plan,seats\n"  # line 1
        "acme,pro,40\n"  # 2
        "globex,pro,lots\n"  # 3: not a number
        ",pro,1\n"  # 4: no id
        f"{'x' * 256},pro,1\n"  # 5: id too long
        f"initech,{'x' * 2001},1\n"  # 6: text too long
        "umbrella,pro\n"  # 7: a field short
        "hooli,free,2\n"  # 8
    )
    result = import_companies_csv(app, text)
    reasons = {r.line: r.reason for r in result.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    assert "seats" in reasons[3] and "not a number" in reasons[3]
    assert reasons[4] == reasons[5] == "id must be text of 1 to 255 characters."
    assert reasons[6] == "Company trait 'plan': text is longer than 2000 characters."
    assert reasons[7] == "expected 3 fields, found 2"
    assert companies_of(app) == {
        "acme": {"plan": "pro", "seats": 40},
        "hooli": {"plan": "free", "seats": 2},
    }
    assert result.rows == 7


def test_import__merges_into_stored_companies_like_identify__rerun_changes_nothing(app):
    actions.end_user_identify(
        application=app,
        external_id="u1",
        company={"id": "acme", "traits": {"plan": "free", "seats": 2, "region": "eu"}},
    )
    lines = [
        {"id": "acme", "traits": {"plan": "pro", "region": None}},
        {"id": "globex", "traits": {"seats": 7}},
        {"id": "globex", "traits": {"seats": 8, "plan": "free"}},  # later line merges onto it
    ]
    first = import_companies_jsonl(app, lines)
    assert counts(first) == (1, 2, 0, 0)
    assert companies_of(app) == {
        "acme": {"plan": "pro", "seats": 2},
        "globex": {"seats": 8, "plan": "free"},
    }
    assert members_of(app) == {"u1": "acme"}  # importing companies moves no user
    again = import_companies_jsonl(app, lines[:1] + lines[2:])
    assert counts(again) == (0, 0, 2, 0)


def test_jsonl__rejects_like_identify_would_for_a_company(app):
    lines = [
        "not json",
        "[1]",
        {"id": "acme", "traits": {"seats": [1]}},
        {"id": "acme", "traits": {"9x": 1}},
        {"id": "acme", "company": "x"},  # a company has no company
        {"id": None},
        {"id": 42, "traits": {"plan": "pro"}},  # a whole number: its decimal text
        {"id": "globex", "traits": {f"t{n}": n for n in range(MAX_TRAITS + 1)}},
    ]
    result = import_companies_jsonl(app, lines)
    reasons = {r.line: r.reason for r in result.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 8]
    assert reasons[3] == (
        "Company trait 'seats' is a list; company trait values must be text, numbers, "
        "true/false or null."
    )
    assert reasons[4].startswith("Company trait key '9x' is invalid")
    assert reasons[5] == "unknown field 'company' (expected id and traits)"
    assert reasons[6] == "id (the company's id) is required."
    assert reasons[8] == f"A company can have at most {MAX_TRAITS} traits."
    assert companies_of(app) == {"42": {"plan": "pro"}}


def test_import__merge_beyond_the_trait_limit__rejected__company_untouched(app):
    full = {f"t{n}": n for n in range(MAX_TRAITS)}
    import_companies_jsonl(app, [{"id": "acme", "traits": full}])
    result = import_companies_jsonl(
        app,
        [{"id": "acme", "traits": {"more": 1}}, {"id": "b", "traits": {"more": 2}}],
        batch_size=10,
    )
    assert [(r.line, r.reason) for r in result.rejected] == [(1, merge.COMPANY_TOO_MANY)]
    assert companies_of(app) == {"acme": full, "b": {"more": 2}}
    # Removing one makes room.
    result = import_companies_jsonl(app, [{"id": "acme", "traits": {"t0": None, "more": 1}}])
    assert counts(result) == (0, 1, 0, 0)


def test_import__a_new_company_trait_past_the_definition_limit__rejected(app, settings):
    """Counted among company traits only: the user trait does not use up their room."""
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 2  # seats is defined: room for one
    result = import_companies_jsonl(
        app,
        [
            {"id": "a", "traits": {"plan": "pro"}},
            {"id": "b", "traits": {"seats": 2, "region": "eu"}},
            {"id": "c", "traits": {"seats": 3, "plan": "free"}},
        ],
        batch_size=10,
    )
    assert [r.line for r in result.rejected] == [2]
    assert "Company trait 'region' is new" in result.rejected[0].reason
    assert companies_of(app) == {"a": {"plan": "pro"}, "c": {"seats": 3, "plan": "free"}}
    assert company_types(app) == {"seats": "number", "plan": "string"}


def test_command__imports_reports_and_writes_rejects(app, tmp_path, capsys):
    path = tmp_path / "companies.csv"
    path.write_text("id,plan,seats,renewal\nacme,pro,40,2026-12-01\nglobex,pro,x,\n")
    call_command("import_companies", str(path), "--app", str(app.pk), "--type", "renewal=date")
    out, err = capsys.readouterr()
    assert "2 rows" in out and "1 created" in out and "1 rejected" in out
    assert "line 3 (globex): seats" in err
    rejects = (tmp_path / "companies.csv.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,id,reason" and rejects[1].startswith("3,globex,")
    assert company_types(app)["renewal"] == "date"
    assert not app.trait_definitions.users().filter(key="renewal").exists()
    assert companies_of(app) == {"acme": {"plan": "pro", "seats": 40, "renewal": "2026-12-01"}}
    call_command("import_companies", str(path), "--app", app.public_key, "--no-progress")
    out, _ = capsys.readouterr()
    assert "0 created, 0 updated, 1 unchanged, 1 rejected" in out

    jsonl = tmp_path / "companies.jsonl"
    jsonl.write_text('{"id": "acme", "traits": {"seats": 41, "plan": null}}\n')
    call_command("import_companies", str(jsonl), "--app", app.name, "--no-progress")
    assert companies_of(app)["acme"] == {"seats": 41, "renewal": "2026-12-01"}
    with pytest.raises(CommandError, match="already a number"):
        call_command("import_companies", str(path), "--app", str(app.pk), "--type", "seats=date")


# --- the users' companies in import_users ------------------------------------------------


def test_jsonl__company_puts_the_user_in_it__null_takes_them_out__no_key_keeps(app):
    actions.end_user_identify(application=app, external_id="u3", company={"id": "initech"})
    first = import_users_jsonl(
        app,
        [
            {"id": "u1", "traits": {"plan": "pro"}, "company": "acme"},
            {"id": "u2", "company": "acme"},
            {"id": "u3", "traits": {"plan": "free"}},  # keeps initech
            {"id": "u4", "company": None},
            {"id": "u5", "company": 42},  # a whole number: its decimal text
        ],
    )
    assert counts(first) == (4, 1, 0, 0)
    assert members_of(app) == {"u1": "acme", "u2": "acme", "u3": "initech", "u4": None, "u5": "42"}
    # Created without traits; and a company's traits are left as they are.
    assert companies_of(app) == {"acme": {}, "initech": {}, "42": {}}
    moves = [
        {"id": "u1", "company": "globex"},  # moves, traits as they are
        {"id": "u2", "traits": {"plan": "free"}, "company": "acme"},  # traits only
        {"id": "u3", "company": None},  # leaves
        {"id": "u4", "company": None},  # unchanged
        {"id": "u5", "traits": {"plan": None}, "company": "initech"},  # removes and moves
    ]
    second = import_users_jsonl(app, moves)
    assert counts(second) == (0, 4, 1, 0)
    assert members_of(app) == {
        "u1": "globex",
        "u2": "acme",
        "u3": None,
        "u4": None,
        "u5": "initech",
    }
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "pro"}
    again = import_users_jsonl(app, moves)
    assert counts(again) == (0, 0, 5, 0)


def test_jsonl__a_bad_company__rejected__and_a_rejected_rows_company_is_not_created(app):
    full = {f"t{n}": n for n in range(MAX_TRAITS)}
    actions.end_user_identify(application=app, external_id="full", traits=full)
    result = import_users_jsonl(
        app,
        [
            {"id": "u1", "company": ""},
            {"id": "u2", "company": {"id": "acme"}},
            {"id": "u3", "company": "a\x00b"},
            {"id": "full", "traits": {"more": 1}, "company": "lonely"},  # too many traits
            {"id": "u4", "company": "kept", "traits": {"a": 1}},
            {"id": "full", "traits": {"more": 1}, "company": "kept"},
        ],
        batch_size=10,
    )
    reasons = {r.line: r.reason for r in result.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 6]
    assert reasons[1] == reasons[2] == "company must be text of 1 to 255 characters."
    assert reasons[3] == "company contains a NUL character."
    assert reasons[4] == reasons[6] == merge.TOO_MANY
    assert companies_of(app) == {"kept": {}}
    assert members_of(app) == {"full": None, "u4": "kept"}


def test_csv__company_column__named_by_the_caller(app):
    text = "id,plan,org\nu1,pro,acme\nu2,free,\n"
    actions.end_user_identify(application=app, external_id="u2", company={"id": "initech"})
    rows = read_csv(io.StringIO(text), {}, company_column="org")
    result = users_import(application=app, rows=rows, batch_size=2)
    assert counts(result) == (1, 1, 0, 0)
    assert members_of(app) == {"u1": "acme", "u2": "initech"}  # an empty cell keeps it
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "pro"}
    assert not app.trait_definitions.filter(key="org").exists()
    # Without it, a company column is a user trait, as it always was.
    rows = read_csv(io.StringIO("id,company\nu3,Acme\n"), {})
    users_import(application=app, rows=rows)
    assert EndUser.objects.get(external_id="u3").traits == {"company": "Acme"}
    assert EndUser.objects.get(external_id="u3").company is None
    with pytest.raises(ImportFileError, match='no "org" column'):
        list(read_csv(io.StringIO("id,plan\nu1,a\n"), {}, company_column="org"))
    rows = list(read_csv(io.StringIO(f"id,org\nu1,{'x' * 256}\n"), {}, company_column="org"))
    assert rows == [Reject(2, "u1", "company must be text of 1 to 255 characters.")]


def test_command__company_column_and_jsonl_company(app, tmp_path, capsys):
    path = tmp_path / "users.csv"
    path.write_text("id,plan,company\nu1,pro,acme\nu2,pro,\n")
    call_command("import_users", str(path), "--app", str(app.pk), "--company-column", "company")
    assert members_of(app) == {"u1": "acme", "u2": None}
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "pro"}
    jsonl = tmp_path / "users.jsonl"
    jsonl.write_text('{"id": "u2", "company": "globex"}\n')
    call_command("import_users", str(jsonl), "--app", str(app.pk), "--no-progress")
    assert members_of(app) == {"u1": "acme", "u2": "globex"}
    with pytest.raises(CommandError, match="for CSV"):
        call_command("import_users", str(jsonl), "--app", str(app.pk), "--company-column", "c")
    with pytest.raises(CommandError, match='no "org" column'):
        call_command("import_users", str(path), "--app", str(app.pk), "--company-column", "org")


def test_command__a_column_named_company_attaches_users__unless_told_it_is_a_trait(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("id,plan,company\nu1,pro,acme\n")
    call_command("import_users", str(path), "--app", str(app.pk), "--no-progress")
    assert members_of(app) == {"u1": "acme"}
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "pro"}
    path.write_text("id,plan,company\nu2,pro,Acme Corp\n")
    call_command(
        "import_users", str(path), "--app", str(app.pk), "--no-progress", "--company-column", ""
    )
    assert EndUser.objects.get(external_id="u2").traits == {"plan": "pro", "company": "Acme Corp"}
    assert EndUser.objects.get(external_id="u2").company is None
    # A file without the column imports as before.
    path.write_text("id,plan\nu3,free\n")
    call_command("import_users", str(path), "--app", str(app.pk), "--no-progress")
    assert EndUser.objects.get(external_id="u3").traits == {"plan": "free"}


# --- read_csv's shortcut with a company column refuses exactly what the checks refuse ------

COLUMNS = ["id", "plan", "seats", "org"]
cells = st.one_of(
    st.just(""),
    st.sampled_from(["acme", " 12 ", "n/a", "x" * 255, "x" * 256, "x" * 2001]),
    st.sampled_from(["a\x00b", "\udc80", "caf\u00e9"]),
    st.text(st.characters(exclude_characters="\r\n"), max_size=6),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(cells, min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=4))
def test_read_csv__with_a_company_column__accepts_and_refuses_like_the_checks(records):
    out = io.StringIO()
    csv.writer(out).writerows([COLUMNS, *records])
    expected = []
    for line, (external_id, plan, seats, org) in enumerate(records, start=2):
        traits = {key: value for key, value in (("plan", plan), ("seats", seats)) if value}
        expected.append(clean_row(line, external_id, traits, org or KEEP))
    rows = list(read_csv(io.StringIO(out.getvalue()), {}, company_column="org"))
    assert rows == expected
    assert all(isinstance(row, Reject | Row) for row in rows)
