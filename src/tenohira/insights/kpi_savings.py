"""業務削減時間: the hours-saved ledger, by department (RPA / other) and overall.

Each measure states its hours a year and, usually, the formula they come from: minutes ×
cases (× places × days), e.g. 5分×64か所×250日, 60分×50回, 2人×7.75時間×5日,
9時間36分×245日, or a sum of such products (1200時間＋1300時間). The stored hours are the
figure; the formula is checked against them, and a measure whose formula gives hours that
differ by more than 0.5 h is flagged. Totals are sums of the stored hours.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from tenohira.core.text import fold_width
from tenohira.insights.models import SavingMeasure
from tenohira.insights.numbers import round1

FLAG_TOLERANCE_HOURS = Fraction(1, 2)

_TIMES = re.compile(r"[×xX*＊✕]")
_PLUS = re.compile(r"[+＋]")
_NUMBER = r"\d+(?:\.\d+)?"
# A time factor, with an optional label before it: 5分, 7.75時間, 9時間36分, 選考1300時間.
_TIME = re.compile(rf"^\D*?(?:(?P<hours>{_NUMBER})時間(?:(?P<extra>{_NUMBER})分)?|(?P<minutes>{_NUMBER})分)$")
# A count factor: 64か所, 250日, 2往復, 1166件, 50回 (a number and a unit without digits).
_COUNT = re.compile(rf"^\D*?(?P<count>{_NUMBER})\D*$")


def formula_minutes(formula: str) -> Fraction | None:
    """The formula's product in minutes, or None when it is not a product of one duration
    and counts (「別途積算」, 「2020年と2022年の比較」)."""
    text = fold_width(formula or "").replace(",", "").replace(" ", "")
    if not text:
        return None
    total = Fraction(0)
    for summand in _PLUS.split(text):
        factors = [factor for factor in _TIMES.split(summand)]
        if not factors or any(not factor for factor in factors):
            return None
        duration = None
        product = Fraction(1)
        for factor in factors:
            time = _TIME.match(factor)
            if time:
                if duration is not None:
                    return None  # two durations multiplied: not a time saving
                if time.group("minutes"):
                    duration = Fraction(time.group("minutes"))
                else:
                    duration = Fraction(time.group("hours")) * 60 + Fraction(time.group("extra") or 0)
                continue
            count = _COUNT.match(factor)
            if not count:
                return None
            product *= Fraction(count.group("count"))
        if duration is None:
            return None
        total += duration * product
    return total


def formula_hours(formula: str) -> Fraction | None:
    minutes = formula_minutes(formula)
    return None if minutes is None else minutes / 60


def _hours(value: Decimal | Fraction | None) -> float | None:
    if value is None:
        return None
    return float(round1(value))


def check(measure: SavingMeasure) -> tuple[Fraction | None, bool]:
    """(hours the formula gives, whether they contradict the stated hours)."""
    computed = formula_hours(measure.formula)
    if computed is None:
        return None, False
    return computed, abs(computed - Fraction(measure.hours)) > FLAG_TOLERANCE_HOURS


def section(fiscal_year: int) -> dict:
    """The `savings` section of the report (docs/insights-report.md)."""
    by_department: dict[str, dict] = {}
    measures = []
    flags = []
    total = {"rpa": Decimal(0), "other": Decimal(0), "count": 0}
    for measure in SavingMeasure.objects.filter(fiscal_year=fiscal_year).order_by("id"):
        computed, flagged = check(measure)
        entry = by_department.setdefault(measure.department, {"rpa": Decimal(0), "other": Decimal(0), "count": 0})
        kind = "rpa" if measure.kind == SavingMeasure.Kind.RPA else "other"
        entry[kind] += measure.hours
        entry["count"] += 1
        total[kind] += measure.hours
        total["count"] += 1
        measures.append({
            "id": measure.pk,
            "department": measure.department,
            "kind": measure.kind,
            "kind_label": str(measure.get_kind_display()),
            "measure": measure.measure,
            "formula": measure.formula,
            "hours": _hours(measure.hours),
            "formula_hours": _hours(computed),
            "flagged": flagged,
        })
        if flagged:
            gap = computed - Fraction(measure.hours)
            flags.append({
                "id": measure.pk,
                "department": measure.department,
                "measure": measure.measure,
                "formula": measure.formula,
                "hours": _hours(measure.hours),
                "formula_hours": _hours(computed),
                "difference": _hours(gap),
                "message": (
                    f"{measure.department}「{measure.measure}」: 計算式 {measure.formula} は "
                    f"{round1(computed)} 時間ですが、削減時間は {measure.hours} 時間です。"
                ),
            })

    def totals(entry: dict) -> dict:
        return {
            "rpa_hours": _hours(entry["rpa"]),
            "other_hours": _hours(entry["other"]),
            "total_hours": _hours(entry["rpa"] + entry["other"]),
            "measures": entry["count"],
        }

    return {
        "fiscal_year": fiscal_year,
        "departments": [{"department": name, **totals(entry)} for name, entry in by_department.items()],
        "total": totals(total),
        "measures": measures,
        "flags": flags,
    }
