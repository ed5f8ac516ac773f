"""Version 1 of every experience saved before versions existed: as stored, at its last save,
by "the system" (the keys of ``experiences/versions.py``'s snapshot)."""

from django.db import migrations


def moment(value):
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def backfill(apps, schema_editor):
    Experience = apps.get_model("experiences", "Experience")
    ExperienceVersion = apps.get_model("experiences", "ExperienceVersion")
    for experience in Experience.objects.filter(versions__isnull=True).iterator():
        ExperienceVersion.objects.create(
            experience=experience,
            number=1,
            created_at=experience.updated_at,
            via="system",
            actor_name="the system",
            definition={
                "name": experience.name,
                "kind": experience.kind,
                "status": experience.status,
                "content": experience.content,
                "segments": sorted(experience.segments.values_list("pk", flat=True)),
                "url_include": list(experience.url_include or []),
                "url_exclude": list(experience.url_exclude or []),
                "frequency": experience.frequency,
                "priority": experience.priority,
                "starts_at": moment(experience.starts_at),
                "ends_at": moment(experience.ends_at),
                "goal_kind": experience.goal_kind,
                "goal_event": experience.goal_event,
                "goal_url": experience.goal_url,
                "conversion_window_days": experience.conversion_window_days,
                "holdout_percent": experience.holdout_percent,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("experiences", "0007_experience_versions")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
