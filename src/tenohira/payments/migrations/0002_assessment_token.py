import secrets

from django.db import migrations, models

import tenohira.payments.models


def fill_tokens(apps, schema_editor):
    # Each existing assessment gets its own token (a column default would give them all one).
    Assessment = apps.get_model("payments", "Assessment")
    for assessment in Assessment.objects.filter(token="").only("pk").iterator():
        Assessment.objects.filter(pk=assessment.pk).update(token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="assessment",
            name="token",
            field=models.CharField(default="", editable=False, max_length=43),
            preserve_default=False,
        ),
        migrations.RunPython(fill_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="assessment",
            name="token",
            field=models.CharField(default=tenohira.payments.models.new_assessment_token, editable=False,
                                   max_length=43, unique=True),
        ),
    ]
