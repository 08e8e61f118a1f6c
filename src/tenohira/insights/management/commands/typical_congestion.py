"""`tenohira typical_congestion [--counter CODE …] [--from DATE --to DATE]`: compute each
counter's typical congestion by weekday and hour from POS transactions and counter
applications (tenohira.insights.congestion) and store it for the 窓口の混雑状況 page.
Run it after importing POS data (`tenohira insights import-pos`), e.g. monthly."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from tenohira.core.fiscal import JST
from tenohira.core.wareki import WarekiError, parse_date


def _moment(text: str, *, end: bool = False) -> dt.datetime:
    try:
        day = parse_date(text)
    except WarekiError as exc:
        raise CommandError(str(exc)) from exc
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=JST)


class Command(BaseCommand):
    help = "窓口のいつもの混み具合（曜日・時間帯ごと）を POS の取引と窓口の申請記録から計算する。"

    def add_arguments(self, parser):
        parser.add_argument("--counter", action="append", dest="codes", metavar="CODE", help="窓口コード（省略ですべて）")
        parser.add_argument("--from", dest="date_from", help="初日（省略で最後の記録から365日前）")
        parser.add_argument("--to", dest="date_to", help="末日（省略で最後の記録の日）")

    def handle(self, *args, codes=None, date_from=None, date_to=None, **options):
        from tenohira.insights.congestion import compute
        from tenohira.reservations.models import Counter

        if bool(date_from) != bool(date_to):
            raise CommandError("期間は --from と --to の両方を指定してください。")
        counters = None
        if codes:
            counters = list(Counter.objects.filter(code__in=codes))
            unknown = sorted(set(codes) - {c.code for c in counters})
            if unknown:
                raise CommandError(f"窓口コード {', '.join(unknown)} はありません。")
        start = _moment(date_from) if date_from else None
        end = _moment(date_to, end=True) if date_to else None
        for result in compute(counters, start=start, end=end):
            if result.rows:
                self.stdout.write(f"{result.counter.name}: {result.rows} 時間帯（{result.basis}）")
            else:
                self.stdout.write(f"{result.counter.name}: 記録がないため変更しません")
