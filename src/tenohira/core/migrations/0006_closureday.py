"""The closure days move from insights to core with the business calendar (SLAs and
reservations read it too). The rows an existing database holds are copied over before
insights drops its table (insights 0005 depends on this migration)."""

from django.db import migrations, models


def copy_from_insights(apps, schema_editor):
    connection = schema_editor.connection
    if "insights_closureday" not in connection.introspection.table_names():
        return  # a new database: insights creates and drops its empty table later
    ClosureDay = apps.get_model("core", "ClosureDay")
    with connection.cursor() as cursor:
        cursor.execute("SELECT date, reason, updated_at FROM insights_closureday")
        rows = cursor.fetchall()
    ClosureDay.objects.bulk_create([ClosureDay(date=d, reason=r, updated_at=u) for d, r, u in rows])


class Migration(migrations.Migration):
    dependencies = [("core", "0005_blank_sent_bodies")]

    operations = [
        migrations.CreateModel(
            name="ClosureDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("date", models.DateField(unique=True, verbose_name="日付")),
                ("reason", models.CharField(blank=True, max_length=100, verbose_name="理由")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "閉庁日", "verbose_name_plural": "閉庁日", "ordering": ["date"]},
        ),
        migrations.RunPython(copy_from_insights, migrations.RunPython.noop),
    ]
