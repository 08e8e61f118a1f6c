from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0006_closureday")]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="attachments",
            field=models.JSONField(blank=True, default=list, verbose_name="添付"),
        ),
    ]
