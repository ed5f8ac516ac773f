"""Settings for benchmarks/serve.py: the app's own settings plus a trivial JSON view (the floor)."""

from callout.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
