"""Charts of the DX report, drawn on the server as SVG (no JavaScript, no chart library).

A chart is first built as a small list of shapes (`Chart`: rectangles, lines, texts in
a fixed coordinate space); `Chart.svg()` writes it as SVG for the HTML report and the
dashboards, and the PDF renderer turns the very same shapes into a ReportLab drawing, so
what headquarters read on paper is what staff see on screen.

Every chart carries a text alternative: `role="img"`, a `<title>` and a `<desc>` that
says what the bars show and the largest and smallest values; the outputs always print the
chart's data table next to it (a chart alone never carries a figure). Output is
deterministic: the same data gives byte-identical SVG.

Bars are horizontal because the categories are Japanese department and facility names
(up to ~15 characters) that read badly on a slanted axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

#: Series colours (デジタル庁デザインシステム: blue 900, light blue, orange, green) — distinct
#: in lightness as well as hue, so they stay apart in grey print; the legend and the
#: data table name every series in words.
PALETTE = ("#0017c1", "#7096f8", "#c74700", "#197a4b", "#5c10be")
INK = "#1a1a1c"
MUTED = "#4d4d4d"
GRID = "#d8d8db"
TARGET = "#b00000"
FONT_FAMILY = "'BIZ UDPGothic', 'Hiragino Sans', 'Noto Sans JP', 'Yu Gothic', Meiryo, sans-serif"

WIDTH = 720
LABEL_FONT = 12
SMALL_FONT = 10
CHAR_WIDTH = 12  # a full-width character at LABEL_FONT
LABEL_MAX_CHARS = 14  # longer category names wrap onto a second line
TOP = 34  # room for the legend
AXIS_ROOM = 26  # tick labels under the plot
RIGHT_ROOM = 64  # room for the value printed after the longest bar


#: Axis ends (× 10ⁿ) and how many intervals the grid divides each into.
STEPS = {1: 5, 1.5: 3, 2: 4, 2.5: 5, 3: 3, 4: 4, 5: 5, 6: 3, 8: 4, 10: 5}


@dataclass(frozen=True)
class Shape:
    """One drawn element. `kind` is "rect", "line" or "text"; coordinates are SVG's
    (origin top left, y downwards); texts are anchored at their baseline."""

    kind: str
    x: float
    y: float
    w: float = 0.0  # rect: width; line: x2
    h: float = 0.0  # rect: height; line: y2
    fill: str = ""
    stroke: str = ""
    text: str = ""
    size: float = LABEL_FONT
    anchor: str = "start"  # start | middle | end
    css_class: str = ""
    dashed: bool = False
    bold: bool = False


@dataclass
class Chart:
    key: str  # unique on a page: ids of <title>/<desc> derive from it
    title: str
    description: str
    width: float
    height: float
    shapes: list[Shape] = field(default_factory=list)

    @property
    def bar_count(self) -> int:
        return sum(1 for s in self.shapes if s.css_class == "bar")

    def svg(self) -> str:
        title_id, desc_id = f"{self.key}-title", f"{self.key}-desc"
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {_n(self.width)} {_n(self.height)}" width="{_n(self.width)}" height="{_n(self.height)}" '
            f'aria-labelledby="{title_id} {desc_id}" font-family={quoteattr(FONT_FAMILY)}>',
            f'<title id="{title_id}">{escape(self.title)}</title>',
            f'<desc id="{desc_id}">{escape(self.description)}</desc>',
        ]
        for s in self.shapes:
            cls = f' class="{s.css_class}"' if s.css_class else ""
            if s.kind == "rect":
                out.append(
                    f'<rect{cls} x="{_n(s.x)}" y="{_n(s.y)}" width="{_n(s.w)}" height="{_n(s.h)}" fill="{s.fill}"'
                    + (f' stroke="{s.stroke}"' if s.stroke else "") + "/>"
                )
            elif s.kind == "line":
                dash = ' stroke-dasharray="6 4"' if s.dashed else ""
                out.append(
                    f'<line{cls} x1="{_n(s.x)}" y1="{_n(s.y)}" x2="{_n(s.w)}" y2="{_n(s.h)}" '
                    f'stroke="{s.stroke}" stroke-width="1"{dash}/>'
                )
            elif s.kind == "text":
                weight = ' font-weight="bold"' if s.bold else ""
                anchor = f' text-anchor="{s.anchor}"' if s.anchor != "start" else ""
                out.append(
                    f'<text{cls} x="{_n(s.x)}" y="{_n(s.y)}" font-size="{_n(s.size)}" fill="{s.fill or INK}"'
                    f"{anchor}{weight}>{escape(s.text)}</text>"
                )
        out.append("</svg>")
        return "\n".join(out)


def _n(value: float) -> str:
    """A coordinate with at most one decimal, no trailing zeros: deterministic output."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ceiling(value: float) -> float:
    """The axis end: the smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in STEPS:
        if step * power >= value - 1e-9:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def _ticks(axis_max: float) -> list[float]:
    power = 10 ** math.floor(math.log10(axis_max))
    lead = round(axis_max / power, 6)
    count = STEPS.get(lead, 5)
    return [axis_max * i / count for i in range(count + 1)]


def format_value(value, unit: str) -> str:
    """Value labels: 22.8%, 1,804, 5,019.3時間 (unit "%", "" or "時間"/"件"/"枚")."""
    if value is None:
        return "－"
    number = float(value)
    if unit == "%":
        # As many decimals as the report computed (22.8%, the cashless ratio 15.96%).
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
        places = max(1, -exponent) if isinstance(exponent, int) else 1
        return f"{number:,.{places}f}%"
    if number == int(number):
        return f"{int(number):,}{unit}"
    return f"{number:,.1f}{unit}"


def _tick_label(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:g}%"
    if value >= 10_000 and value % 1000 == 0:
        return f"{int(value / 10_000):,}万" if value % 10_000 == 0 else f"{value / 10_000:g}万"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _wrap(label: str) -> list[str]:
    if len(label) <= LABEL_MAX_CHARS:
        return [label]
    first, rest = label[:LABEL_MAX_CHARS], label[LABEL_MAX_CHARS:]
    if len(rest) > LABEL_MAX_CHARS:
        rest = rest[: LABEL_MAX_CHARS - 1] + "…"
    return [first, rest]


def _text_width(text: str, size: float) -> float:
    """A rough advance width: full-width characters are 1 em, others ~0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def bar_chart(
    key: str,
    title: str,
    categories: list[str],
    series: list[tuple[str, list]],
    *,
    unit: str = "%",
    stacked: bool = False,
    axis_max: float | None = None,
    target: tuple[str, float] | None = None,
    description: str = "",
) -> Chart:
    """Horizontal bars, one group per category: side by side (grouped) or end to end
    (stacked, e.g. RPA + other hours). `series` is [(name, values per category)]; a None
    value draws no bar and prints 「－」. `target` draws a dashed reference line
    (e.g. ("国の目標 40%", 40))."""
    n_series = max(1, len(series))
    values = [[None if v is None else float(v) for v in vals] for _, vals in series]
    if stacked:
        largest = max([sum(v[i] or 0 for v in values) for i in range(len(categories))] or [0])
    else:
        largest = max([x for v in values for x in v if x is not None] or [0])
    if target is not None:
        largest = max(largest, target[1])
    if axis_max is None:
        # Counts of a handful: whole-number grid lines (0, 1, … 5), not 0.2 steps.
        axis_max = nice_ceiling(largest) if unit == "%" or largest > 5 else 5.0
    axis_max = max(axis_max, largest) or 1.0

    wrapped = [_wrap(str(c)) for c in categories]
    longest = max([_text_width(line, LABEL_FONT) for lines in wrapped for line in lines] or [0])
    label_room = min(max(longest + 12, 60), LABEL_MAX_CHARS * CHAR_WIDTH + 12)
    plot_left = label_room
    plot_width = WIDTH - plot_left - RIGHT_ROOM
    bar_h = 14 if (stacked or n_series == 1) else 10
    rows_h = bar_h if stacked else bar_h * n_series
    group_h = max(rows_h, 28 if any(len(w) > 1 for w in wrapped) else 0) + 10
    plot_h = group_h * len(categories)
    height = TOP + plot_h + AXIS_ROOM + 4
    shapes: list[Shape] = []

    def x_of(value: float) -> float:
        return plot_left + plot_width * value / axis_max

    # Legend (also when there is one series: it names what is measured).
    lx = plot_left
    for index, (name, _vals) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        shapes.append(Shape("rect", lx, 10, 12, 12, fill=colour, css_class="legend-key"))
        shapes.append(Shape("text", lx + 16, 20.5, text=name, size=SMALL_FONT + 1, fill=INK))
        lx += 16 + _text_width(name, SMALL_FONT + 1) + 18
    if target is not None:
        shapes.append(Shape("line", lx, 16, lx + 20, 16, stroke=TARGET, dashed=True))
        shapes.append(Shape("text", lx + 24, 20.5, text=target[0], size=SMALL_FONT + 1, fill=TARGET))

    # Grid and axis.
    for tick in _ticks(axis_max):
        x = x_of(tick)
        shapes.append(Shape("line", x, TOP - 4, x, TOP + plot_h, stroke=GRID))
        shapes.append(Shape("text", x, TOP + plot_h + 16, text=_tick_label(tick, unit), size=SMALL_FONT,
                            anchor="middle", fill=MUTED))
    shapes.append(Shape("line", plot_left, TOP - 4, plot_left, TOP + plot_h, stroke=INK))

    for row in range(len(categories)):
        top = TOP + row * group_h + 5
        middle = top + rows_h / 2
        lines = wrapped[row]
        first_baseline = middle + 4 - (len(lines) - 1) * 7
        for i, line in enumerate(lines):
            shapes.append(Shape("text", plot_left - 6, first_baseline + i * 14, text=line, size=LABEL_FONT,
                                anchor="end", css_class="category"))
        if stacked:
            start = 0.0
            for index, vals in enumerate(values):
                value = vals[row] or 0.0
                shapes.append(Shape("rect", x_of(start), top, x_of(start + value) - x_of(start), bar_h,
                                    fill=PALETTE[index % len(PALETTE)], css_class="bar"))
                start += value
            shapes.append(Shape("text", x_of(start) + 4, top + bar_h - 3, text=format_value(start, unit),
                                size=SMALL_FONT, css_class="value"))
        else:
            for index, vals in enumerate(values):
                value = vals[row]
                y = top + index * bar_h
                width = 0.0 if value is None else x_of(value) - plot_left
                shapes.append(Shape("rect", plot_left, y, width, bar_h - 1,
                                    fill=PALETTE[index % len(PALETTE)], css_class="bar"))
                shapes.append(Shape("text", plot_left + width + 4, y + bar_h - 2.5, text=format_value(value, unit),
                                    size=SMALL_FONT - (1 if n_series > 1 else 0), css_class="value"))
    if target is not None:
        x = x_of(target[1])
        shapes.append(Shape("line", x, TOP - 4, x, TOP + plot_h, stroke=TARGET, dashed=True, css_class="target"))

    if not description:
        description = describe(categories, series, unit=unit, stacked=stacked)
    return Chart(key=key, title=title, description=description, width=WIDTH, height=height, shapes=shapes)


