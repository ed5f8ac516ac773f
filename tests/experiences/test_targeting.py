"""URL patterns, the cached targeting and its invalidation, and explain_serve's reasons."""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiences import targeting
from experiences.models import Experience, TargetingVersion
from experiences.pages import PatternError, url_matches
from experiences.serving import explain_serve, serve
from experiences.targeting import targeting_for
from segments import actions
from segments.models import EndUser, Rule, TraitDefinition
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    EventFactory,
    PublishedExperienceFactory,
    segment_with_rules,
)

# --- url_matches -------------------------------------------------------------------------

URL_CASES = [
    # pattern, url, matches
    ("/dashboard", "/dashboard", True),
    ("/dashboard", "https://app.example.com/dashboard", True),
    ("/dashboard", "/dashboard/", True),  # trailing slash ignored
    ("/dashboard", "/dashboard?tab=1", True),  # query ignored
    ("/dashboard", "/dashboard#top", True),  # hash ignored
    ("/dashboard", "/dashboard/reports", False),
    ("/dashboard", "/dashboards", False),
    ("/dashboard", "/Dashboard", False),  # paths are case-sensitive
    ("/dashboard/", "/dashboard/", True),  # a pattern that names the slash needs it
    ("/dashboard/", "/dashboard", False),
    ("/", "/", True),
    ("/", "https://app.example.com", True),
    ("/", "/dashboard", False),
    ("/projects/*", "/projects/42", True),
    ("/projects/*", "/projects", False),
    ("/projects/*", "/projects/42/settings", False),
    ("/projects/*/settings", "/projects/42/settings", True),
    ("/docs/**", "/docs", True),
    ("/docs/**", "/docs/a/b/c", True),
    ("/docs/**", "/documents", False),
    ("/a/**/edit", "/a/edit", True),
    ("/a/**/edit", "/a/x/y/edit", True),
    ("/**", "/anything/at/all", True),
    ("/users/:id", "/users/7", True),
    ("/users/:id", "/users", False),
    ("/users/:id/billing", "/users/7/billing?x=1", True),
    ("/reports/*.pdf", "/reports/q3.pdf", True),
    ("/reports/*.pdf", "/reports/q3.csv", False),
    ("/settings?tab=billing", "/settings?tab=billing", True),
    ("/settings?tab=billing", "/settings?x=1&tab=billing", True),
    ("/settings?tab=billing", "/settings?tab=team", False),
    ("/settings?tab=billing", "/settings", False),
    ("/settings?tab", "/settings?tab=anything", True),
    ("/settings?tab", "/settings", False),
    ("/settings?tab=billing&plan=pro", "/settings?plan=pro&tab=billing", True),
    ("/settings?tab=billing&plan=pro", "/settings?tab=billing", False),
    ("?tab=billing", "/anywhere?tab=billing", True),
    ("/help#faq", "/help#faq", True),
    ("/help#faq", "/help#contact", False),
    ("/help#faq", "/help", False),
    ("app.example.com/dashboard", "https://app.example.com/dashboard", True),
    ("app.example.com/dashboard", "https://APP.example.com/dashboard", True),
    ("app.example.com/dashboard", "https://other.example.com/dashboard", False),
    ("app.example.com/dashboard", "/dashboard", False),  # a path alone names no host
    ("https://app.example.com/**", "http://app.example.com/x", True),  # scheme ignored
    ("*.example.com/**", "https://eu.example.com/x", True),
    ("*.example.com/**", "https://example.com/x", False),
    ("app.example.com", "https://app.example.com/any/page", True),
    ("localhost:8000/**", "http://localhost:8000/x", True),
    ("localhost:8000/**", "http://localhost:9000/x", False),
    ("/caf%C3%A9", "/café", True),  # percent-encoding is decoded on both sides
    ("/café", "/caf%C3%A9", True),
]


@pytest.mark.parametrize(("pattern", "url", "expected"), URL_CASES)
def test_url_matches(pattern, url, expected):
    assert url_matches(pattern, url) is expected


@pytest.mark.parametrize(
    "pattern", ["", "   ", "dashboard", "/users/:", "/users/:9", "/docs/a**", "/x?", "/" * 501]
)
def test_invalid_patterns_raise(pattern):
    with pytest.raises(PatternError):
        url_matches(pattern, "/")


