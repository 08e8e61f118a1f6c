"""ペーパーレス: printouts per department, per staff and month, colour share and cost.

`section(period_start, period_end)` is the report's `paperless` key (documented in
docs/insights-cashless-paperless.md). Two kinds of facts, reported side by side:

* `PrinterUsage` (monthly, per department: colour and monochrome pages, staff) — pages,
  pages per staff per month, colour share and cost at the unit prices in the settings
  (PRINT_PRICE_MONO_YEN, PRINT_PRICE_COLOUR_YEN), compared with the same months a year
  earlier.
* `PrinterPeriodTotal` (sheets per department over a reporting period, like the city's
  FY2022 Oct–Mar / FY2023 Apr–Dec table) — totals per department and overall, and the
  comparison of the periods per month (they differ in length). These files have no staff
  counts and no colour split: pages per staff are computed only where monthly rows give
  the staff of every month of the period, and a published per-staff figure is otherwise
  only checked for being possible with some whole number of staff.

Rates (colour share) are rounded half-up to 0.1; pages per staff and month to 0.1; yen to
whole yen, half-up, once, from the exact sum.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.conf import settings

from tenohira.insights.models import PrinterPeriodTotal, PrinterUsage
from tenohira.insights.numbers import exact_pct, pct, points, round1

COLUMNS = {
    "department": "部局",
    "month": "月",
    "colour_pages": "カラー枚数",
    "mono_pages": "モノクロ枚数",
    "pages": "印刷枚数",
    "colour_share": "カラー比率(%)",
    "staff_months": "職員数×月数",
    "pages_per_staff_month": "1人1か月あたり枚数",
    "cost_yen": "印刷費用（円）",
    "sheets": "印刷枚数",
    "per_month": "1か月あたり枚数",
}


def unit_prices() -> tuple[Decimal, Decimal]:
    """(monochrome, colour) yen per page from the settings."""
    return Decimal(str(settings.PRINT_PRICE_MONO_YEN)), Decimal(str(settings.PRINT_PRICE_COLOUR_YEN))


def _yen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _month_range(period_start: dt.date, period_end: dt.date) -> list[dt.date]:
    months, month = [], period_start.replace(day=1)
    while month <= period_end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _per(numerator: int, denominator: int | None) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _usage_figures(rows: list[PrinterUsage], mono_price: Decimal, colour_price: Decimal) -> dict:
    colour = sum(r.colour_pages for r in rows)
    mono = sum(r.mono_pages for r in rows)
    staffed = [r for r in rows if r.staff]
    staff_months = sum(r.staff for r in staffed)
    staffed_pages = sum(r.colour_pages + r.mono_pages for r in staffed)
    return {
        "months": len({r.month for r in rows}),
        "colour_pages": colour,
        "mono_pages": mono,
        "pages": colour + mono,
        "colour_share": pct(colour, colour + mono),
        "staff_months": staff_months if staffed else None,
        "months_with_staff": len(staffed),
        "pages_per_staff_month": round1(_per(staffed_pages, staff_months)),
        "cost_yen": _yen(mono * mono_price + colour * colour_price),
        "_exact": {"colour_share": exact_pct(colour, colour + mono),
                   "per_staff": _per(staffed_pages, staff_months)},
    }


def _difference(current: dict | None, previous: dict | None) -> dict | None:
    if current is None or previous is None:
        return None
    return {
        "pages": current["pages"] - previous["pages"],
        "pages_pct": pct(current["pages"] - previous["pages"], previous["pages"]),
        "colour_share_points": points(current["_exact"]["colour_share"], previous["_exact"]["colour_share"]),
        "pages_per_staff_month": points(current["_exact"]["per_staff"], previous["_exact"]["per_staff"]),
        "cost_yen": current["cost_yen"] - previous["cost_yen"],
    }


def _public(figures: dict | None) -> dict | None:
    if figures is None:
        return None
    return {k: v for k, v in figures.items() if not k.startswith("_")}


def monthly(period_start: dt.date, period_end: dt.date, mono_price: Decimal, colour_price: Decimal) -> dict:
    months = _month_range(period_start, period_end)
    previous_start, previous_end = _year_before(period_start), _year_before(period_end)
    previous_months = _month_range(previous_start, previous_end)
    current = list(PrinterUsage.objects.filter(month__in=months).order_by("month", "id"))
    previous = list(PrinterUsage.objects.filter(month__in=previous_months).order_by("month", "id"))

    order: list[str] = []
    by_department: dict[str, list] = defaultdict(list)
    previous_by_department: dict[str, list] = defaultdict(list)
    for row in current:
        if row.department not in by_department:
            order.append(row.department)
        by_department[row.department].append(row)
    for row in previous:
        previous_by_department[row.department].append(row)
    order += sorted(set(previous_by_department) - set(by_department))

    departments = []
    for name in order:
        now = _usage_figures(by_department[name], mono_price, colour_price) if by_department[name] else None
        before = (_usage_figures(previous_by_department[name], mono_price, colour_price)
                  if previous_by_department[name] else None)
        departments.append({"department": name, "current": _public(now), "previous": _public(before),
                            "difference": _difference(now, before)})
    total_now = _usage_figures(current, mono_price, colour_price) if current else None
    total_before = _usage_figures(previous, mono_price, colour_price) if previous else None

    by_month = defaultdict(list)
    for row in current:
        by_month[row.month].append(row)
    trend = []
    if current:
        for month in months:
            figures = _public(_usage_figures(by_month[month], mono_price, colour_price))
            figures.pop("months")
            trend.append({"month": f"{month:%Y-%m}", "label": f"{month.year}年{month.month}月", **figures})
    return {
        "months_from": f"{months[0]:%Y-%m}" if months else None,
        "months_to": f"{months[-1]:%Y-%m}" if months else None,
        "previous_from": f"{previous_months[0]:%Y-%m}" if previous_months else None,
        "previous_to": f"{previous_months[-1]:%Y-%m}" if previous_months else None,
        "departments": departments,
        "total": {"current": _public(total_now), "previous": _public(total_before),
                  "difference": _difference(total_now, total_before)},
        "months": trend,
    }


def implied_staff(sheets: int, months: int, published: int) -> dict | None:
    """The whole numbers of staff n for which sheets ÷ (n × months), rounded half-up to a
    whole page, is the published figure: {"min", "max"} (max None = unbounded), or None
    when no number of staff gives it."""
    if sheets == 0:
        return {"min": 1, "max": None} if published == 0 else None
    low = math.floor(Fraction(2 * sheets, months * (2 * published + 1))) + 1
    if published == 0:
        return {"min": low, "max": None}
    high = math.floor(Fraction(2 * sheets, months * (2 * published - 1)))
    if low > high:
        return None
    return {"min": low, "max": high}


def _half_up_whole(value: Fraction) -> int:
    whole, remainder = divmod(value.numerator, value.denominator)
    return whole + (1 if 2 * remainder >= value.denominator else 0)


def period_totals(period_start: dt.date, period_end: dt.date) -> tuple[dict, list[dict], list[str]]:
    """The stored reporting periods that overlap the report period or the year before it,
    oldest first; the comparison is between the last two."""
    earliest = _year_before(period_start).replace(day=1)
    rows = list(PrinterPeriodTotal.objects.filter(start__lte=period_end, end__gte=earliest).order_by("id"))
    flags: list[dict] = []
    notes: list[str] = []
    periods = sorted({(r.period, r.start, r.end) for r in rows}, key=lambda p: (p[1], p[2], p[0]))
    period_info = []
    for name, start, end in periods:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        period_info.append({"period": name, "start": f"{start:%Y-%m}", "end": f"{end:%Y-%m}", "months": months,
                            "label": f"{start.year}年{start.month}月〜{end.year}年{end.month}月（{months}か月）"})
    if not rows:
        return {"periods": [], "departments": [], "total": None, "staff_known": False}, flags, notes

    # Staff of a department in each month, from the monthly rows (the only place staff is).
    staff = {
        (u.department, u.month): u.staff
        for u in PrinterUsage.objects.filter(department__in={r.department for r in rows}, staff__isnull=False)
    }
    order: list[str] = []
    by_key = {}
    for r in rows:
        if r.department not in order:
            order.append(r.department)
        by_key[(r.department, (r.period, r.start, r.end))] = r

    departments = []
    totals = [{"sheets": 0, "departments": 0, "staff_months": 0, "staff_complete": True} for _ in periods]
    staff_known_anywhere = False
    for name in order:
        cells = []
        for index, key in enumerate(periods):
            row = by_key.get((name, key))
            if row is None:
                cells.append(None)
                totals[index]["staff_complete"] = False
                continue
            months = period_info[index]["months"]
            month_list = _month_range(row.start, row.end)
            known = [staff[(name, m)] for m in month_list if (name, m) in staff]
            staff_months = sum(known) if len(known) == len(month_list) else None
            staff_known_anywhere |= staff_months is not None
            cell = {
                "period": row.period,
                "sheets": row.sheets,
                "per_month": round1(Fraction(row.sheets, months)),
                "staff_months": staff_months,
                "pages_per_staff_month": round1(_per(row.sheets, staff_months)),
                "published": ({"pages_per_staff_month": row.published_per_staff_month}
                              if row.published_per_staff_month is not None else None),
                "implied_staff": None,
                "flags": [],
            }
            totals[index]["sheets"] += row.sheets
            totals[index]["departments"] += 1
            if staff_months is None:
                totals[index]["staff_complete"] = False
            else:
                totals[index]["staff_months"] += staff_months
            published = row.published_per_staff_month
            if published is not None:
                _check_published(name, row, months, staff_months, published, cell, flags)
            cells.append(cell)
        departments.append({"department": name, "periods": cells, "change": _change(cells[-2:], period_info[-2:])})

    total_cells = []
    for index, info in enumerate(period_info):
        t = totals[index]
        total_cells.append({
            "period": info["period"],
            "sheets": t["sheets"],
            "departments": t["departments"],
            "per_month": round1(Fraction(t["sheets"], info["months"])),
            "staff_months": t["staff_months"] if t["staff_complete"] else None,
            "pages_per_staff_month": round1(_per(t["sheets"], t["staff_months"])) if t["staff_complete"] else None,
        })
    if not staff_known_anywhere:
        notes.append(
            "期間計のファイルには職員数がないため、1人1か月あたりの枚数は計算できません。公表値は、"
            "整数の職員数で割って（四捨五入で）その値になり得るかだけを確かめ、なり得る職員数を示します。"
        )
    if len({info["months"] for info in period_info}) > 1:
        notes.append("期間の長さが異なるため、期間の比較は1か月あたりの枚数で行います。")
    notes.append("期間計には白黒・カラーの内訳がないため、カラー比率と費用は月別のデータからのみ計算します。")
    block = {
        "periods": period_info,
        "departments": departments,
        "total": {"periods": total_cells, "change": _change(total_cells[-2:], period_info[-2:])},
        "staff_known": staff_known_anywhere,
    }
    return block, flags, notes


def _check_published(name: str, row: PrinterPeriodTotal, months: int, staff_months: int | None,
                     published: int, cell: dict, flags: list[dict]) -> None:
    if staff_months is not None:
        computed = _half_up_whole(Fraction(row.sheets, staff_months))
        if computed == published:
            return
        cell["flags"].append("pages_per_staff_month")
        flags.append({
            "department": name, "period": row.period, "measure": "pages_per_staff_month",
            "label": "1人1か月あたり枚数", "published": published, "computed": computed,
            "numerator": row.sheets, "denominator": staff_months,
            "message": (f"{name}の{row.period}の1人1か月あたり枚数は公表値 {published:,} 枚ですが、"
                        f"枚数と職員数から計算すると {computed:,} 枚（{row.sheets:,}/{staff_months:,}）です。"),
        })
        return
    cell["implied_staff"] = implied_staff(row.sheets, months, published)
    if cell["implied_staff"] is None:
        cell["flags"].append("pages_per_staff_month")
        flags.append({
            "department": name, "period": row.period, "measure": "pages_per_staff_month",
            "label": "1人1か月あたり枚数", "published": published, "computed": None,
            "numerator": row.sheets, "denominator": None,
            "message": (f"{name}の{row.period}の1人1か月あたり枚数の公表値 {published:,} 枚は、"
                        f"{row.sheets:,} 枚を{months}か月と整数の職員数で割ったどの値とも一致しません。"),
        })


def _change(cells: list[dict | None], infos: list[dict]) -> dict | None:
    """Last period against the one before: sheets, and sheets per month (the periods may
    differ in length, so only the per-month change is a like-for-like comparison)."""
    if len(cells) < 2 or cells[0] is None or cells[1] is None:
        return None
    before, after = cells
    per_before = Fraction(before["sheets"], infos[0]["months"])
    per_after = Fraction(after["sheets"], infos[1]["months"])
    change = {
        "from": before["period"],
        "to": after["period"],
        "sheets": after["sheets"] - before["sheets"],
        "per_month": round1(per_after - per_before),
        "per_month_pct": round1((per_after - per_before) * 100 / per_before) if per_before else None,
        "pages_per_staff_month": None,
    }
    if before["staff_months"] and after["staff_months"]:
        change["pages_per_staff_month"] = points(Fraction(after["sheets"], after["staff_months"]),
                                                 Fraction(before["sheets"], before["staff_months"]))
    return change


def section(period_start: dt.date, period_end: dt.date, *, mono_price: Decimal | None = None,
            colour_price: Decimal | None = None) -> dict:
    default_mono, default_colour = unit_prices()
    mono_price = default_mono if mono_price is None else Decimal(str(mono_price))
    colour_price = default_colour if colour_price is None else Decimal(str(colour_price))
    totals, flags, notes = period_totals(period_start, period_end)
    return {
        "period": {"from": period_start.isoformat(), "to": period_end.isoformat()},
        "unit_prices": {"mono_yen": mono_price, "colour_yen": colour_price},
        "columns": COLUMNS,
        "monthly": monthly(period_start, period_end, mono_price, colour_price),
        "period_totals": totals,
        "flags": flags,
        "notes": notes,
    }
