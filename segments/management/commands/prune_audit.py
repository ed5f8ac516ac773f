"""manage.py prune_audit: delete audit log entries past each application's retention (run it
daily from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from segments import audit

HELP = """Delete the audit log entries older than their application's retention (Setup >
Settings, "Audit log", default 365 days). The only way entries are deleted: the app, the admin
and the API cannot. Run it daily, e.g. from cron:

    30 3 * * *  cd /srv/callout && .venv/bin/python manage.py prune_audit
"""


class Command(BaseCommand):
    help = HELP

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = audit.prune()
        self.stdout.write(f"{deleted:,} audit entries past their retention deleted.")
