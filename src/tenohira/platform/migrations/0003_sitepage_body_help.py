from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("platform", "0002_seed_site_pages")]

    operations = [
        migrations.AlterField(
            model_name="sitepage",
            name="body",
            field=models.TextField(
                help_text=(
                    "空行で段落を分けます。「## 」で始まる行は小見出し、「- 」で始まる行は箇条書きになります。"
                    "URL とメールアドレスはリンクになります。{市区町村名}、{一時保存の日数} と {予約の保存日数} は"
                    "設定の値に置き換わります。"
                ),
                verbose_name="本文",
            ),
        ),
    ]
