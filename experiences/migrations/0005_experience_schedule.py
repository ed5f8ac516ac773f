"""Experience.starts_at / ends_at: the schedule (served from the start until the end, in UTC),
the end after the start when both are set."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('experiences', '0004_activity_history'),
    ]

    operations = [
        migrations.AddField(
            model_name='experience',
            name='ends_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='experience',
            name='starts_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='experience',
            constraint=models.CheckConstraint(condition=models.Q(('starts_at__isnull', True), ('ends_at__isnull', True), ('ends_at__gt', models.F('starts_at')), _connector='OR'), name='experience_ends_after_start'),
        ),
    ]