# --- explain_serve -----------------------------------------------------------------------


@pytest.fixture
def app():
    return ApplicationFactory()


@pytest.fixture
def free(app):
    return segment_with_rules(app, "Free", ("plan", "string", "equals", "free"))


def reasons(app, user, url):
    return {d.experience.name: d.reason for d in explain_serve(app, user, url)}


@pytest.mark.django_db
def test_explain__every_reason_in_words(app, free):
    admins = segment_with_rules(app, "Admins", ("role", "string", "equals", "admin"))
    user = EndUserFactory(application=app, traits={"plan": "free"})
    PublishedExperienceFactory(application=app, name="Draft", status="draft", segments=[free])
    PublishedExperienceFactory(application=app, name="No segments")
    PublishedExperienceFactory(application=app, name="Admins only", segments=[admins])
    PublishedExperienceFactory(
        application=app, name="Dashboard", segments=[free], url_include=["/dashboard"]
    )
    PublishedExperienceFactory(
        application=app, name="Not admin", segments=[free], url_exclude=["/admin/**"]
    )
    done = PublishedExperienceFactory(application=app, name="Done", segments=[free])
    dismissed = PublishedExperienceFactory(application=app, name="Dismissed", segments=[free])
    EventFactory(experience=done, end_user=user, type="completed")
    EventFactory(experience=dismissed, end_user=user, type="shown")
    EventFactory(experience=dismissed, end_user=user, type="dismissed")
    assert reasons(app, user, "https://app.example.com/admin/users?x=1") == {
        "Draft": "still a draft",
        "No segments": "has no segments",
        "Admins only": "not in any of its segments",
        "Dashboard": "URL /admin/users matches no include pattern",
        "Not admin": "excluded by /admin/**",
        "Done": "already completed (shown once, until dismissed or completed)",
        "Dismissed": "already dismissed (shown once, until dismissed or completed)",
    }


@pytest.mark.django_db
def test_explain__served__names_the_segment_and_pattern(app, free):
    other = segment_with_rules(app, "Other", ("plan", "string", "equals", "pro"))
    PublishedExperienceFactory(
        application=app, name="Banner", segments=[other, free], url_include=["/x", "/dash*"]
    )
    user = EndUserFactory(application=app, traits={"plan": "free"})
    (decision,) = explain_serve(app, user, "/dashboard")
    assert decision.served
    assert (decision.matched_segment, decision.matched_pattern) == ("Free", "/dash*")
    assert decision.reason == (
        "in segment Free; URL matches /dash*; shown once, until dismissed or completed"
    )
    assert (decision.experience.id, decision.experience.name) == (
        Experience.objects.get().pk,
        "Banner",
    )


@pytest.mark.django_db
def test_explain__excluded__names_the_exclude_pattern(app, free):
    PublishedExperienceFactory(
        application=app, name="B", segments=[free], url_include=["/**"], url_exclude=["/admin"]
    )
    user = EndUserFactory(application=app, traits={"plan": "free"})
    (decision,) = explain_serve(app, user, "/admin/")
    assert (decision.served, decision.matched_pattern) == (False, "/admin")


@pytest.mark.django_db
def test_frequencies(app, free):
    user = EndUserFactory(application=app, traits={"plan": "free"})
    once = PublishedExperienceFactory(application=app, name="once", segments=[free])
    until = PublishedExperienceFactory(
        application=app, name="until", segments=[free], frequency="until_completed"
    )
    every = PublishedExperienceFactory(
        application=app, name="every", segments=[free], frequency="every_time"
    )
    for experience in (once, until, every):
        EventFactory(experience=experience, end_user=user, type="shown")
    assert [e.name for e in serve(app, user, "/")] == ["every", "once", "until"]
    for experience in (once, until, every):
        EventFactory(experience=experience, end_user=user, type="dismissed")
    assert [e.name for e in serve(app, user, "/")] == ["every", "until"]
    for experience in (until, every):
        EventFactory(experience=experience, end_user=user, type="completed")
    assert [e.name for e in serve(app, user, "/")] == ["every"]


