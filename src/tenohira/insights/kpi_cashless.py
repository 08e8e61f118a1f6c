"""キャッシュレス: the cashless ratio of counter payments and counter congestion.

`section(period_start, period_end)` is the report's `cashless` key (documented in
docs/insights-cashless-paperless.md). Facts:

* `PosTransaction` — every counter payment with its JST time, facility, fee item, amount
  and method (cash or cashless). Ratios by amount and by count, per facility, fee item and
  month, and the congestion histograms come from these.
* `FacilityCashless` — yearly totals per facility when a facility has no POS export. They
  are used only for a report over exactly that calendar year (how the city reports
  cashless), and only for facilities without POS transactions in the period; they give
  amounts, never counts. A cashless-only row (独自集計: a facility's own tally of its
  cashless payments, cash unknown) is reported on its own (`cashless_only`) and left out
  of the ratio, numerator and denominator both: counting its unknown cash as 0 would
  make the city look more cashless than it is.
* Payments received through Tenohira (payments: online by card, PayPay, convenience
  store; at a counter recorded by staff). Online ones count under the facility
  「オンライン」, counter ones under their facility. A facility with imported data for the
  period (POS transactions, or a yearly total or 独自集計 used by the report) is counted
  from that data only: its till already holds the payments a clerk recorded here, and
  adding both would count them twice. The `payments` key says what was added and what
  was left to the imported data.

Ratios are cashless ÷ sales (by amount) and cashless payments ÷ payments (by count),
rounded half-up to 0.1 — except the overall ratio by amount, which is rounded half-up to
0.01 because that is how it is published and compared with the national target (15.96%).
Published ratios are only checked, never used.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from django.db.models import Count, Q, Sum
from django.db.models.functions import (
    ExtractHour,
    ExtractIsoWeekDay,
    ExtractMonth,
    ExtractYear,
    TruncDate,
)

from tenohira.core.fiscal import JST
from tenohira.insights.imports.pos import published_precision_ratio, round2
from tenohira.insights.models import FacilityCashless, PosTransaction
from tenohira.insights.numbers import exact_pct, pct, round1
from tenohira.payments import daily as payment_methods
from tenohira.payments.models import Payment
from tenohira.payments.states import MONEY_RECEIVED

# キャッシュレス・ビジョン (METI): cashless payments 40% of consumption by 2025.
NATIONAL_TARGET_PCT = Decimal("40.0")
WEEKDAYS = ["月", "火", "水", "木", "金", "土", "日"]

COLUMNS = {
    "facility": "施設",
    "fee_item": "料金項目",
    "month": "月",
    "sales_yen": "売上（円）",
    "cash_yen": "現金（円）",
    "cashless_yen": "キャッシュレス（円）",
    "ratio_by_amount": "キャッシュレス比率・金額(%)",
    "transactions": "取引件数",
    "cashless_transactions": "キャッシュレス件数",
    "ratio_by_count": "キャッシュレス比率・件数(%)",
    "source": "出典",
}
SOURCE_LABELS = {"pos": "POS 取引", "totals": "施設別年計", "cashless_only": "独自集計（キャッシュレスのみ）",
                 "payments": "てのひらの収納"}
#: Where online payments (no counter, no facility) are counted.
ONLINE_FACILITY = "オンライン"
#: A counter payment recorded without a facility.
UNKNOWN_COUNTER = "窓口（施設の記録なし）"


def _bounds(period_start: dt.date, period_end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, instant after the last day) in Japan time."""
    return (
        dt.datetime.combine(period_start, dt.time.min, tzinfo=JST),
        dt.datetime.combine(period_end + dt.timedelta(days=1), dt.time.min, tzinfo=JST),
    )


def _figures(sales: int, cashless: int, count: int | None = None, cashless_count: int | None = None,
             cash: int | None = None) -> dict:
    return {
        "sales_yen": sales,
        "cash_yen": sales - cashless if cash is None else cash,
        "cashless_yen": cashless,
        "ratio_by_amount": pct(cashless, sales),
        "transactions": count,
        "cashless_transactions": cashless_count,
        "ratio_by_count": pct(cashless_count, count) if count is not None else None,
    }


