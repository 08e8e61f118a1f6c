"""The report JSON (docs/insights-report.md) laid out as sections of tables with charts.

Every output — HTML, dashboards, PDF, XLSX — draws from this one layout, so a table
printed on paper has the same columns, order and figures as on screen, and every chart
sits next to the table that holds its numbers.

Sections whose shape this module knows (online, next, savings, after_hours, cashless,
paperless) get purpose-made tables and charts. Anything else the JSON carries — a key
added by a later schema version — is still shown: every list of objects found in it
becomes a table with its keys as headings (`generic_tables`), so no figure of the report
is ever silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenohira.insights import charts
from tenohira.insights.render import formatting as f

#: Section keys in the order headquarters read them.
SECTION_ORDER = ("online", "next", "plan", "after_hours", "savings", "cashless", "paperless")
SECTION_TITLES = {
    "online": "オンライン化の状況（カウンターレス）",
    "next": "次にオンライン化する手続き",
    "plan": "オンライン化の計画と実績",
    "after_hours": "開庁時間外の申請",
    "savings": "業務削減時間",
    "cashless": "キャッシュレス",
    "paperless": "ペーパーレス",
}
TOTAL_LABEL = "合計"


@dataclass
class Column:
    key: str
    label: str
    kind: str = f.TEXT
    group: str = ""  # a heading over several columns (e.g. 「手続数」 over 令和5年度 | 増減)

    @property
    def numeric(self) -> bool:
        return self.kind in f.NUMERIC_KINDS

    @property
    def full_label(self) -> str:
        """The heading in one line (XLSX, CSV): 「手続数 増減」."""
        return f"{self.group} {self.label}" if self.group else self.label


@dataclass
class Table:
    key: str
    title: str
    sheet: str  # XLSX sheet name: ≤ 31 characters, unique in the report
    columns: list[Column]
    rows: list[list]
    total: list | None = None
    figures: list[charts.Chart] = field(default_factory=list)  # charts drawn from this table
    notes: list[str] = field(default_factory=list)
    #: KPI tables go to the open-data CSV: one row per (first column's subject, numeric
    #: column). `subject_kind` names what the first column holds (部局, 施設, 月, ...);
    #: `period` overrides the report's period (the previous survey's figures).
    open_data: bool = False
    subject_kind: str = ""
    period: dict | None = None

    def prune(self) -> bool:
        """Drop numeric columns without a single value (e.g. counts when only yearly
        amounts were imported); False when no figure at all is left to show."""
        rows = self.rows + ([self.total] if self.total is not None else [])
        had_numbers = any(c.numeric for c in self.columns)
        keep = [i for i, c in enumerate(self.columns) if not c.numeric or any(r[i] is not None for r in rows)]
        if len(keep) != len(self.columns):
            self.columns = [self.columns[i] for i in keep]
            self.rows = [[r[i] for i in keep] for r in self.rows]
            if self.total is not None:
                self.total = [self.total[i] for i in keep]
        return bool(self.rows) and (not had_numbers or any(c.numeric for c in self.columns))

    @property
    def grouped(self) -> bool:
        return any(c.group for c in self.columns)

    def formatted_rows(self) -> list[list[str]]:
        return [[f.cell(v, c.kind) for v, c in zip(row, self.columns, strict=True)] for row in self.rows]

    def formatted_total(self) -> list[str] | None:
        if self.total is None:
            return None
        return [f.cell(v, c.kind) for v, c in zip(self.total, self.columns, strict=True)]

    def header_rows(self) -> list[list[dict]]:
        """One or two heading rows as cells {"text", "colspan", "rowspan", "numeric"}."""
        if not self.grouped:
            return [[{"text": c.label, "colspan": 1, "rowspan": 1, "numeric": c.numeric} for c in self.columns]]
        top: list[dict] = []
        bottom: list[dict] = []
        for column in self.columns:
            if not column.group:
                top.append({"text": column.label, "colspan": 1, "rowspan": 2, "numeric": column.numeric})
            elif top and top[-1].get("group") == column.group:
                top[-1]["colspan"] += 1
                bottom.append({"text": column.label, "colspan": 1, "rowspan": 1, "numeric": column.numeric})
            else:
                top.append({"text": column.group, "colspan": 1, "rowspan": 1, "numeric": False,
                            "group": column.group})
                bottom.append({"text": column.label, "colspan": 1, "rowspan": 1, "numeric": column.numeric})
        return [top, bottom]


@dataclass
class Headline:
    label: str
    value: str
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Layout:
    title: str
    municipality: str
    period_label: str
    generated_at: str
    rounding: str
    notes: list[str]
    headlines: list[Headline]
    sections: list[Section]
    scope: str = ""  # 「こども部」 when the report was cut down to some departments

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def charts(self) -> list[charts.Chart]:
        return [c for t in self.tables for c in t.figures]


# --- the layout -------------------------------------------------------------------------


def layout(report: dict) -> Layout:
    period = report.get("period") or {}
    municipality = (report.get("municipality") or {}).get("name", "")
    period_label = period.get("label", "")
    if period.get("from") and period.get("to"):
        period_label = f"{period_label}（{period['from']}〜{period['to']}）" if period_label else \
            f"{period['from']}〜{period['to']}"
    sections = []
    for key in SECTION_ORDER:
        data = report.get(key)
        if not data:
            continue
        section = Section(key=key, title=SECTION_TITLES[key])
        BUILDERS[key](data, section)
        section.tables = [t for t in section.tables if t.prune()]
        if section.tables or section.paragraphs:
            sections.append(section)
    known = set(SECTION_ORDER) | {"schema_version", "municipality", "period", "generated_at", "rounding", "notes",
                                  "scope"}
    for key, data in report.items():
        if key in known or not isinstance(data, dict | list) or not data:
            continue
        section = Section(key=key, title=str(data.get("title", key)) if isinstance(data, dict) else key)
        section.tables = [t for t in generic_tables(key, data) if t.prune()]
        if section.tables:
            sections.append(section)
    _unique_sheets(sections)
    rounding = report.get("rounding") or {}
    return Layout(
        title=f"{municipality} DX推進の状況 {period.get('label', '')}".strip(),
        municipality=municipality,
        period_label=period_label,
        generated_at=_generated(report.get("generated_at") or ""),
        rounding=rounding.get("description") or "率は件数から計算し、小数第2位を四捨五入して小数第1位まで表示します。",
        notes=[str(n) for n in report.get("notes") or []],
        headlines=headlines(report),
        sections=sections,
        scope=(report.get("scope") or {}).get("label", ""),
    )


def _generated(value: str) -> str:
    """2024-05-01T10:05:00+09:00 → 2024年5月1日 10:05."""
    try:
        import datetime as dt

        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"


def _unique_sheets(sections: list[Section]) -> None:
    seen: set[str] = set()
    for table in (t for s in sections for t in s.tables):
        name = "".join("＿" if ch in '[]:*?/\\' else ch for ch in table.sheet)[:31] or "表"
        base, n = name, 2
        while name in seen:
            suffix = f"_{n}"
            name = base[: 31 - len(suffix)] + suffix
            n += 1
        seen.add(name)
        table.sheet = name


def headlines(report: dict) -> list[Headline]:
    """The few figures the first page opens with."""
    items: list[Headline] = []
    online = report.get("online") or {}
    total = online.get("total") or {}
    departments = online.get("departments") or []
    suffix = ""
    if not total and report.get("scope") and len(departments) == 1:
        total, suffix = departments[0], f"（{departments[0].get('department')}）"
    current, diff = total.get("current") or {}, total.get("difference") or {}
    if current:
        items.append(Headline("オンライン化率" + suffix, f.rate(current.get("online_rate")),
                              _vs_previous(diff.get("online_rate_points"), online) +
                              f"{f.count(current.get('online_procedures'))} / {f.count(current.get('procedures'))} 手続"))
        items.append(Headline("カバー率" + suffix, f.rate(current.get("coverage_rate")),
                              _vs_previous(diff.get("coverage_rate_points"), online) +
                              f"{f.count(current.get('covered_applications'))} / "
                              f"{f.count(current.get('annual_applications'))} 件"))
        if current.get("online_use_rate") is not None:
            items.append(Headline("オンライン利用率" + suffix, f.rate(current.get("online_use_rate")),
                                  _vs_previous(diff.get("online_use_rate_points"), online) +
                                  f"オンライン申請 {f.count(current.get('online_applications'))} 件"))
    simulation = (report.get("next") or {}).get("simulation")
    if simulation and simulation.get("procedures"):
        items.append(Headline("次の候補をオンライン化すると", f.rate(simulation.get("coverage_rate")),
                              f"上位{f.count(simulation.get('procedures'))}手続で "
                              f"{f.points_text(simulation.get('gain_points'))}"))
    overall = (report.get("after_hours") or {}).get("overall") or {}
    if overall.get("share") is not None:
        items.append(Headline("開庁時間外のオンライン申請", f.rate(overall.get("share")),
                              f"{f.count(overall.get('outside_hours'))} / {f.count(overall.get('applications'))} 件"))
    savings_total = (report.get("savings") or {}).get("total") or {}
    if savings_total.get("measures"):
        items.append(Headline("業務削減時間", f"{f.hours(savings_total.get('total_hours'))}時間",
                              f"うちRPA {f.hours(savings_total.get('rpa_hours'))}時間"))
    cashless = report.get("cashless") or {}
    cashless_total = cashless.get("total") or cashless.get("overall") or {}
    ratio = cashless_total.get("ratio_by_amount", cashless_total.get("cashless_ratio")) if isinstance(
        cashless_total, dict) else None
    if ratio is not None:
        own = cashless.get("cashless_only") or {}
        apart = (f"（独自集計 {f.count(own.get('count'))}施設 {f.yen(own.get('cashless_yen'))}円は含まず）"
                 if own.get("count") else "")
        items.append(Headline("キャッシュレス比率（金額）", f.rate(ratio), "国の目標 40%" + apart))
    return items


def _vs_previous(points, online: dict) -> str:
    if points is None:
        return ""
    label = online.get("previous_label") or "前回"
    return f"{label}から{f.points_text(points)}、"


# --- online (カウンターレス) ------------------------------------------------------------

FIGURES = (
    ("procedures", "手続数", f.COUNT, "procedures"),
    ("online_procedures", "オンライン化手続数", f.COUNT, "online_procedures"),
    ("online_rate", "オンライン化率", f.RATE, "online_rate_points"),
    ("annual_applications", "年間申請件数", f.COUNT, "annual_applications"),
    ("covered_applications", "オンライン化手続の申請件数", f.COUNT, "covered_applications"),
    ("coverage_rate", "カバー率", f.RATE, "coverage_rate_points"),
    # Optional in the inventory: a department without a figure shows a dash, and the
    # columns are left out (Table.prune) when no department has one.
    ("online_applications", "オンライン申請件数", f.COUNT, "online_applications"),
    ("online_use_rate", "オンライン利用率", f.RATE, "online_use_rate_points"),
)


def _figure_label(data: dict, key: str, default: str) -> str:
    label = (data.get("columns") or {}).get(key) or default
    return label.replace("(%)", "").replace("（%）", "")


def _online(data: dict, section: Section) -> None:
    label = data.get("label") or str(data.get("fiscal_year", ""))
    previous_label = data.get("previous_label") or "前回"
    departments = data.get("departments") or []
    total = data.get("total") or {}
    with_online_apps = any(
        (row.get("current") or {}).get("online_applications") is not None for row in departments
    )
    with_figure = (data.get("online_applications_departments") or {}).get("current")

    columns = [Column("department", "部局")]
    for key, default, kind, diff_key in FIGURES:
        group = _figure_label(data, key, default)
        columns.append(Column(key, label, kind, group))
        columns.append(Column(diff_key if diff_key != key else f"{key}_difference",
                              "増減（ポイント）" if kind == f.RATE else "増減", f.POINTS if kind == f.RATE else f.DIFF,
                              group))

    def current_row(name, figures):
        current = figures.get("current") or {}
        diff = figures.get("difference") or {}
        row = [name]
        for key, _default, _kind, diff_key in FIGURES:
            row += [current.get(key), diff.get(diff_key)]
        return row

    rows = [current_row(d.get("department"), d) for d in departments]
    total_row = current_row(TOTAL_LABEL, total) if total else None
    names = [d.get("department") for d in departments]
    chart_names = names + ([TOTAL_LABEL] if total else [])
    everyone = departments + ([total] if total else [])

    def series(key):
        return [
            (label, [(d.get("current") or {}).get(key) for d in everyone]),
            (previous_label, [(d.get("previous") or {}).get(key) for d in everyone]),
        ]

    flagged = [d.get("department") for d in departments if d.get("flags")]
    notes = ["増減は前回調査との差です。△は減少を表します。率の増減はポイントで、"
             "端数処理前の率どうしの差を四捨五入しています。"]
    if flagged:
        notes.append("公表値と計算値が食い違う部局: " + "、".join(flagged) + "（下の「公表値の確認」を参照）")
    if with_online_apps:
        notes.append("オンライン利用率＝オンライン申請件数÷オンライン化手続の申請件数。"
                     "オンライン申請件数のない部局は「－」です（0 件ではありません）。")
        if isinstance(with_figure, int) and with_figure < len([d for d in departments if d.get("current")]):
            notes.append(f"合計のオンライン申請件数とオンライン利用率は、オンライン申請件数のある {with_figure} 部局の値です。")
    section.paragraphs.append(
        f"{label}の手続きのオンライン化の状況を部局別に示します（{previous_label}との比較）。"
        "オンライン化率＝オンライン化手続数÷手続数、カバー率＝オンライン化手続の申請件数÷年間申請件数。"
    )
    online_use_chart = []
    if with_online_apps:
        online_use_chart = [charts.bar_chart(
            "chart-online-use-rate", f"部局別オンライン利用率（{label}・{previous_label}）",
            chart_names, series("online_use_rate"), unit="%", axis_max=100,
        )]
    section.tables.append(Table(
        key="online_departments", title=f"部局別オンライン化の状況（{label}）", sheet="オンライン化_部局別",
        columns=columns, rows=rows, total=total_row, notes=notes, open_data=True, subject_kind="部局",
        period=_fiscal_period(data.get("fiscal_year"), label),
        figures=[
            charts.bar_chart("chart-online-rate", f"部局別オンライン化率（{label}・{previous_label}）",
                             chart_names, series("online_rate"), unit="%", axis_max=100),
            charts.bar_chart("chart-coverage-rate", f"部局別カバー率（{label}・{previous_label}）",
                             chart_names, series("coverage_rate"), unit="%", axis_max=100),
            *online_use_chart,
        ],
    ))
    prev_columns = [Column("department", "部局")] + [
        Column(key, _figure_label(data, key, default), kind) for key, default, kind, _d in FIGURES
    ]

    def previous_row(name, figures):
        previous = figures.get("previous") or {}
        return [name] + [previous.get(key) for key, *_ in FIGURES]

    section.tables.append(Table(
        key="online_previous", title=f"部局別オンライン化の状況（{previous_label}・前回調査）",
        sheet="オンライン化_前回", columns=prev_columns,
        rows=[previous_row(d.get("department"), d) for d in departments],
        total=previous_row(TOTAL_LABEL, total) if total else None,
        notes=["前回の値は上の図にも今回と並べて示しています。"], open_data=True, subject_kind="部局",
        period=_fiscal_period(data.get("previous_fiscal_year"), previous_label),
    ))
    flags = data.get("flags") or []
    if flags:
        section.tables.append(Table(
            key="online_flags", title="公表値の確認（件数と食い違う公表値）", sheet="公表値の確認",
            columns=[Column("department", "部局"), Column("label", "指標"),
                     Column("published", "公表値", f.RATE), Column("computed", "件数からの計算値", f.RATE),
                     Column("basis", "計算の根拠"), Column("message", "説明")],
            rows=[[x.get("department"), x.get("label") or x.get("measure"), x.get("published"), x.get("computed"),
                   f"{f.count(x.get('numerator'))} / {f.count(x.get('denominator'))}", x.get("message")]
                  for x in flags],
        ))


def _fiscal_period(year, label) -> dict | None:
    """The period of a fiscal year's figures (April to March)."""
    if not isinstance(year, int):
        return None
    return {"label": label or f"{year}年度", "from": f"{year}-04-01", "to": f"{year + 1}-03-31"}