@pytest.mark.django_db
def test_serve_and_explain_share_one_decision_path(app, free):
    PublishedExperienceFactory(application=app, name="A", segments=[free], priority=3)
    PublishedExperienceFactory(application=app, name="B", segments=[free], url_include=["/b"])
    PublishedExperienceFactory(application=app, name="C", segments=[app.everyone], priority=9)
    user = EndUserFactory(application=app, traits={"plan": "free"})
    for url in ("/", "/b"):
        explained = [d.experience for d in explain_serve(app, user, url) if d.served]
        assert serve(app, user, url) == explained
    assert [e.name for e in serve(app, user, "/b")] == ["C", "A", "B"]


@pytest.fixture
def mixed(app, free):
    """Every kind of reason at once: drafts, no segments, two audiences, URL patterns that
    include and exclude, the three frequencies, and past events for one user."""
    pro = segment_with_rules(
        app, "Pro", ("plan", "string", "equals", "pro"), ("seats", "number", "greater_than", 3)
    )
    shapes = [
        {"segments": [free]},
        {"segments": [pro], "url_include": ["/dashboard/**"]},
        {"segments": [free, pro], "url_include": ["/projects/:id", "/b"]},
        {"segments": [app.everyone], "url_exclude": ["/dashboard/admin/**"]},
        {"segments": [free], "status": "draft"},
        {"segments": []},
        {"segments": [pro], "url_include": ["/b?tab=x", "oops"]},
    ]
    frequencies = ["once", "until_completed", "every_time"]
    experiences = [
        PublishedExperienceFactory(
            application=app,
            name=f"E{n}",
            priority=n % 4,
            frequency=frequencies[n % 3],
            **shapes[n % len(shapes)],
        )
        for n in range(21)
    ]
    veteran = EndUserFactory(application=app, external_id="veteran")
    for n, experience in enumerate(experiences):
        if n % 2:
            EventFactory(experience=experience, end_user=veteran, type="dismissed")
        if n % 5 == 0:
            EventFactory(experience=experience, end_user=veteran, type="completed")
    return veteran


URLS = ["/", "/b", "/b?tab=x", "/dashboard", "/dashboard/x", "/dashboard/admin/y", "/projects/7"]


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.sampled_from(["free", "pro", "PRO", None]),
    seats=st.none() | st.integers(0, 6) | st.sampled_from(["5", "x"]),
    url=st.sampled_from(URLS) | st.text(alphabet="/abdsx?=", max_size=12).map(lambda t: "/" + t),
    veteran=st.booleans(),
)
def test_serve_is_exactly_what_explain_calls_served(app, mixed, plan, seats, url, veteran):
    """The serve skips what it may (the URL first, no explanations): it must never differ."""
    user = mixed if veteran else EndUser(application=app, external_id="new")
    user.traits = {k: v for k, v in {"plan": plan, "seats": seats}.items() if v is not None}
    explained = [d.experience for d in explain_serve(app, user, url) if d.served]
    assert serve(app, user, url) == explained
    assert serve(app, user, url) == explained  # the URL's verdict, now remembered


@pytest.mark.django_db
def test_explain__an_unsaved_user_previews_made_up_traits(app, free):
    PublishedExperienceFactory(application=app, name="A", segments=[free])
    preview = EndUser(application=app, external_id="preview", traits={"plan": "free"})
    assert [d.served for d in explain_serve(app, preview, "/")] == [True]


@pytest.mark.django_db
def test_date_rules_use_now(app):
    recent = segment_with_rules(app, "Recent", ("signup", "date", "within_last_days", 7))
    PublishedExperienceFactory(application=app, name="Welcome", segments=[recent])
    user = EndUserFactory(application=app, traits={"signup": "2026-11-20"})
    assert explain_serve(app, user, "/", now=datetime(2026, 11, 25, tzinfo=UTC))[0].served
    assert not explain_serve(app, user, "/", now=datetime(2026, 12, 25, tzinfo=UTC))[0].served


