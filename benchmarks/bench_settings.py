"""Settings for benchmarks/serve.py: the app's own settings plus a trivial JSON view (the floor)."""

from callout.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
# The serve benchmark sends ~1,500 requests a second from one address with one key: the rate
# limits stay on, so that their cost is measured, but out of reach.
API_RATE_LIMIT_KEY = API_RATE_LIMIT_IP = 10**9
