"""Experience names unique per application ignoring case, in the database (as segments'
0007, whose renaming of rows that already clash this reuses)."""

from importlib import import_module

from django.db import migrations, models
from django.db.models.functions import Lower

rename_case_duplicates = import_module(
    "segments.migrations.0007_segment_name_unique_ignoring_case"
).rename_case_duplicates


class Migration(migrations.Migration):
    dependencies = [
        ("experiences", "0002_targeting_version"),
        ("segments", "0007_segment_name_unique_ignoring_case"),
    ]

    operations = [
        migrations.RunPython(
            rename_case_duplicates(("experiences", "Experience")), migrations.RunPython.noop
        ),
        migrations.RemoveConstraint(
            model_name="experience",
            name="one_experience_name",
        ),
        migrations.AddConstraint(
            model_name="experience",
            constraint=models.UniqueConstraint(
                models.F("application"), Lower("name"), name="one_experience_name_ci"
            ),
        ),
    ]
