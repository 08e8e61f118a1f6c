"""The four site pages with their default words, so that a new installation's footer
links lead somewhere true from the first start; the DX division edits them in the admin."""

from django.db import migrations


def seed(apps, schema_editor):
    # Imported here, not copied: the defaults describe what the software stores and must
    # be the ones the software ships with when the page is first created.
    from tenohira.platform.defaults import DEFAULT_PAGES

    SitePage = apps.get_model("platform", "SitePage")
    for slug, (title, body) in DEFAULT_PAGES.items():
        SitePage.objects.get_or_create(slug=slug, defaults={"title": title, "body": body})


class Migration(migrations.Migration):
    dependencies = [("platform", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
