import pytest
from django.core.cache import cache

from experiences import targeting


@pytest.fixture(autouse=True)
def fresh_targeting_cache():
    """Each test starts with no cached targeting (ids can repeat after a rolled-back test)."""
    cache.clear()
    targeting.clear_local()
    yield
    cache.clear()
    targeting.clear_local()
