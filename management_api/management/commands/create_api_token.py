from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from callout.actor import Actor, acting
from segments.models import Application

from ...actions import api_token_create
from ...models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for an application; the token alone is printed on the last line."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("app_id", type=int)
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", choices=ApiToken.Role.values, default=ApiToken.Role.VIEWER)

    def execute(self, *args: Any, **options: Any) -> Any:
        with acting(Actor(via="command")):  # what it writes is a command's (the audit log)
            return super().execute(*args, **options)

    def handle(self, *args: Any, app_id: int, name: str, role: str, **options: Any) -> None:
        application = Application.objects.filter(pk=app_id).first()
        if application is None:
            raise CommandError(f"No application {app_id}.")
        try:
            token, plaintext = api_token_create(application=application, name=name, role=role)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stderr.write(f'{role} token "{token.name}" for {application.name} (shown once):')
        self.stdout.write(plaintext)
