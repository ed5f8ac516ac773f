"""Demo data: "Acme App" with its traits, about 1,000 users and what they did (events), the
product docs' segments and example experiences."""

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from callout.actor import Actor, acting
from experiences.demo import seed_experiences
from segments import actions
from segments.demo_events import seed_events
from segments.models import Application, Membership

USERNAME = "pm"
PASSWORD = "callout-demo"

TRAITS = [
    ("plan", "string", "Plan", "Billing plan: free, pro or enterprise."),
    ("role", "string", "Role", "The user's role in their team."),
    ("company", "string", "Company", "Company name."),
    ("teamSize", "number", "Team size", "Seats in the user's team."),
    ("signupDate", "date", "Signup date", "When the user signed up."),
]

SEGMENTS = [
    ("Free Plan Users", "Everyone on the free plan.", [("plan", "equals", "free")]),
    (
        "Pro Plan Admins",
        "Admins of pro teams.",
        [("plan", "equals", "pro"), ("role", "equals", "admin")],
    ),
    (
        "Free Admins",
        "Admins on the free plan: the upgrade decision makers.",
        [("plan", "equals", "free"), ("role", "equals", "admin")],
    ),
    ("Enterprise", "Enterprise customers.", [("plan", "equals", "enterprise")]),
    ("Acme Companies", "", [("company", "contains", "Acme")]),
    ("Large Teams", "", [("teamSize", "greater_than", 10)]),
    ("New Signups", "Signed up within the last week.", [("signupDate", "within_last_days", 7)]),
]

COMPANIES = [
    "Acme Corp",
    "Acme Labs",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Vandelay Industries",
    "Soylent",
    "Wonka",
    "Cyberdyne",
]


def demo_traits(rng: random.Random, today: Any) -> dict[str, Any]:
    plan = rng.choices(["free", "pro", "enterprise"], weights=[55, 30, 15])[0]
    traits: dict[str, Any] = {
        "plan": plan,
        "role": rng.choices(["admin", "member", "viewer"], weights=[15, 70, 15])[0],
        "company": rng.choice(COMPANIES),
        "teamSize": max(1, int(rng.lognormvariate(2.0 if plan == "free" else 3.0, 1.0))),
        "signupDate": (today - timedelta(days=int(rng.expovariate(1 / 120)))).isoformat(),
    }
    if rng.random() < 0.05:  # some users never told us their company
        del traits["company"]
    return traits


class Command(BaseCommand):
    help = "Load the demo application (idempotent) and print a product-manager login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--users", type=int, default=1000)

    @transaction.atomic
    def execute(self, *args: Any, **options: Any) -> Any:
        with acting(Actor(via="command")):  # what it writes is a command's (the audit log)
            return super().execute(*args, **options)

    def handle(self, *args: Any, users: int, **options: Any) -> None:
        manager, created = get_user_model().objects.get_or_create(
            username=USERNAME,
            defaults={"email": "pm@acme.example", "is_staff": True, "is_superuser": True},
        )
        if created:
            manager.set_password(PASSWORD)
            manager.save()
        application = Application.objects.filter(name="Acme App").first()
        if application is None:
            application = actions.application_create(name="Acme App", owner=manager)
            self.seed(application, users)
        Membership.objects.get_or_create(
            user=manager, application=application, defaults={"role": Membership.Role.OWNER}
        )
        seed_experiences(application)
        self.stdout.write(
            f"Demo data: {application.name} with {application.end_users.count()} users.\n"
            f"Log in as {USERNAME} / {PASSWORD} (the admin is at /admin/)."
        )

    def seed(self, application: Application, count: int) -> None:
        for key, type_, label, description in TRAITS:
            actions.trait_definition_create(
                application=application, key=key, type=type_, label=label, description=description
            )
        rng = random.Random(2026)
        today = timezone.now().date()
        for n in range(count):
            actions.end_user_identify(
                application=application,
                external_id=f"user-{n + 1:04d}",
                traits=demo_traits(rng, today),
            )
        seed_events(application)
        for name, description, rules in SEGMENTS:
            actions.segment_create(
                application=application,
                name=name,
                description=description,
                rules=[{"trait": t, "operator": op, "value": v} for t, op, v in rules],
            )
