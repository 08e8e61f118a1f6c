"""業務削減時間: importing the hours-saved ledger (`tenohira insights import-savings FILE --fy 2023`).

Columns (English or Japanese, any order), like tests/insights/data/time_savings_fy2023.csv:
部局 (department), 種類 (kind: rpa / other, RPA / その他), 取組 (measure), 計算式 (formula, e.g.
5分×64か所×250日), 削減時間 (hours a year), optionally 年度 (else `--fy`).

A row needs hours or a formula that can be computed: with only a formula, the hours are
its product ÷ 60 (half-up to 0.1); with both, the stated hours are stored and the report
flags a formula that disagrees by more than 0.5 h. All-or-nothing, every error by row and
column; importing again updates the measures in place (same year, department, kind and
measure), so it changes nothing the second time. Measures are edited or removed in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.tabular import TableError, read_table
from tenohira.core.text import fold_width, normalize
from tenohira.insights.imports import _cells
from tenohira.insights.imports.inventory import _columns, parse_fiscal_year
from tenohira.insights.kpi_savings import formula_hours
from tenohira.insights.models import SavingMeasure
from tenohira.insights.numbers import round1

_HEADERS = {
    "department": ["department", "部局", "部局名"],
    "kind": ["kind", "種類", "区分"],
    "measure": ["measure", "取組", "取組名", "取り組み"],
    "formula": ["formula", "計算式", "算定式"],
    "hours": ["hours", "削減時間", "削減時間（時間/年）", "時間"],
    "fiscal_year": ["fiscal_year", "年度"],
}
_LABELS = {"department": "部局", "kind": "種類", "measure": "取組", "formula": "計算式", "hours": "削減時間", "fiscal_year": "年度"}
_REQUIRED = ["department", "kind", "measure"]

_KINDS = {
    **{normalize(v): SavingMeasure.Kind.RPA for v in ("rpa", "ＲＰＡ")},
    **{normalize(v): SavingMeasure.Kind.OTHER for v in ("other", "その他", "そのほか")},
}


@dataclass
class ImportResult(_cells.ImportCounts):
    computed: int = 0
    fiscal_years: list[int] = field(default_factory=list)

    def summary(self) -> str:
        years = "・".join(f"{y}年度" for y in self.fiscal_years)
        return f"業務削減の取組（{years}）: {self.counts()}（計算式から時間を算出 {self.computed} 件）"


def _hours(text: str) -> Decimal | None:
    value = fold_width(text).replace(",", "").removesuffix("時間").strip()
    if value == "":
        return None
    try:
        hours = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not hours.is_finite() or hours < 0 or hours != hours.quantize(Decimal("0.1")) or hours >= 10**11:
        raise ValueError(text)
    return hours.quantize(Decimal("0.1"))


def import_file(path: str | Path, *, fiscal_year: int | None = None) -> ImportResult:
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    errors: list[RowError] = []
    columns = _columns(table, _HEADERS, errors)
    for key in _REQUIRED:
        if key not in columns:
            errors.append(RowError(1, _LABELS[key], "必須の列がありません。"))
    if "formula" not in columns and "hours" not in columns:
        errors.append(RowError(1, _LABELS["hours"], "削減時間か計算式の列が必要です。"))
    if fiscal_year is None and "fiscal_year" not in columns:
        errors.append(RowError(0, "", "年度の列（年度）がないときは年度の指定（--fy 2023 など）が必要です。"))
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])

    rows = []
    seen: dict[tuple, int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(key: str, message: str, number=number) -> None:
            errors.append(RowError(number, columns.get(key, ""), message))

        if row.get("__extra__"):
            errors.append(RowError(number, "", "見出しのない列に値があります。列がずれていないか確認してください。"))
        values = {key: _cells.text(row, columns.get(key)) for key in _HEADERS}
        for key, limit in (("department", 100), ("measure", 300), ("formula", 200)):
            if not values[key] and key != "formula":
                error(key, "必須です。")
            elif len(values[key]) > limit:
                error(key, f"{limit}文字以内にしてください（{len(values[key])}文字）。")
        kind = _KINDS.get(normalize(values["kind"]))
        if kind is None:
            error("kind", "必須です（rpa / other）。" if not values["kind"] else f"「{values['kind']}」は使えません。rpa（RPA）か other（その他）です。")
        hours = None
        try:
            hours = _hours(values["hours"])
        except ValueError:
            error("hours", f"「{values['hours']}」は時間（0以上、小数第1位まで）ではありません。")
        computed = formula_hours(values["formula"])
        if hours is None and not values["hours"]:
            if computed is None:
                if values["formula"]:
                    error("formula", f"「{values['formula']}」から時間を計算できません（例: 5分×64か所×250日）。削減時間を入れてください。")
                else:
                    error("hours", "削減時間か計算式のどちらかが必要です。")
            else:
                hours = round1(computed)
        year = fiscal_year
        if values["fiscal_year"]:
            try:
                year = parse_fiscal_year(values["fiscal_year"])
            except ValueError:
                error("fiscal_year", f"「{values['fiscal_year']}」は年度（2023、令和5年度 など）ではありません。")
            else:
                if fiscal_year is not None and year != fiscal_year:
                    error("fiscal_year", f"{year}年度ですが、{fiscal_year}年度として取り込むよう指定されています。")
        if len(errors) > before:
            continue
        key = (year, values["department"], kind, values["measure"])
        if key in seen:
            error("measure", f"{seen[key]}行目と同じ年度・部局・種類・取組です。")
            continue
        seen[key] = number
        rows.append((key, values["formula"], hours, not values["hours"]))
    if errors:
        raise ImportRejected(errors)

    result = ImportResult(source_format=table.source_format)
    result.fiscal_years = sorted({key[0] for key, *_ in rows})
    with transaction.atomic():
        existing = {
            (m.fiscal_year, m.department, m.kind, m.measure): m
            for m in SavingMeasure.objects.select_for_update().filter(fiscal_year__in=result.fiscal_years).order_by("id")
        }
        for key, formula, hours, from_formula in rows:
            result.computed += int(from_formula)
            stored = existing.get(key)
            if stored is None:
                year, department, kind, measure = key
                SavingMeasure.objects.create(
                    fiscal_year=year, department=department, kind=kind, measure=measure, formula=formula, hours=hours
                )
                result.created += 1
            elif stored.formula == formula and stored.hours == hours:
                result.unchanged += 1
            else:
                stored.formula = formula
                stored.hours = hours
                stored.save()
                result.updated += 1
    return result