# --- next (次の候補) --------------------------------------------------------------------

CANDIDATES_IN_CHART = 15


def _next(data: dict, section: Section) -> None:
    candidates = data.get("candidates") or []
    simulation = data.get("simulation")
    base = data.get("base") or {}
    if not candidates:
        section.paragraphs.append("手続きごとの棚卸が取り込まれていないため、候補とシミュレーションはありません。")
        return
    if simulation:
        section.paragraphs.append(
            f"年間申請件数の多い順に{f.count(simulation.get('procedures'))}手続をオンライン化すると、"
            f"カバー率は{f.rate(base.get('coverage_rate'))}から{f.rate(simulation.get('coverage_rate'))}"
            f"（{f.points_text(simulation.get('gain_points'))}）になります。"
        )
        section.tables.append(Table(
            key="next_simulation", title="オンライン化のシミュレーション", sheet="シミュレーション",
            columns=[Column("base_rate", "現在のカバー率", f.RATE), Column("procedures", "対象手続数", f.COUNT),
                     Column("added", "新たにカバーされる申請件数", f.COUNT),
                     Column("covered", "カバーされる申請件数", f.COUNT),
                     Column("annual", "年間申請件数", f.COUNT),
                     Column("rate", "オンライン化後のカバー率", f.RATE),
                     Column("gain", "上昇（ポイント）", f.POINTS)],
            rows=[[base.get("coverage_rate"), simulation.get("procedures"), simulation.get("added_applications"),
                   simulation.get("covered_applications"), base.get("annual_applications"),
                   simulation.get("coverage_rate"), simulation.get("gain_points")]],
        ))
    top = candidates[:CANDIDATES_IN_CHART]
    section.tables.append(Table(
        key="next_candidates", title="オンライン化の候補（年間申請件数の多い順）", sheet="オンライン化の候補",
        columns=[Column("rank", "順位", f.COUNT), Column("department", "部局"), Column("section", "所属"),
                 Column("procedure", "手続名"), Column("annual_applications", "年間申請件数", f.COUNT),
                 Column("coverage_gain_points", "カバー率の上昇（ポイント）", f.POINTS),
                 Column("cumulative_coverage_rate", "累計のカバー率", f.RATE)],
        rows=[[c.get("rank"), c.get("department"), c.get("section"), c.get("procedure"),
               c.get("annual_applications"), c.get("coverage_gain_points"), c.get("cumulative_coverage_rate")]
              for c in candidates],
        figures=[charts.bar_chart(
            "chart-next", f"オンライン化の候補 上位{len(top)}手続の年間申請件数",
            [c.get("procedure") or "" for c in top], [("年間申請件数", [c.get("annual_applications") for c in top])],
            unit="件",
        )],
    ))


