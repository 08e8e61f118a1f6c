from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0004_facility_cashless_only"),
        ("core", "0006_closureday"),  # copies the rows first
    ]

    operations = [migrations.DeleteModel(name="ClosureDay")]
