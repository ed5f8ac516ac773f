"""manage.py experience_texts: an experience's texts out to translators, and back in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from callout.actor import Actor, acting
from experiences import actions
from experiences.languages import DEFAULT_LANGUAGES, text_at, text_fields
from experiences.models import Experience

HELP = """An experience's texts as JSON, for translators (docs/experiences.md, "Languages").

    manage.py experience_texts export 12 pt > welcome.pt.json
    manage.py experience_texts import 12 welcome.pt.json

The file is the experience's translations themselves: {"pt": {"text": "...", ...}}, every text
of the experience by field path ("" where not yet translated). Exporting the default language
gives the texts to translate. Importing replaces that language's translations; a path the
experience does not have, or a language the application does not enable, is refused and
nothing is written."""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export")
        export.add_argument("experience", type=int)
        export.add_argument("language")
        load = sub.add_parser("import")
        load.add_argument("experience", type=int)
        load.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            experience = Experience.objects.select_related("application").get(
                pk=options["experience"]
            )
        except Experience.DoesNotExist:
            raise CommandError(f"No experience {options['experience']}.") from None
        if options["action"] == "export":
            self.stdout.write(json.dumps(export(experience, options["language"]), indent=2))
        else:
            self._import(experience, options["file"])

    def _import(self, experience: Experience, path: Path) -> None:
        try:
            texts = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from None
        if not isinstance(texts, dict):
            raise CommandError('The file must be {"<language>": {"<field path>": "text"}}.')
        default = (experience.application.languages or DEFAULT_LANGUAGES)[0]
        if default in texts and len(texts) == 1:
            raise CommandError(f"{default} is the default language: edit the experience instead.")
        try:
            with acting(Actor(via="import")):  # the versions and the audit log say so
                actions.experience_update(
                    experience=experience, translations={**experience.translations, **texts}
                )
        except ValidationError as error:
            lines = [f"{key}: {' '.join(msgs)}" for key, msgs in error.message_dict.items()]
            raise CommandError("Nothing imported:\n" + "\n".join(lines)) from None
        self.stdout.write(f"Imported {', '.join(texts)} for {experience.name}.")


def export(experience: Experience, language: str) -> dict[str, dict[str, str]]:
    """Every text of the experience in ``language``: the content's own for the default
    language, else its translations ("" for those not translated yet)."""
    languages = experience.application.languages or DEFAULT_LANGUAGES
    if language not in languages:
        raise CommandError(
            f"{language} is not enabled (the application's: {', '.join(languages)})."
        )
    paths = text_fields(experience.kind, experience.content)
    if language == languages[0]:
        return {language: {path: text_at(experience.content, path) for path in paths}}
    texts = experience.translations.get(language) or {}
    return {language: {path: texts.get(path, "") for path in paths}}