# --- plan (計画と実績) -------------------------------------------------------------------


def _plan(data: dict, section: Section) -> None:
    years = data.get("years") or []
    label = data.get("label") or str(data.get("fiscal_year", ""))
    this_year = next((y for y in years if y.get("fiscal_year") == data.get("fiscal_year")), None)
    if not years or not any(d.get("procedures") for d in (this_year or {}).get("departments") or []):
        return
    total = (this_year or {}).get("total") or {}
    if not any(d.get("planned") for y in years for d in y.get("departments") or []):
        section.paragraphs.append("オンライン化予定年度が登録された手続きはまだありません（カタログの手続きで登録します）。")
    elif total.get("on_plan") is not None:
        section.paragraphs.append(
            f"{label}までにオンライン化を予定していた{f.count(total.get('planned'))}手続のうち、"
            f"{f.count(total.get('on_plan'))}手続（{f.rate(total.get('achievement_rate'))}）が{label}にオンラインで"
            f"申請できました。オンライン化率は予定{f.rate(total.get('planned_rate'))}・実績"
            f"{f.rate(total.get('actual_rate'))}、カバー率は予定{f.rate(total.get('planned_coverage_rate'))}・実績"
            f"{f.rate(total.get('actual_coverage_rate'))}です。"
        )
    section.paragraphs.append(
        "予定は「オンライン化予定年度」がその年度以前の手続き（累計）、実績はその年度に公開中のフォームで"
        "受け付けた（または外部のオンラインサービスがある）手続きです。手続数と年間申請件数は現在のカタログによります。"
    )
    unplanned = data.get("unplanned") or {}
    if unplanned.get("procedures"):
        section.paragraphs.append(
            f"オンライン化されておらず予定年度も決まっていない手続き: {f.count(unplanned.get('procedures'))}手続"
            f"（年間申請件数 {f.count(unplanned.get('annual_applications'))}件）。"
        )

    figures = (
        ("procedures", "手続数", f.COUNT, ""),
        ("planned", "予定（累計）", f.COUNT, "オンライン化手続数"),
        ("actual", "実績", f.COUNT, "オンライン化手続数"),
        ("on_plan", "予定のうち実績", f.COUNT, "オンライン化手続数"),
        ("behind", "予定のうち未実施", f.COUNT, "オンライン化手続数"),
        ("planned_rate", "予定", f.RATE, "オンライン化率"),
        ("actual_rate", "実績", f.RATE, "オンライン化率"),
        ("achievement_rate", "予定の達成率", f.RATE, ""),
        ("annual_applications", "年間申請件数", f.COUNT, ""),
        ("planned_applications", "予定", f.COUNT, "カバー件数"),
        ("actual_applications", "実績", f.COUNT, "カバー件数"),
        ("planned_coverage_rate", "予定", f.RATE, "カバー率"),
        ("actual_coverage_rate", "実績", f.RATE, "カバー率"),
    )
    columns = [Column(key, text, kind, group) for key, text, kind, group in figures]

    def cells(first, entry):
        return [first] + [(entry or {}).get(key) for key, *_ in figures]

    year_labels = [y.get("label") or str(y.get("fiscal_year")) for y in years]
    section.tables.append(Table(
        key="plan_years", title="オンライン化の計画と実績（年度別・全庁）", sheet="計画と実績_年度別",
        columns=[Column("fiscal_year", "年度"), *columns],
        rows=[cells(text, y.get("total")) for text, y in zip(year_labels, years, strict=True)],
        notes=["まだ始まっていない年度の実績は「－」です。"],
        figures=[charts.bar_chart(
            "chart-plan-years", "オンライン化率の予定と実績（年度別）", year_labels,
            [("予定", [(y.get("total") or {}).get("planned_rate") for y in years]),
             ("実績", [(y.get("total") or {}).get("actual_rate") for y in years])],
            unit="%", axis_max=100,
        )],
    ))
    if this_year:
        departments = this_year.get("departments") or []
        section.tables.append(Table(
            key="plan_departments", title=f"部局別のオンライン化の計画と実績（{label}）", sheet="計画と実績_部局別",
            columns=[Column("department", "部局"), *columns],
            rows=[cells(d.get("department"), d) for d in departments],
            total=cells(TOTAL_LABEL, total) if this_year.get("total") else None,
        ))
    behind = data.get("behind") or []
    if behind:
        more = (data.get("behind_count") or 0) - len(behind)
        section.tables.append(Table(
            key="plan_behind", title=f"予定年度を過ぎてもオンライン化されていない手続き（{label}）",
            sheet="計画と実績_未実施",
            columns=[Column("department", "部局"), Column("section", "所属"), Column("procedure", "手続名"),
                     Column("planned_label", "予定年度"), Column("annual_applications", "年間申請件数", f.COUNT)],
            rows=[[b.get("department"), b.get("section"), b.get("procedure"), b.get("planned_label"),
                   b.get("annual_applications")] for b in behind],
            notes=[f"ほかに{f.count(more)}手続あります（予定年度の古い順・申請件数の多い順に表示）。"] if more > 0 else [],
        ))