@pytest.mark.django_db
def test_a_rule_left_uncompilable_by_a_type_change_matches_nobody(app, free):
    PublishedExperienceFactory(application=app, name="A", segments=[free])
    user = EndUserFactory(application=app, traits={"plan": "free"})
    TraitDefinition.objects.filter(key="plan").update(type="number")
    targeting.invalidate(app.pk)
    (decision,) = explain_serve(app, user, "/")
    assert decision.reason == "not in any of its segments"


@pytest.mark.django_db
def test_a_stored_pattern_that_does_not_compile_matches_nothing(app, free):
    PublishedExperienceFactory(
        application=app, name="A", segments=[free], url_include=["dashboard", 7]
    )
    user = EndUserFactory(application=app, traits={"plan": "free"})
    assert not explain_serve(app, user, "/dashboard")[0].served


# --- the cache ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_targeting_is_cached__only_the_version_is_read_the_second_time(
    app, free, django_assert_num_queries
):
    PublishedExperienceFactory(application=app, segments=[free])
    first = targeting_for(app)
    with django_assert_num_queries(1):  # the version, from the database
        assert targeting_for(app) is first
    targeting.clear_local()  # another process: from the shared cache, still only the version
    with django_assert_num_queries(1):
        again = targeting_for(app)
    assert again is not first
    assert [e.id for e in again.experiences] == [e.id for e in first.experiences]


@pytest.mark.django_db
def test_by_public_key__one_query_finds_the_application_and_its_version(
    app, free, django_assert_num_queries
):
    first = targeting.targeting_for_key(app.public_key)
    with django_assert_num_queries(1):
        assert targeting.targeting_for_key(app.public_key) is first


@pytest.mark.django_db
def test_the_version_lives_in_the_database(app, free):
    before = TargetingVersion.objects.get(application=app).version
    assert targeting_for(app).version == before
    segment_with_rules(app, "Another", ("plan", "string", "is_set", None))
    after = TargetingVersion.objects.get(application=app).version
    assert after != before
    assert targeting_for(app).version == after


@pytest.mark.django_db
def test_an_application_without_a_version_row_gets_one(app, free):
    TargetingVersion.objects.filter(application=app).delete()  # a bulk_create, say
    assert targeting.targeting_for_key(app.public_key) is not None
    assert TargetingVersion.objects.filter(application=app).exists()


@pytest.mark.django_db
def test_the_cached_data_is_plain_and_picklable_for_redis(app, free):
    import pickle

    PublishedExperienceFactory(application=app, segments=[free], url_include=["/x/:id"])
    version = targeting_for(app).version
    data = cache.get(f"targeting:data:{app.pk}:{version}")
    assert data is not None
    assert pickle.loads(pickle.dumps(data)) == data


def _changes(app, free):
    """Each change that must invalidate, and how to make it."""
    trait = TraitDefinition.objects.get(application=app, key="plan")
    experience = PublishedExperienceFactory(application=app, segments=[free])
    return {
        "segment saved": lambda: actions.segment_update(segment=free, name="Free users"),
        "segment deleted": lambda: free.delete(),  # in use, the action would refuse
        "rule saved": lambda: Rule.objects.filter(segment=free).first().save(),
        "rule deleted": lambda: Rule.objects.filter(segment=free).first().delete(),
        "trait saved": lambda: actions.trait_definition_update(trait=trait, label="Plan"),
        "trait created": lambda: actions.trait_definition_create(application=app, key="new"),
        "experience saved": lambda: experience.save(),
        "experience deleted": lambda: experience.delete(),
        "segments set": lambda: experience.segments.set([app.everyone]),
        "segments cleared": lambda: experience.segments.clear(),
        "added from the segment side": lambda: app.everyone.experiences.add(experience),
        "application saved": lambda: actions.application_rotate_keys(application=app),
    }


CHANGES = [
    "segment saved",
    "segment deleted",
    "rule saved",
    "rule deleted",
    "trait saved",
    "trait created",
    "experience saved",
    "experience deleted",
    "segments set",
    "segments cleared",
    "added from the segment side",
    "application saved",
]


@pytest.mark.django_db
@pytest.mark.parametrize("change", CHANGES)
def test_every_change_invalidates(app, free, change):
    make = _changes(app, free)[change]
    before = targeting_for(app)
    make()
    assert targeting_for(app).version != before.version


