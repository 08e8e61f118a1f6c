"""Messages sent before bodies were blanked on delivery still hold status codes and links."""

from django.db import migrations


def blank_sent_bodies(apps, schema_editor):
    OutboxMessage = apps.get_model("core", "OutboxMessage")
    OutboxMessage.objects.filter(sent_at__isnull=False).exclude(body="").update(body="")


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_outbox_lease"),
    ]

    operations = [
        migrations.RunPython(blank_sent_bodies, migrations.RunPython.noop),
    ]
