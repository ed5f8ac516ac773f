import json
from datetime import UTC, datetime, timedelta

import pytest

from segments.models import Segment
from tests.factories import EndUserFactory, ExperienceFactory, saved_segment

from .conftest import PRO

pytestmark = pytest.mark.django_db

NESTED = {
    "match": "any",
    "rules": [
        {"trait": "plan", "operator": "equals", "value": "pro"},
        {"match": "all", "rules": [{"trait": "teamSize", "operator": "greater_than", "value": 8}]},
    ],
}


def test_create__nested_definition__201_with_the_segment_object_and_etag(api, app):
    response = api("POST", "segments", {"name": "Pro or big", "definition": NESTED})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "definition",
        "version",
        "is_builtin",
        "warnings",
        "created_at",
        "updated_at",
    }
    assert body["name"] == "Pro or big" and body["is_builtin"] is False
    assert body["definition"]["match"] == "any"
    assert body["definition"]["rules"][1]["rules"][0]["value"] == 8
    assert response["ETag"]
    assert Segment.objects.get(pk=body["id"]).application == app


def test_create__bad_value_deep_in_the_tree__400_with_its_path_and_nothing_saved(api, app):
    definition = {
        "match": "all",
        "rules": [
            {"trait": "plan", "operator": "equals", "value": "pro"},
            {
                "match": "any",
                "rules": [{"trait": "teamSize", "operator": "greater_than", "value": "lots"}],
            },
        ],
    }
    before = Segment.objects.count()

    response = api("POST", "segments", {"name": "Bad", "definition": definition})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == "definition.rules[1].rules[0].value"
    assert Segment.objects.count() == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"definition": PRO}, "name"),
        ({"name": 5, "definition": PRO}, "name"),
        ({"name": "X"}, "definition"),
        ({"name": "X", "definition": []}, "definition"),
        ({"name": "X", "definition": PRO, "description": ["no"]}, "description"),
    ],
)
def test_create__missing_or_mistyped_field__400_naming_it(api, body, field):
    response = api("POST", "segments", body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_create__duplicate_name__400_on_name(api, app):
    saved_segment(app, "Pro", [("plan", "equals", "pro")])

    response = api("POST", "segments", {"name": "Pro", "definition": PRO})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "name"


def test_create__body_not_json__400_invalid_json(api):
    response = api("POST", "segments", raw="{not json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_get__contradiction__warnings_from_lint(api, app):
    contradiction = {
        "match": "all",
        "rules": [
            {"trait": "plan", "operator": "equals", "value": "free"},
            {"trait": "plan", "operator": "equals", "value": "pro"},
        ],
    }
    created = api("POST", "segments", {"name": "Never", "definition": contradiction}).json()

    body = api("GET", f"segments/{created['id']}").json()

    assert body["warnings"], "a group that can never match is warned about"
    assert set(body["warnings"][0]) == {"path", "message"}
    assert created["warnings"] == body["warnings"]


def test_list__paginated_with_next_url_until_the_last_page(api, app):
    for n in range(5):
        saved_segment(app, f"S{n}", [("plan", "equals", "pro")])
    expected = sorted(app.segments.values_list("pk", flat=True))  # Everyone too

    first = api("GET", "segments?limit=4").json()
    second = api("GET", first["next"]).json()

    assert [s["id"] for s in first["results"] + second["results"]] == expected
    assert second["next"] is None


def test_list__bad_limit__400_on_limit(api):
    response = api("GET", "segments?limit=zero")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "limit"


def test_put__changes_definition_and_name_through_the_action(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    response = api("PUT", f"segments/{segment.pk}", {"name": "Pro or big", "definition": NESTED})

    assert response.status_code == 200
    segment.refresh_from_db()
    assert segment.name == "Pro or big"
    assert Segment.objects.get(pk=segment.pk).definition["match"] == "any"


def test_put__current_if_match__200_and_a_new_etag(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    etag = api("GET", f"segments/{segment.pk}")["ETag"]

    response = api("PUT", f"segments/{segment.pk}", {"name": "Renamed"}, HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag


def test_put__stale_if_match__412_and_nothing_changes(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    etag = api("GET", f"segments/{segment.pk}")["ETag"]
    api("PUT", f"segments/{segment.pk}", {"description": "someone else"})

    response = api("PUT", f"segments/{segment.pk}", {"name": "Mine"}, HTTP_IF_MATCH=etag)

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    segment.refresh_from_db()
    assert segment.name == "Pro"


def test_put__cycle__400_on_the_reference_path(api, app):
    a = saved_segment(app, "A", [("plan", "equals", "pro")])
    b = api(
        "POST",
        "segments",
        {"name": "B", "definition": {"match": "all", "rules": [{"segment": a.pk}]}},
    ).json()

    response = api(
        "PUT", f"segments/{a.pk}", {"definition": {"match": "all", "rules": [{"segment": b["id"]}]}}
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("definition.rules[0]")


def test_everyone__delete_and_put__403(api, app):
    everyone = app.everyone

    assert api("DELETE", f"segments/{everyone.pk}").status_code == 403
    assert api("PUT", f"segments/{everyone.pk}", {"name": "All"}).status_code == 403
    assert Segment.objects.filter(pk=everyone.pk).exists()


def test_delete__unused__204(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    response = api("DELETE", f"segments/{segment.pk}")

    assert response.status_code == 204
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_delete__used_by_a_segment_and_an_experience__409_listing_both(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    user = api(
        "POST",
        "segments",
        {"name": "Uses", "definition": {"match": "all", "rules": [{"segment": segment.pk}]}},
    ).json()
    experience = ExperienceFactory(application=app, name="Banner")
    experience.segments.set([segment])

    response = api("DELETE", f"segments/{segment.pk}")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "in_use"
    assert error["used_by"]["segments"] == [{"id": user["id"], "name": "Uses"}]
    assert error["used_by"]["experiences"] == [{"id": experience.pk, "name": "Banner"}]
    assert "Banner" in error["message"]
    assert Segment.objects.filter(pk=segment.pk).exists()


def test_count__stored_segment(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    assert api("GET", f"segments/{segment.pk}/count").json() == {"count": 4}


def test_count__definition_preview__saves_nothing(api, app):
    before = Segment.objects.count()

    response = api("POST", "count", {"definition": NESTED})

    assert response.json() == {"count": 6}  # 4 pro, and teamSize 9 and 10
    assert Segment.objects.count() == before


def test_count__invalid_definition__400_with_path(api):
    bad = {"match": "all", "rules": [{"trait": "nope", "operator": "equals", "value": 1}]}

    response = api("POST", "count", {"definition": bad})

    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("definition.rules[0]")


def test_members__cursor_pages_are_stable_under_inserts(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    first = api("GET", f"segments/{segment.pk}/members?limit=2").json()
    EndUserFactory(application=app, external_id="late", traits={"plan": "pro"})
    second = api("GET", first["next"]).json()
    third = api("GET", second["next"]).json() if second["next"] else {"results": [], "next": None}

    ids = [u["id"] for u in first["results"] + second["results"] + third["results"]]
    assert ids == ["u00", "u01", "u02", "u03", "late"]
    assert first["results"][0]["traits"]["plan"] == "pro"
    assert len(set(ids)) == len(ids)


def test_evaluate__inline_traits_at_a_given_time__matches_with_explain(api, app):
    body = {"definition": NESTED, "user": {"traits": {"plan": "free", "teamSize": 20}}}

    response = api("POST", "evaluate", {**body, "now": "2026-01-01T00:00:00Z"})

    assert response.status_code == 200
    result = response.json()
    assert result["matches"] is True
    assert result["explain"][0] == {
        "path": "definition.rules[0]",
        "matches": False,
        "node": {"trait": "plan", "operator": "equals", "value": "pro", "case_sensitive": False},
    }
    assert result["explain"][1]["match"] == "all" and result["explain"][1]["matches"] is True
    assert result["explain"][1]["rules"][0]["path"] == "definition.rules[1].rules[0]"


def test_evaluate__stored_user__reads_their_traits(api, app):
    response = api("POST", "evaluate", {"definition": PRO, "user": {"id": "u05"}})

    assert response.json()["matches"] is False


def test_evaluate__reference_and_relative_date_follow_now(api, app):
    from segments.models import TraitDefinition

    TraitDefinition.objects.create(application=app, key="signup", type="date")
    recent = {
        "match": "all",
        "rules": [{"trait": "signup", "operator": "within_last_days", "value": 7}],
    }
    traits = {"signup": "2026-01-01"}

    at = [
        api(
            "POST", "evaluate", {"definition": recent, "user": {"traits": traits}, "now": now}
        ).json()
        for now in ("2026-01-03T00:00:00Z", "2026-03-01T00:00:00Z")
    ]

    assert [r.get("matches") for r in at] == [True, False], at


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"user": {"id": "nobody"}}, "user.id"),
        ({"user": {}}, "user"),
        ({"user": {"traits": []}}, "user.traits"),
        ({"user": {"traits": {}}, "now": "yesterday"}, "now"),
        ({"user": {"traits": {}}, "now": "2026-01-01T00:00:00"}, "now"),
    ],
)
def test_evaluate__bad_user_or_now__error_on_the_field(api, extra, field):
    response = api("POST", "evaluate", {"definition": PRO, **extra})

    assert response.status_code in (400, 404)
    assert response.json()["error"]["field"] == field


def test_evaluate__writes_nothing(api, app):
    from segments.models import EndUser

    before = list(EndUser.objects.values_list("pk", "traits"))
    api("POST", "evaluate", {"definition": PRO, "user": {"traits": {"plan": "pro", "new": 1}}})

    assert list(EndUser.objects.values_list("pk", "traits")) == before
    assert not app.trait_definitions.filter(key="new").exists()


def test_list__warnings_too__in_queries_that_do_not_grow_with_the_page(
    api, app, django_assert_num_queries
):
    contradiction = {
        "match": "all",
        "rules": [
            {"trait": "plan", "operator": "equals", "value": "free"},
            {"trait": "plan", "operator": "equals", "value": "pro"},
        ],
    }
    never_did = {
        "match": "all",
        "rules": [
            {"event": "saved", "operator": "at_least", "value": 1},
            {"event": "saved", "operator": "exactly", "value": 0},
        ],
    }

    def add(first, last):
        for n in range(first, last):
            definition = contradiction if n % 2 else never_did
            api("POST", "segments", {"name": f"Never {n}", "definition": definition})

    # 11 whatever the page's size: the token (1; used a moment ago, so not touched), the
    # segments and their nodes (1 + 6 kinds), which traits some user has (1), which event
    # names are known (1: only when some segment of the page has an event rule), and the
    # latest version of each (1).
    add(0, 3)
    with django_assert_num_queries(11):
        api("GET", "segments")
    add(3, 9)
    with django_assert_num_queries(11):
        body = api("GET", "segments").json()
    never = [s for s in body["results"] if s["name"].startswith("Never")]
    assert len(never) == 9 and all(s["warnings"] for s in never)
    assert any("No event named saved" in w["message"] for w in never[0]["warnings"])


# --- Event and experience nodes --------------------------------------------------------

DAY = timedelta(days=1)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def did(name, operator, value, within_days=None):
    node = {"event": name, "operator": operator, "value": value}
    if within_days is not None:
        node["within_days"] = within_days
    return node


def track(app, user_id, name, *times):
    from segments.models import EndUser
    from tests.factories import EventDefinitionFactory, TrackedEventFactory

    user = EndUser.objects.get(application=app, external_id=user_id)
    EventDefinitionFactory(application=app, name=name)
    for when in times:
        TrackedEventFactory(end_user=user, name=name, timestamp=when)


def saw(app, user_id, experience, state, when):
    from experiences.models import Event
    from segments.models import EndUser

    user = EndUser.objects.get(application=app, external_id=user_id)
    event = Event.objects.create(application=app, end_user=user, experience=experience, type=state)
    Event.objects.filter(pk=event.pk).update(created_at=when)


def test_create_read_update__event_and_experience_nodes_round_trip(api, app):
    tour = ExperienceFactory(application=app, name="Welcome tour")
    definition = {
        "match": "all",
        "rules": [
            did("project_created", "at_least", 3, 7),
            {"match": "none", "rules": [{"experience": tour.pk, "state": "completed"}]},
            did("invited", "last_more_than_days_ago", 30),
        ],
    }

    created = api("POST", "segments", {"name": "Busy", "definition": definition})

    assert created.status_code == 201, created.json()
    assert created.json()["definition"] == definition
    read = api("GET", f"segments/{created.json()['id']}").json()
    assert read["definition"] == definition
    changed = {**definition, "rules": [did("project_created", "exactly", 0)]}
    updated = api("PUT", f"segments/{read['id']}", {"definition": changed})
    assert updated.status_code == 200
    assert updated.json()["definition"] == changed


@pytest.mark.parametrize(
    "node, field",
    [
        (did("project_created", "last_within_last_days", 7, 30), "within_days"),
        (did("project_created", "at_least", 3, 0), "within_days"),
        (did("project_created", "at_least", 1001), "value"),
        (did("project_created", "first_within_last_days", 0), "value"),
        (did("project created", "at_least", 1), "event"),
        (did("project_created", "more_than", 1), "operator"),
        ({"experience": 999_999, "state": "seen"}, "experience"),
        ({"experience": "tour", "state": "seen"}, "experience"),
    ],
)
def test_create__bad_event_or_experience_node__400_naming_its_path(api, app, node, field):
    definition = {"match": "all", "rules": [{"match": "any", "rules": [node]}]}

    response = api("POST", "segments", {"name": "Bad", "definition": definition})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == f"definition.rules[0].rules[0].{field}"
    assert not Segment.objects.filter(name="Bad").exists()


def test_create__bad_state__400_on_state(api, app):
    tour = ExperienceFactory(application=app)
    definition = {"match": "all", "rules": [{"experience": tour.pk, "state": "finished"}]}

    response = api("POST", "segments", {"name": "Bad", "definition": definition})

    assert response.json()["error"]["field"] == "definition.rules[0].state"


def test_create__another_applications_experience__400_no_such_experience(api, other):
    rule = {"experience": other["experience"].pk, "state": "seen"}
    definition = {"match": "all", "rules": [rule]}

    response = api("POST", "segments", {"name": "Bad", "definition": definition})

    error = response.json()["error"]
    assert error["field"] == "definition.rules[0].experience"
    assert error["message"] == "no such experience"


def test_put__bad_event_node__400_naming_its_path_and_nothing_changes(api, app):
    created = api("POST", "segments", {"name": "Pro", "definition": PRO}).json()
    bad = {"match": "all", "rules": [PRO["rules"][0], did("saved", "at_most", -1)]}

    response = api("PUT", f"segments/{created['id']}", {"definition": bad})

    assert response.json()["error"]["field"] == "definition.rules[1].value"
    assert api("GET", f"segments/{created['id']}").json()["definition"] == created["definition"]


def test_create__lint_warns_on_at_least_0_and_an_event_never_tracked(api, app):
    track(app, "u00", "project_created", NOW)
    definition = {
        "match": "all",
        "rules": [did("project_created", "at_least", 0), did("projcet_created", "at_least", 1)],
    }

    response = api("POST", "segments", {"name": "Lint", "definition": definition})

    warnings = response.json()["warnings"]
    assert [w["path"] for w in warnings] == ["definition.rules[0]", "definition.rules[1]"]
    assert warnings[0]["message"].startswith("Always true: every user has done project_created")
    assert warnings[1]["message"].startswith("No event named projcet_created has been tracked")


def evaluate(api, definition, now, user="u00"):
    response = api(
        "POST",
        "evaluate",
        {"definition": definition, "user": {"id": user}, "now": now.isoformat()},
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_evaluate__stored_user__history_as_it_stood_at_now(api, app):
    track(app, "u00", "project_created", NOW - 10 * DAY, NOW - 3 * DAY, NOW - DAY, NOW + DAY)
    three_this_week = {"match": "all", "rules": [did("project_created", "at_least", 3, 7)]}
    twice_this_week = {"match": "all", "rules": [did("project_created", "at_least", 2, 7)]}

    assert evaluate(api, twice_this_week, NOW)["matches"] is True
    assert evaluate(api, three_this_week, NOW)["matches"] is False
    # Two days later the event of NOW + 1 day has happened; NOW - 10 days is still out.
    assert evaluate(api, three_this_week, NOW + 2 * DAY)["matches"] is True
    # A week before, only the first had happened.
    assert evaluate(api, twice_this_week, NOW - 7 * DAY)["matches"] is False


def test_evaluate__window_edges_are_included(api, app):
    track(app, "u00", "invited", NOW - 7 * DAY, NOW)
    twice = {"match": "all", "rules": [did("invited", "exactly", 2, 7)]}

    assert evaluate(api, twice, NOW)["matches"] is True
    assert evaluate(api, twice, NOW + timedelta(seconds=1))["matches"] is False
    assert evaluate(api, twice, NOW - timedelta(seconds=1))["matches"] is False  # NOW not yet


def test_evaluate__a_count_above_events_kept__exact(api, app):
    """The application keeps 4 latest times per event; a rule on 6 in a window needs more."""
    assert app.events_kept == 4
    track(app, "u00", "saved", *(NOW - i * timedelta(hours=1) for i in range(6)))
    six_today = {"match": "all", "rules": [did("saved", "at_least", 6, 1)]}
    seven_today = {"match": "all", "rules": [did("saved", "at_least", 7, 1)]}

    result = evaluate(api, six_today, NOW)

    assert result["matches"] is True
    assert result["explain"][0]["actual"]["count_in_window"] == 6
    assert evaluate(api, seven_today, NOW)["matches"] is False


def test_evaluate__explains_event_nodes_with_the_users_count_and_times(api, app):
    track(app, "u00", "project_created", NOW - 10 * DAY, NOW - 3 * DAY, NOW + DAY)
    definition = {
        "match": "any",
        "rules": [
            did("project_created", "at_least", 2, 7),
            did("project_created", "first_within_last_days", 30),
            did("invited", "at_most", 0),
        ],
    }

    explain = evaluate(api, definition, NOW)["explain"]

    assert explain[0] == {
        "path": "definition.rules[0]",
        "matches": False,
        "node": did("project_created", "at_least", 2, 7),
        "actual": {
            "count": 2,  # the one of NOW + 1 day has not happened yet
            "first": (NOW - 10 * DAY).isoformat(),
            "last": (NOW - 3 * DAY).isoformat(),
            "count_in_window": 1,
        },
    }
    assert explain[1]["matches"] is True and "count_in_window" not in explain[1]["actual"]
    assert explain[2]["matches"] is True
    assert explain[2]["actual"] == {"count": 0, "first": None, "last": None}


def test_evaluate__experience_nodes_read_the_experience_events_up_to_now(api, app):
    tour = ExperienceFactory(application=app, name="Welcome tour")
    saw(app, "u00", tour, "shown", NOW - DAY)
    saw(app, "u00", tour, "completed", NOW + DAY)
    completed = {"match": "all", "rules": [{"experience": tour.pk, "state": "completed"}]}
    seen = {"match": "all", "rules": [{"experience": tour.pk, "state": "seen"}]}

    before = evaluate(api, completed, NOW)

    assert before["matches"] is False
    assert before["explain"][0]["actual"] == {
        "seen": (NOW - DAY).isoformat(),
        "completed": None,
        "dismissed": None,
    }
    assert evaluate(api, seen, NOW)["matches"] is True
    assert evaluate(api, completed, NOW + 2 * DAY)["matches"] is True
    assert evaluate(api, seen, NOW + 2 * DAY, user="u01")["matches"] is False


def test_evaluate__through_a_referenced_segments_event_rule(api, app):
    track(app, "u00", "invited", NOW - DAY)
    invited = {"match": "all", "rules": [did("invited", "at_least", 1)]}
    created = api("POST", "segments", {"name": "Invited", "definition": invited}).json()
    definition = {"match": "all", "rules": [{"segment": created["id"]}]}

    assert evaluate(api, definition, NOW)["matches"] is True
    assert evaluate(api, definition, NOW - 2 * DAY)["matches"] is False


def test_evaluate__inline_traits__a_user_with_no_history(api, app):
    track(app, "u00", "project_created", NOW)
    definition = {
        "match": "all",
        "rules": [
            {"trait": "plan", "operator": "equals", "value": "pro"},
            did("project_created", "exactly", 0),
        ],
    }

    response = api(
        "POST", "evaluate", {"definition": definition, "user": {"traits": {"plan": "pro"}}}
    )

    assert response.json()["matches"] is True
    assert response.json()["explain"][1]["actual"]["count"] == 0


def test_evaluate__stored_user__one_query_for_the_history_of_the_events_its_rules_read(
    api, app, django_assert_num_queries
):
    track(app, "u00", "a", *(NOW - i * DAY for i in range(20)))
    track(app, "u00", "unread", NOW)
    definition = {"match": "all", "rules": [did("a", "at_least", 3, 7)]}

    # token and its touch (2); definition_check: the trees (7), segment names, user and
    # company trait types, experiences (4); trait types (1); the user and their company (1);
    # the trees to resolve references (7); the tracked events (1); no experience node, so no
    # experience events read; no company node, so no company counted.
    with django_assert_num_queries(23) as captured:
        result = evaluate(api, definition, NOW)

    reads = [q["sql"] for q in captured.captured_queries if "trackedevent" in q["sql"].lower()]
    assert len(reads) == 1 and "IN ('a')" in reads[0]
    assert result["explain"][0]["actual"]["count"] == 20


# --- Company nodes -----------------------------------------------------------------------


@pytest.fixture
def acme(app):
    """Company traits plan and seats; Acme (trial, 5 seats) has u00-u02 (pro), Globex (pro)
    has u03 (pro); u04-u09 have no company. The segment Pros: u00-u03."""
    from segments.models import Company, TraitDefinition

    for key, type_ in (("plan", "string"), ("seats", "number")):
        TraitDefinition.objects.create(application=app, scope="company", key=key, type=type_)
    acme = Company.objects.create(
        application=app, external_id="acme", traits={"plan": "trial", "seats": 5}
    )
    globex = Company.objects.create(application=app, external_id="globex", traits={"plan": "pro"})
    app.end_users.filter(external_id__in=["u00", "u01", "u02"]).update(company=acme)
    app.end_users.filter(external_id="u03").update(company=globex)
    pros = saved_segment(app, "Pros", [("plan", "equals", "pro")])
    return {"company": acme, "pros": pros}


def company_rule(trait, operator, value):
    return {"company_trait": trait, "operator": operator, "value": value, "case_sensitive": False}


def users_in(segment_id, operator, value):
    return {"company_users": {"segment": segment_id}, "operator": operator, "value": value}


def test_evaluate__stored_user__their_companys_traits_and_its_users_counted(api, app, acme):
    pros = acme["pros"].pk
    definition = {
        "match": "all",
        "rules": [company_rule("plan", "equals", "trial"), users_in(pros, "at_least", 3)],
    }

    result = evaluate(api, definition, NOW, user="u00")

    assert result["matches"] is True
    assert [(e["matches"], e["actual"]) for e in result["explain"]] == [
        (True, {"value": "trial"}),
        (True, {"count": 3}),
    ]
    assert result["explain"][1]["node"] == users_in(pros, "at_least", 3)
    assert result["company"] == {"id": "acme", "traits": {"plan": "trial", "seats": 5}}

    globex = evaluate(api, definition, NOW, user="u03")
    assert globex["matches"] is False
    assert [e["actual"] for e in globex["explain"]] == [{"value": "pro"}, {"count": 1}]

    # No company: every company trait missing, every count 0.
    alone = evaluate(api, definition, NOW, user="u05")
    assert [e["actual"] for e in alone["explain"]] == [{"value": None}, {"count": 0}]
    assert alone["company"] is None and alone["matches"] is False
    none_of_them = {"match": "none", "rules": definition["rules"]}
    assert evaluate(api, none_of_them, NOW, user="u05")["matches"] is True


def test_evaluate__the_companys_users_counted_at_now(api, app, acme):
    """The counted segment's time rules read now: u00 signed up on May 30, u01 on May 1."""
    from segments import actions
    from segments.models import TraitDefinition

    TraitDefinition.objects.create(application=app, key="signup", type="date")
    for user_id, day in (("u00", "2026-05-30"), ("u01", "2026-05-01")):
        user = app.end_users.get(external_id=user_id)
        user.traits = {**user.traits, "signup": day}
        user.save()
    recent = actions.segment_create(
        application=app,
        name="Recent",
        definition={"match": "all", "rules": [
            {"trait": "signup", "operator": "within_last_days", "value": 7}]},
    )  # fmt: skip
    definition = {"match": "all", "rules": [users_in(recent.pk, "at_least", 1)]}

    counts = {
        when: evaluate(api, definition, when, user="u02")["explain"][0]["actual"]["count"]
        for when in (NOW, NOW - 30 * DAY, NOW + 30 * DAY)
    }

    assert counts == {NOW: 1, NOW - 30 * DAY: 1, NOW + 30 * DAY: 0}


def test_evaluate__the_counts_in_one_query_however_many_segments_are_counted(
    api, app, acme, django_assert_num_queries
):
    everyone = Segment.objects.get(application=app, is_builtin=True).pk
    pros = acme["pros"].pk
    one = {"match": "all", "rules": [users_in(pros, "at_least", 1)]}
    three = {
        "match": "any",
        "rules": [
            users_in(pros, "at_least", 1),
            {"match": "none", "rules": [users_in(everyone, "exactly", 3)]},
            users_in(pros, "at_most", 9),
        ],
    }

    def counted(definition):
        with django_assert_num_queries(100, exact=False) as captured:
            result = evaluate(api, definition, NOW)
        queries = [q["sql"] for q in captured.captured_queries]
        return result, [q for q in queries if "COUNT(" in q and "company_id" in q]

    result, counts = counted(one)
    assert len(counts) == 1 and result["explain"][0]["actual"] == {"count": 3}
    result, counts = counted(three)
    assert len(counts) == 1
    assert result["explain"][1]["rules"][0]["actual"] == {"count": 3}  # all of Acme's


def test_evaluate__inline_traits_with_a_made_up_company(api, app, acme):
    pros = acme["pros"].pk
    definition = {
        "match": "all",
        "rules": [company_rule("seats", "greater_than", 10), users_in(pros, "exactly", 4)],
    }
    company = {"traits": {"seats": 12}, "users": {str(pros): 4}}

    response = api(
        "POST",
        "evaluate",
        {"definition": definition, "user": {"traits": {"plan": "free"}}, "company": company},
    )

    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["matches"] is True
    assert [e["actual"] for e in result["explain"]] == [{"value": 12}, {"count": 4}]
    assert result["company"] == {"traits": {"seats": 12}}

    # Left out: no company.
    alone = api("POST", "evaluate", {"definition": definition, "user": {"traits": {}}}).json()
    assert alone["matches"] is False and alone["company"] is None
    # A segment left out of users counts 0.
    body = {"definition": definition, "user": {"traits": {}}, "company": {"traits": {"seats": 12}}}
    assert api("POST", "evaluate", body).json()["explain"][1]["actual"] == {"count": 0}


@pytest.mark.parametrize(
    "company, field",
    [
        ([], "company"),
        ({"traits": {}, "name": "Acme"}, "company"),
        ({"traits": ["plan"]}, "company.traits"),
        ({"users": [3]}, "company.users"),
        ({"users": {"999999": 3}}, "company.users.999999"),
        ({"users": {"pros": 3}}, "company.users.pros"),
        ({"users": {"PROS": -1}}, "company.users.PROS"),
        ({"users": {"PROS": 2.5}}, "company.users.PROS"),
    ],
)
def test_evaluate__a_bad_made_up_company__error_on_its_field(api, app, acme, other, company, field):
    pros = str(acme["pros"].pk)
    company = json.loads(json.dumps(company).replace("PROS", pros))
    field = field.replace("PROS", pros)
    body = {"definition": PRO, "user": {"traits": {}}, "company": company}

    response = api("POST", "evaluate", body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    # Another application's segment is as unknown as any other id.
    theirs = str(other["segment"].pk)
    body["company"] = {"users": {theirs: 1}}
    assert api("POST", "evaluate", body).json()["error"]["field"] == f"company.users.{theirs}"


def test_evaluate__a_stored_users_company_is_their_own(api, app, acme):
    body = {"definition": PRO, "user": {"id": "u00"}, "company": {"traits": {"plan": "pro"}}}
    response = api("POST", "evaluate", body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "company"


@pytest.mark.parametrize(
    "node, field",
    [
        (company_rule("role", "equals", "admin"), "definition.rules[0].company_trait"),
        (company_rule("seats", "greater_than", "lots"), "definition.rules[0].value"),
        (company_rule("seats", "sometimes", 1), "definition.rules[0].operator"),
        ({"company_trait": "plan", "trait": "plan", "operator": "is_set"}, "definition.rules[0]"),
        (users_in(999999, "at_least", 1), "definition.rules[0].company_users.segment"),
        (users_in("PROS", "more_than", 1), "definition.rules[0].operator"),
        (users_in("PROS", "at_least", -1), "definition.rules[0].value"),
        (
            {"company_users": 5, "operator": "at_least", "value": 1},
            "definition.rules[0].company_users",
        ),
    ],
)
def test_evaluate__bad_company_nodes__400_with_their_path(api, app, acme, node, field):
    node = json.loads(json.dumps(node).replace('"PROS"', str(acme["pros"].pk)))
    body = {"definition": {"match": "all", "rules": [node]}, "user": {"traits": {}}}

    response = api("POST", "evaluate", body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_evaluate__another_applications_segment_cannot_be_counted(api, app, acme, other):
    definition = {"match": "all", "rules": [users_in(other["segment"].pk, "at_least", 1)]}
    response = api("POST", "evaluate", {"definition": definition, "user": {"id": "u00"}})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "definition.rules[0].company_users.segment"


def test_update__with_the_version_read__saves_a_new_version(api, app):
    created = api("POST", "segments", {"name": "Pro", "definition": PRO}).json()
    assert created["version"] == 1

    response = api("PUT", f"segments/{created['id']}", {"description": "Paying", "version": 1})

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_update__with_a_stale_version__409_and_nothing_changed(api, app):
    created = api("POST", "segments", {"name": "Pro", "definition": PRO}).json()
    api("PUT", f"segments/{created['id']}", {"description": "First"})

    response = api("PUT", f"segments/{created['id']}", {"description": "Second", "version": 1})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"
    assert response.json()["error"]["field"] == "version"
    assert Segment.objects.get(pk=created["id"]).description == "First"


@pytest.mark.parametrize("version", ["1", -1, True, 1.5])
def test_update__a_version_not_a_whole_number__400(api, app, version):
    created = api("POST", "segments", {"name": "Pro", "definition": PRO}).json()
    response = api("PUT", f"segments/{created['id']}", {"version": version})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "version"


def test_list__each_segment_with_its_latest_version(api, app):
    created = api("POST", "segments", {"name": "Pro", "definition": PRO}).json()
    api("PUT", f"segments/{created['id']}", {"description": "Paying"})
    listed = {s["id"]: s["version"] for s in api("GET", "segments").json()["results"]}
    assert listed[created["id"]] == 2