# --- savings (業務削減時間) ------------------------------------------------------------


def _savings(data: dict, section: Section) -> None:
    departments = data.get("departments") or []
    total = data.get("total") or {}
    measures = data.get("measures") or []
    if not departments and not measures:
        section.paragraphs.append("この年度の業務削減の取組はありません。")
    elif total:
        section.paragraphs.append(
            f"業務削減時間は合計{f.hours(total.get('total_hours'))}時間"
            f"（RPA {f.hours(total.get('rpa_hours'))}時間、その他 {f.hours(total.get('other_hours'))}時間、"
            f"{f.count(total.get('measures'))}件の取組）です。"
        )
    if departments:
        section.tables.append(Table(
            key="savings_departments", title="部局別の業務削減時間", sheet="削減時間_部局別",
            columns=[Column("department", "部局"), Column("rpa_hours", "RPA（時間）", f.HOURS),
                     Column("other_hours", "その他（時間）", f.HOURS), Column("total_hours", "合計（時間）", f.HOURS),
                     Column("measures", "取組数", f.COUNT)],
            rows=[[d.get("department"), d.get("rpa_hours"), d.get("other_hours"), d.get("total_hours"),
                   d.get("measures")] for d in departments],
            total=[TOTAL_LABEL, total.get("rpa_hours"), total.get("other_hours"), total.get("total_hours"),
                   total.get("measures")] if total else None,
            open_data=True, subject_kind="部局", period=_fiscal_period(data.get("fiscal_year"), None),
            figures=[charts.bar_chart(
                "chart-savings", "部局別の業務削減時間（RPA・その他）", [d.get("department") for d in departments],
                [("RPA", [d.get("rpa_hours") for d in departments]),
                 ("その他", [d.get("other_hours") for d in departments])],
                unit="時間", stacked=True,
            )],
        ))
    if measures:
        section.tables.append(Table(
            key="savings_measures", title="業務削減の取組", sheet="削減の取組",
            columns=[Column("department", "部局"), Column("kind_label", "種類"), Column("measure", "取組"),
                     Column("formula", "計算式"), Column("hours", "削減時間（時間/年）", f.HOURS),
                     Column("formula_hours", "計算式による時間", f.HOURS), Column("flagged", "確認")],
            rows=[[m.get("department"), m.get("kind_label") or m.get("kind"), m.get("measure"), m.get("formula"),
                   m.get("hours"), m.get("formula_hours"), "要確認" if m.get("flagged") else ""]
                  for m in measures],
        ))
    flags = data.get("flags") or []
    if flags:
        section.tables.append(Table(
            key="savings_flags", title="計算式と削減時間が食い違う取組", sheet="削減時間の確認",
            columns=[Column("department", "部局"), Column("measure", "取組"), Column("formula", "計算式"),
                     Column("hours", "記載の時間", f.HOURS), Column("formula_hours", "計算式による時間", f.HOURS),
                     Column("difference", "差（時間）", f.NUMBER)],
            rows=[[x.get("department"), x.get("measure"), x.get("formula"), x.get("hours"),
                   x.get("formula_hours"), x.get("difference")] for x in flags],
        ))