def describe(categories: list[str], series: list[tuple[str, list]], *, unit: str, stacked: bool) -> str:
    """The text alternative: what is compared, and the extremes of the first series (or of
    the totals, when stacked); every value is in the data table that accompanies the chart."""
    if not categories or not series:
        return "データがありません。"
    names = "・".join(name for name, _ in series)
    if stacked:
        label = f"{names}の合計"
        values = [sum(float(v[i] or 0) for _, v in series) for i in range(len(categories))]
    else:
        label = series[0][0]
        values = [None if v is None else float(v) for v in series[0][1]]
    known = [(v, c) for v, c in zip(values, categories, strict=False) if v is not None]
    text = f"{len(categories)}項目の{names}を{'積み上げ' if stacked else ''}横棒グラフで示します。"
    if len(known) == 1:
        text += f"{label}は{known[0][1]}が{format_value(known[0][0], unit)}です。"
    elif known:
        high = max(known, key=lambda item: item[0])
        low = min(known, key=lambda item: item[0])
        text += (
            f"{label}が最も大きいのは{high[1]}（{format_value(high[0], unit)}）、"
            f"最も小さいのは{low[1]}（{format_value(low[0], unit)}）です。"
        )
    return text + "数値は下の表のとおりです。"


def as_number(value) -> float | None:
    """A JSON value (int, float, Decimal, numeric string, or None) as a float for drawing."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(str(value).replace(",", "").rstrip("%"))
    except ValueError:
        return None
