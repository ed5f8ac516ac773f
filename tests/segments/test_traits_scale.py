"""The Traits page holds up however many trait definitions identify calls have created."""

import pytest
from django.urls import reverse

from segments import selectors
from segments.models import EndUser, TraitDefinition

pytestmark = pytest.mark.django_db

DEFINITIONS = 5_000


@pytest.fixture
def crowded(member):
    """An application with 5,000 trait definitions (as 25 identify calls of 200 new keys
    would leave) and a few users carrying some of them."""
    application = member.application
    types = ["string", "number", "boolean", "date"]
    TraitDefinition.objects.bulk_create(
        TraitDefinition(
            application=application, key=f"k{n:04d}", type=types[n % 4], auto_discovered=True
        )
        for n in range(DEFINITIONS)
    )
    EndUser.objects.bulk_create(
        EndUser(
            application=application,
            external_id=f"u{u}",
            traits={f"k{n:04d}": "x" for n in range(u, DEFINITIONS, 97)},
        )
        for u in range(20)
    )
    return application


def test_statistics_of_5000_traits_are_computed_in_statements_of_bounded_width(
    crowded, django_assert_max_num_queries
):
    traits = list(crowded.trait_definitions.order_by("key"))
    batches = -(-DEFINITIONS // selectors.STATS_BATCH)
    with django_assert_max_num_queries(batches + 1):  # + the samples
        stats = selectors.trait_stats(crowded, traits)
    assert len(stats) == DEFINITIONS
    first = traits[0]  # k0000, a text trait: user u0 has it
    assert stats[first.pk].users == 1
    assert stats[first.pk].samples == ["x"]
    number = traits[1]  # k0001: u1 has "x", which is not a number
    assert (stats[number.pk].users, stats[number.pk].misfits) == (1, 1)


def test_the_traits_page_of_an_application_with_5000_definitions_renders_a_page_at_a_time(
    client, crowded
):
    url = reverse("segments:traits", args=[crowded.pk])
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "k0000" in page and "k0099" in page and "k0100" not in page
    assert "Page 1 of 50 · 5000 in all" in page
    last = client.get(url, {"page": 50}).content.decode()
    assert "k4999" in last and "k4899" not in last


def test_editing_a_trait_without_javascript_opens_the_page_that_holds_it(client, crowded):
    trait = crowded.trait_definitions.get(key="k0250")
    response = client.get(reverse("segments:trait_edit", args=[crowded.pk, trait.pk]))
    page = response.content.decode()
    assert "Page 3 of 50" in page
    assert 'aria-label="Edit trait k0250"' in page