# --- after_hours (開庁時間外の申請) --------------------------------------------------------


def _after_hours(data: dict, section: Section) -> None:
    overall = data.get("overall") or {}
    departments = data.get("departments") or []
    procedures = data.get("procedures") or []
    hours = data.get("office_hours") or {}
    opens, closes = hours.get("opens", "8:30"), hours.get("closes", "17:15")
    if overall.get("applications"):
        section.paragraphs.append(
            f"受け付けたオンライン申請 {f.count(overall.get('applications'))}件のうち、"
            f"{f.count(overall.get('outside_hours'))}件（{f.rate(overall.get('share'))}）が開庁時間外"
            f"（土日祝日・年末年始・閉庁日と、平日の{opens}より前・{closes}以降）でした。"
        )
    elif not departments:
        section.paragraphs.append("この期間に受け付けたオンライン申請はありません。")
    columns = [Column("applications", "申請件数", f.COUNT), Column("outside_hours", "うち開庁時間外", f.COUNT),
               Column("share", "開庁時間外の割合", f.RATE)]
    if departments:
        names = [d.get("department") for d in departments]
        section.tables.append(Table(
            key="after_hours_departments", title="部局別の開庁時間外の申請", sheet="時間外_部局別",
            columns=[Column("department", "部局"), *columns],
            rows=[[d.get("department"), d.get("applications"), d.get("outside_hours"), d.get("share")]
                  for d in departments],
            total=[TOTAL_LABEL, overall.get("applications"), overall.get("outside_hours"), overall.get("share")]
            if overall else None,
            open_data=True, subject_kind="部局",
            figures=[charts.bar_chart(
                "chart-after-hours", "部局別の開庁時間外の申請の割合", names + ([TOTAL_LABEL] if overall else []),
                [("開庁時間外の割合", [d.get("share") for d in departments] + ([overall.get("share")] if overall else []))],
                unit="%", axis_max=100,
            )],
        ))
    if procedures:
        top = procedures[:CANDIDATES_IN_CHART]
        section.tables.append(Table(
            key="after_hours_procedures", title="手続き別の開庁時間外の申請（申請件数の多い順）", sheet="時間外_手続別",
            columns=[Column("procedure", "手続名"), Column("department", "部局"), *columns],
            rows=[[p.get("procedure"), p.get("department"), p.get("applications"), p.get("outside_hours"),
                   p.get("share")] for p in procedures],
            open_data=True, subject_kind="手続",
            figures=[charts.bar_chart(
                "chart-after-hours-procedures", f"手続き別の開庁時間外の申請の割合（上位{len(top)}手続）",
                [p.get("procedure") or "" for p in top], [("開庁時間外の割合", [p.get("share") for p in top])],
                unit="%", axis_max=100,
            )],
        ))


# --- cashless (キャッシュレス) -------------------------------------------------------------

CASHLESS_FIGURES = (
    ("sales_yen", "売上（円）", f.YEN),
    ("cash_yen", "現金（円）", f.YEN),
    ("cashless_yen", "キャッシュレス（円）", f.YEN),
    ("ratio_by_amount", "キャッシュレス比率（金額）", f.RATE),
    ("transactions", "取引件数", f.COUNT),
    ("cashless_transactions", "キャッシュレス件数", f.COUNT),
    ("ratio_by_count", "キャッシュレス比率（件数）", f.RATE),
)


def _cashless_columns(first: Column) -> list[Column]:
    return [first] + [Column(key, label, kind) for key, label, kind in CASHLESS_FIGURES]


def _cashless_row(name, figures: dict) -> list:
    return [name] + [figures.get(key) for key, *_ in CASHLESS_FIGURES]


