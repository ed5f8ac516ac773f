"""Build the per-trait expression indexes the rules need, and drop stale ones (PostgreSQL)."""

from typing import Any

from django.core.management.base import BaseCommand

from segments import actions, indexing
from segments.models import Application


class Command(BaseCommand):
    help = (
        "Make the per-trait expression indexes match the traits segment rules use, for every "
        "application (CREATE/DROP INDEX CONCURRENTLY: safe while the site serves). Run after a "
        "deploy or restore, or when a build was interrupted. A no-op on SQLite."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for application in Application.objects.order_by("pk"):
            created, dropped = actions.trait_indexes_sync(application=application)
            for name in created:
                self.stdout.write(f"{application}: created {name}")
            for name in dropped:
                self.stdout.write(f"{application}: dropped {name}")
        for name in indexing.drop_orphans():
            self.stdout.write(f"dropped {name} (its application is gone)")