_AGGREGATES = {
    "sales": Sum("amount"),
    "cashless_amount": Sum("amount", filter=Q(cashless=True)),
    "count": Count("id"),
    "cashless_count": Count("id", filter=Q(cashless=True)),
}


def _grouped(queryset, *fields) -> list[dict]:
    return list(queryset.values(*fields).annotate(**_AGGREGATES).order_by(*fields))


def _pos_figures(row: dict) -> dict:
    return _figures(row["sales"] or 0, row["cashless_amount"] or 0, row["count"], row["cashless_count"])


def _tenohira_payments(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Payments received through Tenohira in [start, end), grouped as the POS facts are
    (facility, fee item, method, cashless, month) with their count and amount."""
    rows = (
        Payment.objects.filter(state__in=MONEY_RECEIVED, captured_at__gte=start, captured_at__lt=end)
        .annotate(year=ExtractYear("captured_at", tzinfo=JST), month=ExtractMonth("captured_at", tzinfo=JST))
        .values("provider", "method", "facility", "assessment__fee_item__name", "year", "month")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by()
    )
    grouped = []
    for row in rows:
        counter = payment_methods.is_counter(row["provider"])
        grouped.append({
            "facility": (row["facility"] or UNKNOWN_COUNTER) if counter else ONLINE_FACILITY,
            "fee_item": row["assessment__fee_item__name"],
            "method": payment_methods.method_label(row["provider"], row["method"]),
            "cashless": payment_methods.cashless(row["provider"], row["method"]),
            "year": row["year"], "month": row["month"], "count": row["count"], "amount": row["amount"] or 0,
        })
    return grouped


def _sum_payments(rows: list[dict], *keys: str) -> dict[tuple, dict]:
    """The rows added up by `keys`, in the shape `_grouped` gives POS rows."""
    sums: dict[tuple, dict] = {}
    for row in rows:
        entry = sums.setdefault(tuple(row[k] for k in keys),
                                {"sales": 0, "cashless_amount": 0, "count": 0, "cashless_count": 0})
        entry["sales"] += row["amount"]
        entry["count"] += row["count"]
        if row["cashless"]:
            entry["cashless_amount"] += row["amount"]
            entry["cashless_count"] += row["count"]
    return sums


def _add(into: dict | None, more: dict) -> dict:
    if into is None:
        return dict(more)
    return {key: (into.get(key) or 0) + more[key] for key in ("sales", "cashless_amount", "count", "cashless_count")}


def _calendar_year(period_start: dt.date, period_end: dt.date) -> int | None:
    if (period_start.month, period_start.day, period_end.month, period_end.day) == (1, 1, 12, 31) and (
        period_start.year == period_end.year
    ):
        return period_start.year
    return None


def _months(period_start: dt.date, period_end: dt.date) -> list[tuple[int, int]]:
    months, year, month = [], period_start.year, period_start.month
    while (year, month) <= (period_end.year, period_end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def section(period_start: dt.date, period_end: dt.date) -> dict:
    start, end = _bounds(period_start, period_end)
    payments = PosTransaction.objects.filter(at__gte=start, at__lt=end)
    notes: list[str] = []
    flags: list[dict] = []

    by_facility = {row["facility"]: row for row in _grouped(payments, "facility")}
    year = _calendar_year(period_start, period_end)
    stored = list(FacilityCashless.objects.filter(year=year)) if year else []
    totals = {t.facility: t for t in stored if not t.cashless_only}
    own_tallies = [t for t in stored if t.cashless_only]
    other_years = sorted(set(FacilityCashless.objects.exclude(year=year).values_list("year", flat=True)))
    if not year and other_years:
        notes.append(
            "施設別の年計（" + "、".join(f"{y}年" for y in other_years) + "）は暦年の報告（例: --year "
            f"{other_years[-1]}）でのみ使います。"
        )

    facilities = []
    for name, row in by_facility.items():
        entry = {"facility": name, "source": "pos", "source_label": SOURCE_LABELS["pos"], **_pos_figures(row),
                 "published": None, "flags": []}
        total = totals.get(name)
        if total is not None:
            # Both exist: the transactions are the facts; the yearly total is checked against them.
            entry["published"] = _published(total)
            if (total.sales, total.cashless) != (entry["sales_yen"], entry["cashless_yen"]):
                entry["flags"].append("pos_vs_totals")
                flags.append({
                    "facility": name, "year": year, "measure": "pos_vs_totals", "label": "POS 取引と年計",
                    "published": {"sales_yen": total.sales, "cashless_yen": total.cashless},
                    "computed": {"sales_yen": entry["sales_yen"], "cashless_yen": entry["cashless_yen"]},
                    "message": (
                        f"{name}の{year}年の年計（売上 {total.sales:,} 円、キャッシュレス {total.cashless:,} 円）は"
                        f"POS 取引の合計（売上 {entry['sales_yen']:,} 円、キャッシュレス {entry['cashless_yen']:,} 円）"
                        "と一致しません。"
                    ),
                })
            _check_published_ratio(entry, total, year, flags, numerator=entry["cashless_yen"],
                                   denominator=entry["sales_yen"])
        facilities.append(entry)
    for name, total in totals.items():
        if name in by_facility:
            continue
        entry = {"facility": name, "source": "totals", "source_label": SOURCE_LABELS["totals"],
                 **_figures(total.sales, total.cashless, cash=total.cash),
                 "published": _published(total), "flags": []}
        if total.sales != total.cash + total.cashless:
            entry["flags"].append("breakdown")
            difference = total.sales - total.cash - total.cashless
            flags.append({
                "facility": name, "year": year, "measure": "breakdown", "label": "売上の内訳",
                "published": {"sales_yen": total.sales, "cash_yen": total.cash, "cashless_yen": total.cashless},
                "computed": {"cash_plus_cashless_yen": total.cash + total.cashless, "difference_yen": difference},
                "message": (
                    f"{name}の売上 {total.sales:,} 円は現金 {total.cash:,} 円とキャッシュレス {total.cashless:,} 円の"
                    f"合計 {total.cash + total.cashless:,} 円と一致しません（差 {difference:,} 円）。"
                    "比率は売上を分母に計算しています。"
                ),
            })
        _check_published_ratio(entry, total, year, flags, numerator=total.cashless, denominator=total.sales)
        facilities.append(entry)
    imported = set(by_facility) | set(totals) | {t.facility for t in own_tallies}
    received = _tenohira_payments(start, end)
    added = [row for row in received if row["facility"] not in imported]
    left = [row for row in received if row["facility"] in imported]
    for (name,), row in sorted(_sum_payments(added, "facility").items()):
        facilities.append({"facility": name, "source": "payments", "source_label": SOURCE_LABELS["payments"],
                           **_pos_figures(row), "published": None, "flags": []})
    counted = len(by_facility) + len({row["facility"] for row in added})
    facilities.sort(key=lambda f: (f["ratio_by_amount"] is None, -(f["ratio_by_amount"] or 0), -f["sales_yen"],
                                   f["facility"]))

    sales = sum(f["sales_yen"] for f in facilities)
    cashless = sum(f["cashless_yen"] for f in facilities)
    count = sum(f["transactions"] or 0 for f in facilities)
    cashless_count = sum(f["cashless_transactions"] or 0 for f in facilities)
    from_totals = [f for f in facilities if f["source"] == "totals"]
    total = {
        "sales_yen": sales,
        "cash_yen": sum(f["cash_yen"] for f in facilities),
        "cashless_yen": cashless,
        "ratio_by_amount": round2(exact_pct(cashless, sales)),
        "transactions": count if counted else None,
        "cashless_transactions": cashless_count if counted else None,
        "ratio_by_count": pct(cashless_count, count) if counted else None,
        "facilities": len(facilities),
    }
    if from_totals and counted:
        notes.append(
            f"件数の比率は POS 取引{'またはてのひらの収納' if added else ''}のある {counted} 施設のみの値です"
            f"（{len(from_totals)} 施設は年計の金額のみ）。"
        )
    if from_totals:
        notes.append(f"{len(from_totals)} 施設の金額は{year}年の施設別年計によります（件数はありません）。")
    cashless_only = _cashless_only(own_tallies, by_facility, year, flags)
    if cashless_only["facilities"]:
        notes.append(
            f"キャッシュレスのみの集計（独自集計）: {cashless_only['count']}施設 ¥{cashless_only['cashless_yen']:,}"
            "（現金の額が分からないため、キャッシュレス比率の分母にも分子にも含めていません）。"
        )

    by_fee_item = {row["fee_item"]: row for row in _grouped(payments, "fee_item")}
    for (name,), row in _sum_payments(added, "fee_item").items():
        by_fee_item[name] = _add(by_fee_item.get(name), row)
    fee_items = [{"fee_item": name, **_pos_figures(row)} for name, row in by_fee_item.items()]
    fee_items.sort(key=lambda f: (-f["sales_yen"], f["fee_item"]))

    by_method = {
        (row["method"], row["cashless"]): {"count": row["count"], "amount": row["amount"] or 0}
        for row in payments.values("method", "cashless").annotate(count=Count("id"), amount=Sum("amount"))
    }
    for row in added:
        entry = by_method.setdefault((row["method"], row["cashless"]), {"count": 0, "amount": 0})
        entry["count"] += row["count"]
        entry["amount"] += row["amount"]
    methods = [
        {"method": method, "cashless": is_cashless, "transactions": row["count"], "amount_yen": row["amount"]}
        for (method, is_cashless), row in by_method.items()
    ]
    methods.sort(key=lambda m: (-m["transactions"], m["method"]))

    months = []
    if counted:
        monthly = {
            (row["year"], row["month"]): row
            for row in _grouped(payments.annotate(year=ExtractYear("at", tzinfo=JST),
                                                  month=ExtractMonth("at", tzinfo=JST)), "year", "month")
        }
        for key, row in _sum_payments(added, "year", "month").items():
            monthly[key] = _add(monthly.get(key), row)
        empty = {"sales": 0, "cashless_amount": 0, "count": 0, "cashless_count": 0}
        for year_month in _months(period_start, period_end):
            months.append({"month": f"{year_month[0]}-{year_month[1]:02d}",
                           "label": f"{year_month[0]}年{year_month[1]}月",
                           **_pos_figures(monthly.get(year_month, empty))})

    return {
        "period": {"from": period_start.isoformat(), "to": period_end.isoformat()},
        "calendar_year": year,
        "sources": {
            "pos_transactions": count,
            "facilities_from_pos": len(by_facility),
            "facilities_from_totals": len(from_totals),
            "facilities_cashless_only": cashless_only["count"],
            "totals_year": year if from_totals or totals or own_tallies else None,
        },
        "columns": COLUMNS,
        "national_target": NATIONAL_TARGET_PCT,
        "total": total,
        "facilities": facilities,
        "cashless_only": cashless_only,
        # Tenohira's own payments: what was added (online and facilities without imported
        # data) and what was left to a facility's imported data (never counted twice).
        "payments": {
            "transactions": sum(row["count"] for row in added),
            "amount_yen": sum(row["amount"] for row in added),
            "facilities": sorted({row["facility"] for row in added}),
            "left_to_imported": {"transactions": sum(row["count"] for row in left),
                                 "amount_yen": sum(row["amount"] for row in left),
                                 "facilities": sorted({row["facility"] for row in left})},
        },
        "fee_items": fee_items,
        "months": months,
        "methods": methods,
        "congestion": congestion(payments) if by_facility else _empty_congestion(),
        "flags": flags,
        "notes": notes,
    }


def _cashless_only(tallies: list[FacilityCashless], by_facility: dict, year: int | None,
                   flags: list[dict]) -> dict:
    """The 独自集計 rows: counted apart from the ratio. A facility that also has POS
    transactions in the period is counted from those (the ratio has it); its tally is only
    checked against their cashless amount."""
    facilities = []
    for tally in sorted(tallies, key=lambda t: (-t.cashless, t.facility)):
        row = by_facility.get(tally.facility)
        if row is not None:
            pos_cashless = row["cashless_amount"] or 0
            if pos_cashless != tally.cashless:
                flags.append({
                    "facility": tally.facility, "year": year, "measure": "pos_vs_totals", "label": "POS 取引と独自集計",
                    "published": {"cashless_yen": tally.cashless}, "computed": {"cashless_yen": pos_cashless},
                    "message": (
                        f"{tally.facility}の{year}年の独自集計（キャッシュレス {tally.cashless:,} 円）は POS 取引の"
                        f"キャッシュレス {pos_cashless:,} 円と一致しません。"
                    ),
                })
            continue
        facilities.append({
            "facility": tally.facility, "source": "cashless_only", "source_label": SOURCE_LABELS["cashless_only"],
            "cashless_yen": tally.cashless, "sales_yen": tally.sales,
        })
    return {
        "count": len(facilities),
        "cashless_yen": sum(f["cashless_yen"] for f in facilities),
        "facilities": facilities,
    }


def _published(total: FacilityCashless) -> dict:
    return {"ratio_by_amount": total.published_ratio, "sales_yen": total.sales, "cash_yen": total.cash,
            "cashless_yen": total.cashless}


def _check_published_ratio(entry: dict, total: FacilityCashless, year: int, flags: list[dict], *,
                           numerator: int, denominator: int) -> None:
    """Flag a published ratio that its own amounts do not give at its own precision."""
    if total.published_ratio is None:
        return
    computed = published_precision_ratio(numerator, denominator, total.published_ratio)
    if computed == total.published_ratio:
        return
    entry["flags"].append("ratio_by_amount")
    shown = "—" if computed is None else f"{computed}%"
    flags.append({
        "facility": entry["facility"], "year": year, "measure": "ratio_by_amount",
        "label": "キャッシュレス比率（金額）", "published": total.published_ratio, "computed": computed,
        "numerator": numerator, "denominator": denominator,
        "message": (
            f"{entry['facility']}のキャッシュレス比率は公表値 {total.published_ratio}% ですが、金額から計算すると"
            f" {shown}（{numerator:,}/{denominator:,}）です。"
        ),
    })


def _empty_congestion() -> dict:
    return {
        "by_hour": [{"hour": hour, "transactions": 0} for hour in range(24)],
        "by_weekday": [{"weekday": i + 1, "label": label, "transactions": 0, "days": 0, "per_day": None}
                       for i, label in enumerate(WEEKDAYS)],
        "weekday_hour": [[0] * 24 for _ in WEEKDAYS],
    }


def congestion(payments) -> dict:
    """Payments by JST hour of day and by weekday (Monday = 1), and the weekday × hour
    matrix: when the counters are busiest. `per_day` is the average over the days of that
    weekday on which the counters took at least one payment."""
    result = _empty_congestion()
    rows = payments.annotate(hour=ExtractHour("at", tzinfo=JST), weekday=ExtractIsoWeekDay("at", tzinfo=JST)).values(
        "hour", "weekday").annotate(count=Count("id")).order_by()
    for row in rows:
        result["weekday_hour"][row["weekday"] - 1][row["hour"]] += row["count"]
        result["by_hour"][row["hour"]]["transactions"] += row["count"]
        result["by_weekday"][row["weekday"] - 1]["transactions"] += row["count"]
    days = payments.annotate(day=TruncDate("at", tzinfo=JST)).values_list("day", flat=True).distinct().order_by()
    for day in days:
        result["by_weekday"][day.isoweekday() - 1]["days"] += 1
    for entry in result["by_weekday"]:
        if entry["days"]:
            entry["per_day"] = round1(Fraction(entry["transactions"], entry["days"]))
    return result
