from django.db import migrations, models


def copy_sections(apps, schema_editor):
    Submission = apps.get_model("applications", "Submission")
    for submission in Submission.objects.filter(section__isnull=True).select_related("procedure"):
        submission.section_id = submission.procedure.section_id
        submission.save(update_fields=["section"])


class Migration(migrations.Migration):
    dependencies = [("applications", "0003_workflow"), ("catalog", "0003_procedure_indexed_at")]
    operations = [
        migrations.RunPython(copy_sections, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="submission",
            name="section",
            field=models.ForeignKey(
                on_delete=models.deletion.PROTECT, related_name="submissions", to="catalog.section"
            ),
        ),
    ]
