"""Segment names unique per application ignoring case, in the database: the actions have always
refused "pro" beside "Pro" (``name__iexact``), but two saves racing past that check could both
land. Rows that already clash keep the oldest name; the others are renamed "Pro (2)", ..."""

from django.db import migrations, models
from django.db.models.functions import Lower

MAX_NAME = 100


def rename_case_duplicates(model):
    def forwards(apps, schema_editor):
        Model = apps.get_model(*model)
        clashes = (
            Model.objects.annotate(lname=Lower("name"))
            .values("application_id", "lname")
            .annotate(n=models.Count("pk"))
            .filter(n__gt=1)
        )
        for clash in clashes:
            application_id = clash["application_id"]
            taken = {
                name.lower()
                for name in Model.objects.filter(application_id=application_id).values_list(
                    "name", flat=True
                )
            }
            rows = Model.objects.annotate(lname=Lower("name")).filter(
                application_id=application_id, lname=clash["lname"]
            )
            for row in list(rows.order_by("pk"))[1:]:
                number = 2
                while True:
                    suffix = f" ({number})"
                    candidate = row.name[: MAX_NAME - len(suffix)] + suffix
                    if candidate.lower() not in taken:
                        break
                    number += 1
                taken.add(candidate.lower())
                Model.objects.filter(pk=row.pk).update(name=candidate)

    return forwards


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0006_inline_date_functions"),
    ]

    operations = [
        migrations.RunPython(
            rename_case_duplicates(("segments", "Segment")), migrations.RunPython.noop
        ),
        migrations.RemoveConstraint(
            model_name="segment",
            name="one_segment_name",
        ),
        migrations.AddConstraint(
            model_name="segment",
            constraint=models.UniqueConstraint(
                models.F("application"), Lower("name"), name="one_segment_name_ci"
            ),
        ),
    ]