def _cashless(data: dict, section: Section) -> None:
    target = charts.as_number(data.get("national_target"))
    target_line = (f"国の目標 {f.rate(data.get('national_target'), places=0)}", target) if target else None
    total = data.get("total") or {}
    facilities = data.get("facilities") or []
    if total.get("ratio_by_amount") is not None:
        section.paragraphs.append(
            f"窓口のキャッシュレス比率（金額）は{f.rate(total.get('ratio_by_amount'))}です"
            f"（{f.count(total.get('facilities'))}施設、売上 {f.yen(total.get('sales_yen'))}円のうち"
            f"キャッシュレス {f.yen(total.get('cashless_yen'))}円）。"
            + (f"国の目標は{f.rate(data.get('national_target'), places=0)}です。" if target else "")
        )
    section.paragraphs.extend(str(n) for n in data.get("notes") or [])
    own = data.get("cashless_only") or {}
    own_rows = own.get("facilities") or []
    if facilities:
        columns = _cashless_columns(Column("facility", "施設")) + [Column("source_label", "出典")]
        section.tables.append(Table(
            key="cashless_facilities", title="施設別のキャッシュレス比率", sheet="キャッシュレス_施設別",
            columns=columns,
            rows=[_cashless_row(x.get("facility"), x) + [x.get("source_label") or x.get("source")]
                  for x in facilities],
            total=_cashless_row(TOTAL_LABEL, total) + [""] if total else None,
            open_data=True, subject_kind="施設",
            figures=[charts.bar_chart(
                "chart-cashless-facilities", "施設別のキャッシュレス比率（金額）",
                [x.get("facility") for x in facilities] + ([TOTAL_LABEL] if total else []),
                [("キャッシュレス比率（金額）", [x.get("ratio_by_amount") for x in facilities]
                  + ([total.get("ratio_by_amount")] if total else []))],
                unit="%", axis_max=100 if target is None or target <= 50 else None, target=target_line,
            )],
        ))
    if own_rows:
        # Apart from the ratio table: their cash is unknown, so they have no ratio.
        section.tables.append(Table(
            key="cashless_only", title="キャッシュレスのみの集計（独自集計）", sheet="キャッシュレス_独自集計",
            columns=[Column("facility", "施設"), Column("cashless_yen", "キャッシュレス（円）", f.YEN),
                     Column("sales_yen", "売上（円）", f.YEN), Column("source_label", "出典")],
            rows=[[x.get("facility"), x.get("cashless_yen"), x.get("sales_yen"), x.get("source_label")]
                  for x in own_rows],
            total=[TOTAL_LABEL, own.get("cashless_yen"), None, f"{f.count(own.get('count'))}施設"],
            notes=["現金の額が分からない施設の集計です。キャッシュレス比率の分母にも分子にも含めていません。"],
            open_data=True, subject_kind="施設",
        ))
    fee_items = data.get("fee_items") or []
    if fee_items:
        section.tables.append(Table(
            key="cashless_fee_items", title="料金項目別のキャッシュレス比率", sheet="キャッシュレス_料金項目別",
            columns=_cashless_columns(Column("fee_item", "料金項目")),
            rows=[_cashless_row(x.get("fee_item"), x) for x in fee_items],
            open_data=True, subject_kind="料金項目",
            figures=[charts.bar_chart(
                "chart-cashless-fee-items", "料金項目別のキャッシュレス比率（金額・件数）",
                [x.get("fee_item") for x in fee_items],
                [("金額", [x.get("ratio_by_amount") for x in fee_items]),
                 ("件数", [x.get("ratio_by_count") for x in fee_items])], unit="%", axis_max=100,
                target=target_line,
            )],
        ))
    months = data.get("months") or []
    if months:
        section.tables.append(Table(
            key="cashless_months", title="月別のキャッシュレス比率", sheet="キャッシュレス_月別",
            columns=_cashless_columns(Column("month", "月")),
            rows=[_cashless_row(x.get("label") or x.get("month"), x) for x in months],
            open_data=True, subject_kind="月",
            figures=[charts.bar_chart(
                "chart-cashless-months", "月別のキャッシュレス比率（金額・件数）",
                [x.get("label") or x.get("month") for x in months],
                [("金額", [x.get("ratio_by_amount") for x in months]),
                 ("件数", [x.get("ratio_by_count") for x in months])], unit="%", axis_max=100,
                target=target_line,
            )],
        ))
    methods = data.get("methods") or []
    if methods:
        section.tables.append(Table(
            key="cashless_methods", title="支払方法別の取引", sheet="キャッシュレス_支払方法別",
            columns=[Column("method", "支払方法"), Column("cashless", "区分"),
                     Column("transactions", "取引件数", f.COUNT), Column("amount_yen", "金額（円）", f.YEN)],
            rows=[[x.get("method"), "キャッシュレス" if x.get("cashless") else "現金", x.get("transactions"),
                   x.get("amount_yen")] for x in methods],
            figures=[charts.bar_chart(
                "chart-cashless-methods", "支払方法別の取引件数", [x.get("method") for x in methods],
                [("取引件数", [x.get("transactions") for x in methods])], unit="件",
            )],
        ))
    congestion = data.get("congestion") or {}
    by_hour = [x for x in congestion.get("by_hour") or [] if x.get("transactions")]
    if by_hour:
        first, last = by_hour[0].get("hour"), by_hour[-1].get("hour")
        hours = [x for x in congestion["by_hour"] if first <= x.get("hour", -1) <= last]
        section.tables.append(Table(
            key="cashless_by_hour", title="窓口の混雑（時間帯別の取引件数）", sheet="窓口の混雑_時間帯別",
            columns=[Column("hour", "時間帯"), Column("transactions", "取引件数", f.COUNT)],
            rows=[[f"{x.get('hour')}時台", x.get("transactions")] for x in hours],
            figures=[charts.bar_chart(
                "chart-congestion-hours", "時間帯別の取引件数", [f"{x.get('hour')}時台" for x in hours],
                [("取引件数", [x.get("transactions") for x in hours])], unit="件",
            )],
        ))
    by_weekday = congestion.get("by_weekday") or []
    if any(x.get("transactions") for x in by_weekday):
        section.tables.append(Table(
            key="cashless_by_weekday", title="窓口の混雑（曜日別の取引件数）", sheet="窓口の混雑_曜日別",
            columns=[Column("weekday", "曜日"), Column("transactions", "取引件数", f.COUNT),
                     Column("days", "取引のあった日数", f.COUNT), Column("per_day", "1日あたり件数", f.NUMBER)],
            rows=[[x.get("label") or x.get("weekday"), x.get("transactions"), x.get("days"), x.get("per_day")]
                  for x in by_weekday],
            figures=[charts.bar_chart(
                "chart-congestion-weekdays", "曜日別の1日あたり取引件数",
                [x.get("label") or str(x.get("weekday")) for x in by_weekday],
                [("1日あたり件数", [x.get("per_day") for x in by_weekday])], unit="件",
            )],
        ))
    matrix = congestion.get("weekday_hour") or []
    if by_hour and matrix:
        labels = [x.get("label") or str(x.get("weekday")) for x in by_weekday] or [str(i + 1) for i in range(7)]
        first, last = by_hour[0].get("hour"), by_hour[-1].get("hour")
        section.tables.append(Table(
            key="cashless_weekday_hour", title="窓口の混雑（曜日×時間帯の取引件数）", sheet="窓口の混雑_曜日×時間帯",
            columns=[Column("weekday", "曜日")] + [Column(f"h{h}", f"{h}時", f.COUNT) for h in range(first, last + 1)],
            rows=[[labels[i] if i < len(labels) else str(i + 1)] + list(row[first:last + 1])
                  for i, row in enumerate(matrix)],
        ))
    flags = data.get("flags") or []
    if flags:
        section.tables.append(Table(
            key="cashless_flags", title="公表値・年計の確認（キャッシュレス）", sheet="キャッシュレスの確認",
            columns=[Column("facility", "施設"), Column("label", "項目"), Column("message", "説明")],
            rows=[[x.get("facility"), x.get("label") or x.get("measure"), x.get("message")] for x in flags],
        ))


