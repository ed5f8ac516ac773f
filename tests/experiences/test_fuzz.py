"""The snippet's API under generated abuse (tests/experiences/api_fuzz.py): thousands of calls
of every endpoint, valid and mutated, with a fixed seed. Promised by docs/api.md: no 5xx, every
refusal our JSON error with CORS and nothing written, every valid call answered.

FUZZ_REQUESTS sets the number of calls (3,000 by default, what CI runs in well under two
minutes); benchmarks/fuzz_api.py runs 10,000 or more and prints the figures.
"""

import os

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from .api_fuzz import Fuzz, build_world, calls

pytestmark = pytest.mark.django_db

REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "3000"))
SHOWN = 10  # problems quoted in a failure, of each kind


@pytest.fixture
def no_rate_limits(settings):
    settings.API_RATE_LIMIT_KEY = settings.API_RATE_LIMIT_IP = 0


def test_fuzz__no_5xx__refusals_json_with_cors__nothing_written(client, no_rate_limits, capsys):
    world = build_world()
    fuzz = Fuzz(client)

    # Every call is judged and counted rather than raised on, so that one run gives every
    # figure; the seed fixes the calls; no shrinking (nothing raises), no example database.
    @seed(11)
    @settings(
        max_examples=REQUESTS,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(call=calls(world))
    def run(call):
        fuzz.send(call)

    run()
    if "FUZZ_REQUESTS" in os.environ:
        with capsys.disabled():
            print("\n" + fuzz.figures())
    assert fuzz.sent >= REQUESTS * 0.99, fuzz.figures()
    problems = fuzz.problems()
    assert not problems, fuzz.figures() + "\n\n" + "\n\n".join(problems[:SHOWN])