@pytest.mark.django_db
def test_a_change_in_another_application_does_not_invalidate(app, free):
    before = targeting_for(app)
    segment_with_rules(ApplicationFactory(), "Elsewhere", ("plan", "string", "is_set", None))
    assert targeting_for(app) is before


@pytest.mark.django_db
def test_a_deleted_application_has_no_targeting(app):
    key = app.public_key
    assert targeting.targeting_for_key(key) is not None
    app.delete()
    assert targeting.targeting_for_key(key) is None


# --- One broken segment never stops the others ---------------------------------------------


def _poisoned(build, at="compile"):
    """``build`` (a segment code generator) failing for any set of segments holding a rule on
    the trait "poison", as a code generation bug or an unforeseen stored value would: when
    generating (``at="compile"``) or when the generated function runs (``at="run"``)."""

    def poisoned(segments, *args):
        from segments.codegen import _tree
        from segments.tree import conditions_of

        # compile_segments(segments, [ids]) answers only those ids (the rest for references).
        wanted = args[0] if args and all(isinstance(i, int) for i in args[0]) else segments
        trees = [_tree(segments[sid]) for sid in wanted if sid in segments]
        if any(c.trait == "poison" for t in trees for c in conditions_of(t)):
            if at == "compile":
                raise AttributeError("'int' object has no attribute 'lower'")
            compiled = build(segments, *args)

            def run(traits, now=None):
                if "poison" in traits:
                    raise AttributeError("'int' object has no attribute 'lower'")
                return compiled(traits, now)

            return run
        return build(segments, *args)

    return poisoned


@pytest.fixture
def poison(app, free):
    """Two experiences: one for Free users, one for a segment whose code is broken."""
    poisoned = segment_with_rules(app, "Poisoned", ("poison", "string", "equals", "x"))
    PublishedExperienceFactory(application=app, name="For free", segments=[free])
    PublishedExperienceFactory(application=app, name="For poisoned", segments=[poisoned])
    PublishedExperienceFactory(application=app, name="For both", segments=[poisoned, free])
    return poisoned


@pytest.mark.django_db
@pytest.mark.parametrize("at", ["compile", "run"])
def test_a_broken_segment__the_others_are_still_served(app, poison, monkeypatch, caplog, at):
    monkeypatch.setattr(targeting, "compile_chooser", _poisoned(targeting.compile_chooser, at))
    monkeypatch.setattr(targeting, "compile_segments", _poisoned(targeting.compile_segments, at))
    user = EndUserFactory(application=app, traits={"plan": "free", "poison": "x"})
    served = [e.name for e in serve(app, user, "/")]
    explained = [d.experience.name for d in explain_serve(app, user, "/") if d.served]
    assert served == explained == ["For both", "For free"]  # the poisoned one matches nobody
    # Known broken when its code cannot be generated; one that raises when run is answered
    # segment by segment, call by call (and logged).
    assert targeting.broken_segment_ids(app) == ({poison.pk} if at == "compile" else set())
    assert "matches nobody" in caplog.text
    logged = len(caplog.records)
    assert [e.name for e in serve(app, user, "/")] == served
    assert len(caplog.records) == logged  # logged once, not on every serve


@pytest.mark.django_db
def test_broken_segment_ids__none_when_all_compile(app, poison):
    assert targeting.broken_segment_ids(app) == set()


@pytest.mark.django_db
def test_a_broken_segment__is_badged_on_the_segments_list_and_its_page(
    app, poison, monkeypatch, client
):
    from django.urls import reverse

    from tests.factories import MembershipFactory

    client.force_login(MembershipFactory(application=app).user)
    from segments import selectors

    monkeypatch.setattr(selectors, "compile_segments", _poisoned(selectors.compile_segments))

    listing = client.get(reverse("segments:list", args=[app.pk])).content.decode()
    page = client.get(reverse("segments:detail", args=[app.pk, poison.pk])).content.decode()
    free = app.segments.get(name="Free")
    healthy = client.get(reverse("segments:detail", args=[app.pk, free.pk]))

    assert listing.count("Broken: matches nobody") == 1
    assert "Broken: matches nobody" in page and "cannot be compiled" in page
    assert "Broken" not in healthy.content.decode()