# --- paperless (ペーパーレス) -------------------------------------------------------------


def _paperless(data: dict, section: Section) -> None:
    prices = data.get("unit_prices") or {}
    monthly = data.get("monthly") or {}
    departments = monthly.get("departments") or []
    total = monthly.get("total") or {}
    if departments:
        label = "前年同期比"
        columns = [
            Column("department", "部局"),
            Column("colour_pages", "カラー枚数", f.COUNT), Column("mono_pages", "モノクロ枚数", f.COUNT),
            Column("pages", "今回", f.COUNT, "印刷枚数"), Column("pages_difference", label, f.DIFF, "印刷枚数"),
            Column("pages_pct", "増減率", f.RATE, "印刷枚数"),
            Column("colour_share", "今回", f.RATE, "カラー比率"),
            Column("colour_share_points", "増減（ポイント）", f.POINTS, "カラー比率"),
            Column("pages_per_staff_month", "今回", f.NUMBER, "1人1か月あたり枚数"),
            Column("pages_per_staff_month_difference", label, f.DIFF, "1人1か月あたり枚数"),
            Column("cost_yen", "今回", f.YEN, "印刷費用（円）"),
            Column("cost_yen_difference", label, f.DIFF, "印刷費用（円）"),
        ]

        def row(name, entry):
            current, diff = entry.get("current") or {}, entry.get("difference") or {}
            return [name, current.get("colour_pages"), current.get("mono_pages"), current.get("pages"),
                    diff.get("pages"), diff.get("pages_pct"), current.get("colour_share"),
                    diff.get("colour_share_points"), current.get("pages_per_staff_month"),
                    diff.get("pages_per_staff_month"), current.get("cost_yen"), diff.get("cost_yen")]

        names = [d.get("department") for d in departments]
        section.tables.append(Table(
            key="paperless_departments", title="部局別の印刷枚数（前年同期との比較）", sheet="印刷枚数_部局別",
            columns=columns, rows=[row(d.get("department"), d) for d in departments],
            total=row(TOTAL_LABEL, total) if total.get("current") else None,
            open_data=True, subject_kind="部局",
            notes=[f"費用はモノクロ1枚 {prices.get('mono_yen', '－')}円、カラー1枚 {prices.get('colour_yen', '－')}円で"
                   "計算しています。"],
            figures=[charts.bar_chart(
                "chart-paperless-departments", "部局別の印刷枚数（今回・前年同期）", names,
                [("今回", [(d.get("current") or {}).get("pages") for d in departments]),
                 ("前年同期", [(d.get("previous") or {}).get("pages") for d in departments])], unit="枚",
            )],
        ))
    months = monthly.get("months") or []
    if months:
        section.tables.append(Table(
            key="paperless_months", title="月別の印刷枚数", sheet="印刷枚数_月別",
            columns=[Column("month", "月"), Column("colour_pages", "カラー枚数", f.COUNT),
                     Column("mono_pages", "モノクロ枚数", f.COUNT), Column("pages", "印刷枚数", f.COUNT),
                     Column("colour_share", "カラー比率", f.RATE),
                     Column("pages_per_staff_month", "1人1か月あたり枚数", f.NUMBER),
                     Column("cost_yen", "印刷費用（円）", f.YEN)],
            rows=[[x.get("label") or x.get("month"), x.get("colour_pages"), x.get("mono_pages"), x.get("pages"),
                   x.get("colour_share"), x.get("pages_per_staff_month"), x.get("cost_yen")] for x in months],
            open_data=True, subject_kind="月",
            figures=[charts.bar_chart(
                "chart-paperless-months", "月別の印刷枚数（カラー・モノクロ）",
                [x.get("label") or x.get("month") for x in months],
                [("カラー", [x.get("colour_pages") for x in months]),
                 ("モノクロ", [x.get("mono_pages") for x in months])], unit="枚", stacked=True,
            )],
        ))
    totals = data.get("period_totals") or {}
    periods = totals.get("periods") or []
    period_rows = totals.get("departments") or []
    if periods and period_rows:
        columns = [Column("department", "部局")]
        for index, period in enumerate(periods):
            label = period.get("label") or period.get("period")
            columns += [Column(f"p{index}_sheets", "枚数", f.COUNT, label),
                        Column(f"p{index}_per_month", "1か月あたり", f.NUMBER, label),
                        Column(f"p{index}_per_staff", "1人1か月あたり", f.NUMBER, label)]
        columns += [Column("change_per_month", "1か月あたりの増減", f.DIFF, "比較"),
                    Column("change_per_month_pct", "増減率", f.RATE, "比較")]

        def cells(name, entry):
            result = [name]
            by_period = {c.get("period"): c for c in entry.get("periods") or [] if c}
            for period in periods:
                cell = by_period.get(period.get("period")) or {}
                result += [cell.get("sheets"), cell.get("per_month"), cell.get("pages_per_staff_month")]
            change = entry.get("change") or {}
            return result + [change.get("per_month"), change.get("per_month_pct")]

        total_entry = totals.get("total")
        section.tables.append(Table(
            key="paperless_periods", title="部局別の印刷枚数（期間計）", sheet="印刷枚数_期間計",
            columns=columns, rows=[cells(d.get("department"), d) for d in period_rows],
            total=cells(TOTAL_LABEL, total_entry) if total_entry else None,
            open_data=True, subject_kind="部局",
            notes=["期間の長さが異なるときは1か月あたりの枚数で比較します。△は減少です。"],
            figures=[charts.bar_chart(
                "chart-paperless-periods", "部局別の1か月あたり印刷枚数（期間別）",
                [d.get("department") for d in period_rows],
                [(p.get("label") or p.get("period"),
                  [({c.get("period"): c for c in d.get("periods") or [] if c}.get(p.get("period")) or {}).get(
                      "per_month") for d in period_rows]) for p in periods],
                unit="枚",
            )],
        ))
        published = []
        labels = {p.get("period"): p.get("label") or p.get("period") for p in periods}
        for entry in period_rows:
            for cell in entry.get("periods") or []:
                if cell and (cell.get("published") or {}).get("pages_per_staff_month") is not None:
                    implied = cell.get("implied_staff") or {}
                    if implied:
                        low, high = implied.get("min"), implied.get("max")
                        staff = f"{low}人" if low == high else f"{low}〜{high if high is not None else ''}人"
                    else:
                        staff = "－"
                    published.append([entry.get("department"), labels.get(cell.get("period")),
                                      cell["published"]["pages_per_staff_month"], cell.get("pages_per_staff_month"),
                                      staff, "要確認" if cell.get("flags") else ""])
        if published:
            section.tables.append(Table(
                key="paperless_published", title="公表値の確認（1人1か月あたり枚数）", sheet="印刷枚数_公表値の確認",
                columns=[Column("department", "部局"), Column("period", "期間"),
                         Column("published", "公表値（枚）", f.COUNT), Column("computed", "計算値（枚）", f.NUMBER),
                         Column("implied_staff", "公表値になり得る職員数"), Column("flagged", "確認")],
                rows=published,
            ))
    flags = data.get("flags") or []
    if flags:
        section.tables.append(Table(
            key="paperless_flags", title="公表値と食い違う印刷枚数", sheet="印刷枚数の確認",
            columns=[Column("department", "部局"), Column("label", "項目"), Column("message", "説明")],
            rows=[[x.get("department"), x.get("label") or x.get("measure"), x.get("message")] for x in flags],
        ))
    section.paragraphs.extend(str(n) for n in data.get("notes") or [])


