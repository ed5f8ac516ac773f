"""Each user's experience history (first shown, dismissed, completed) copied into the activity
summary that the serve and the experience rules read (segments/activity.py)."""

from django.db import migrations
from django.db.models import Min

BATCH = 2000


def copy_history(apps, schema_editor):
    Event = apps.get_model("experiences", "Event")
    EndUser = apps.get_model("segments", "EndUser")
    firsts = (
        Event.objects.filter(type__in=["shown", "dismissed", "completed"])
        .values("end_user_id", "experience_id", "type")
        .annotate(first=Min("created_at"))
        .order_by("end_user_id")
    )
    pending: dict[int, dict] = {}

    def flush():
        users = EndUser.objects.filter(pk__in=pending).only("pk", "activity")
        for user in users:
            activity = user.activity if isinstance(user.activity, dict) else {}
            for (experience_id, state), when in pending[user.pk].items():
                states = activity.setdefault("x", {}).setdefault(str(experience_id), {})
                if state not in states or when < states[state]:
                    states[state] = when
            user.activity = activity
        EndUser.objects.bulk_update(users, ["activity"])
        pending.clear()

    for row in firsts.iterator(chunk_size=BATCH):
        if row["end_user_id"] not in pending and len(pending) >= BATCH:
            flush()
        key = (row["experience_id"], row["type"])
        pending.setdefault(row["end_user_id"], {})[key] = row["first"].timestamp()
    if pending:
        flush()


class Migration(migrations.Migration):
    dependencies = [
        ("experiences", "0003_experience_name_unique_ignoring_case"),
        ("segments", "0011_behaviour"),
    ]

    operations = [migrations.RunPython(copy_history, migrations.RunPython.noop)]
