
import django.db.models.deletion
from django.db import migrations, models


def channels_from_columns(apps, schema_editor):
    """The single 申請方法 column becomes channel rows; a counter given for any channel is kept
    as a counter row (the old page showed it whatever the channel was)."""
    Procedure = apps.get_model("catalog", "Procedure")
    ProcedureChannel = apps.get_model("catalog", "ProcedureChannel")
    rows = []
    for p in Procedure.objects.all().iterator():
        order = 0
        if p.channel == "platform":
            rows.append(ProcedureChannel(procedure_id=p.pk, kind="platform", order=order))
            order += 1
        elif p.channel == "external" and p.external_url:
            rows.append(ProcedureChannel(procedure_id=p.pk, kind="external", url=p.external_url, order=order))
            order += 1
        if p.counter_place or p.channel == "counter":
            rows.append(ProcedureChannel(
                procedure_id=p.pk, kind="counter", place=p.counter_place, hours=p.counter_hours, order=order,
            ))
    ProcedureChannel.objects.bulk_create(rows, batch_size=500)


def columns_from_channels(apps, schema_editor):
    Procedure = apps.get_model("catalog", "Procedure")
    for p in Procedure.objects.prefetch_related("channels"):
        channels = list(p.channels.all())
        kinds = [c.kind for c in channels]
        p.channel = "platform" if "platform" in kinds else "external" if "external" in kinds else "counter"
        p.external_url = next((c.url for c in channels if c.kind == "external"), "")
        counter = next((c for c in channels if c.kind == "counter"), None)
        p.counter_place = counter.place if counter else ""
        p.counter_hours = counter.hours if counter else ""
        p.save(update_fields=["channel", "external_url", "counter_place", "counter_hours"])


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0003_procedure_indexed_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='procedure',
            name='planned_online_fiscal_year',
            field=models.PositiveIntegerField(blank=True, help_text='西暦の年度（例: 2025 = 令和7年度）', null=True, verbose_name='オンライン化予定年度'),
        ),
        migrations.AddField(
            model_name='section',
            name='email',
            field=models.EmailField(blank=True, max_length=254, verbose_name='メールアドレス'),
        ),
        migrations.AddField(
            model_name='section',
            name='hours',
            field=models.CharField(blank=True, help_text='空欄なら開庁時間（平日 8:30〜17:15）', max_length=200, verbose_name='受付時間'),
        ),
        migrations.AddField(
            model_name='section',
            name='place',
            field=models.CharField(blank=True, help_text='例: 本庁舎1階 市民課', max_length=300, verbose_name='窓口の場所'),
        ),
        migrations.CreateModel(
            name='LifeEventFirstStep',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('note', models.CharField(blank=True, help_text='例: 引越しの日から14日以内', max_length=200, verbose_name='ひとこと')),
                ('order', models.PositiveIntegerField(default=0, verbose_name='表示順')),
                ('life_event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='first_steps', to='catalog.lifeevent', verbose_name='ライフイベント')),
                ('procedure', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.procedure', verbose_name='手続き')),
            ],
            options={
                'verbose_name': 'まず必要な手続き',
                'verbose_name_plural': 'まず必要な手続き',
                'ordering': ['life_event', 'order', 'id'],
                'constraints': [models.UniqueConstraint(fields=('life_event', 'procedure'), name='first_step_unique')],
            },
        ),
        migrations.CreateModel(
            name='ProcedureChannel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('platform', 'オンライン'), ('external', '外部サービス'), ('post', '郵送'), ('counter', '窓口')], max_length=20, verbose_name='申請方法')),
                ('service_name', models.CharField(blank=True, help_text='外部サービスの名前（例: マイナポータル ぴったりサービス、かんたん電子申請、eLTAX）', max_length=100, verbose_name='サービス名')),
                ('url', models.URLField(blank=True, max_length=500, verbose_name='URL')),
                ('place', models.CharField(blank=True, help_text='窓口の場所、または郵送の送付先', max_length=300, verbose_name='場所・送付先')),
                ('hours', models.CharField(blank=True, max_length=200, verbose_name='受付時間')),
                ('bring', models.TextField(blank=True, help_text='空欄なら手続きの「必要なもの」を表示します。', verbose_name='持ち物')),
                ('note', models.CharField(blank=True, max_length=300, verbose_name='補足')),
                ('order', models.PositiveIntegerField(default=0, verbose_name='表示順')),
                ('procedure', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='channels', to='catalog.procedure', verbose_name='手続き')),
            ],
            options={
                'verbose_name': '申請方法',
                'verbose_name_plural': '申請方法',
                'ordering': ['procedure', 'order', 'id'],
                'indexes': [models.Index(fields=['kind', 'procedure'], name='channel_kind_idx')],
            },
        ),
        migrations.RunPython(channels_from_columns, columns_from_channels),
        migrations.RemoveField(
            model_name='procedure',
            name='channel',
        ),
        migrations.RemoveField(
            model_name='procedure',
            name='counter_hours',
        ),
        migrations.RemoveField(
            model_name='procedure',
            name='counter_place',
        ),
        migrations.RemoveField(
            model_name='procedure',
            name='external_url',
        ),
    ]