BUILDERS = {
    "online": _online,
    "next": _next,
    "plan": _plan,
    "savings": _savings,
    "after_hours": _after_hours,
    "cashless": _cashless,
    "paperless": _paperless,
}


# --- any other list of objects ----------------------------------------------------------

LABELS = {
    "department": "部局", "facility": "施設", "procedure": "手続名", "procedure_name": "手続名",
    "section": "所属", "month": "月", "fee_item": "料金項目", "hour": "時", "weekday": "曜日",
    "applications": "申請件数", "outside": "時間外の件数", "outside_share": "時間外の割合",
    "online": "オンライン", "counter": "窓口", "sales": "売上（円）", "cash": "現金（円）",
    "cashless": "キャッシュレス（円）", "count": "件数", "amount": "金額（円）",
    "ratio_by_amount": "キャッシュレス比率（金額）", "ratio_by_count": "キャッシュレス比率（件数）",
    "colour_pages": "カラー枚数", "mono_pages": "モノクロ枚数", "pages": "枚数", "sheets": "枚数",
    "staff": "職員数", "per_staff_month": "1人1か月あたり枚数", "colour_share": "カラーの割合",
    "cost": "費用（円）", "cost_yen": "費用（円）", "published": "公表値", "computed": "計算値",
    "message": "説明", "label": "区分", "name": "名称",
}


def _kind(key: str, values: list) -> str:
    numbers = [v for v in values if v is not None]
    if numbers and all(isinstance(v, str) for v in numbers):
        return f.TEXT
    if not numbers or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return f.TEXT
    lowered = key.lower()
    if lowered.endswith("_points") or lowered == "points":
        return f.POINTS
    if any(word in lowered for word in ("rate", "ratio", "share", "pct", "percent")):
        return f.RATE
    if "hours" in lowered:
        return f.HOURS
    if any(word in lowered for word in ("yen", "cost", "amount", "sales", "cash")):
        return f.YEN
    if lowered.startswith("difference") or lowered.endswith("_diff") or lowered.endswith("_change"):
        return f.DIFF
    if all(isinstance(v, int) for v in numbers):
        return f.COUNT
    return f.NUMBER


def _flatten(row: dict, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, list):
            continue  # a nested list becomes its own table
        else:
            flat[name] = value
    return flat


def generic_tables(key: str, data, *, path: str = "") -> list[Table]:
    """A table for every non-empty list of objects in `data` (depth first, in key order)."""
    tables: list[Table] = []
    labels = dict(LABELS)
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        labels.update({k: str(v) for k, v in data["columns"].items()})
    items = data.items() if isinstance(data, dict) else [("", data)]
    for name, value in items:
        here = f"{path}.{name}" if path and name else (name or path)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            flat = [_flatten(v) for v in value]
            keys: list[str] = []
            for row in flat:
                keys += [k for k in row if k not in keys]
            columns = [
                Column(k, _label(k, labels), _kind(k, [r.get(k) for r in flat])) for k in keys
            ]
            table_key = f"{key}_{here}".replace(".", "_").strip("_")
            title = f"{SECTION_TITLES.get(key, key)}：{_label(here, labels) if here else ''}".rstrip("：")
            rows = [[r.get(c.key) for c in columns] for r in flat]
            tables.append(Table(key=table_key, title=title, sheet=title.replace("：", "_")[:31],
                                columns=columns, rows=rows, figures=_generic_chart(table_key, title, columns, rows)))
            for index, row in enumerate(value):
                for sub_name, sub in row.items():
                    if isinstance(sub, list) and sub and all(isinstance(v, dict) for v in sub):
                        first = row.get(columns[0].key) if columns else index
                        tables += generic_tables(key, {sub_name: sub}, path=f"{here}.{first}")
        elif isinstance(value, dict):
            tables += generic_tables(key, value, path=here)
    return tables


def _label(key: str, labels: dict) -> str:
    parts = key.split(".")
    return " ".join(labels.get(p, p) for p in parts)


def _generic_chart(key: str, title: str, columns: list[Column], rows: list[list]) -> list[charts.Chart]:
    """Bars of the first rate (or else the first count) column by the first text column."""
    text = next((i for i, c in enumerate(columns) if c.kind == f.TEXT), None)
    measure = next((i for i, c in enumerate(columns) if c.kind == f.RATE), None)
    if measure is None:
        measure = next((i for i, c in enumerate(columns) if c.kind in {f.COUNT, f.HOURS, f.YEN}), None)
    if text is None or measure is None or not rows or len(rows) > 60:
        return []
    column = columns[measure]
    return [charts.bar_chart(
        f"chart-{key}".replace("_", "-"), f"{title}（{column.label}）", [str(r[text]) for r in rows],
        [(column.label, [r[measure] for r in rows])], unit="%" if column.kind == f.RATE else "",
        axis_max=100 if column.kind == f.RATE and all((r[measure] or 0) <= 100 for r in rows) else None,
    )]
