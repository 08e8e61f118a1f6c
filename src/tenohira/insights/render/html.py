"""The report as one HTML document (self-contained: styles inline, charts as inline SVG,
no JavaScript), and the body the staff dashboards show inside the staff layout."""

from __future__ import annotations

from pathlib import Path

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from tenohira.insights.render.tables import Layout, layout


def context(report: dict, *, heading_level: int = 2) -> dict:
    """What insights/_report_body.html needs: the layout, with every chart's SVG ready."""
    plan: Layout = layout(report)
    sections = []
    for section in plan.sections:
        tables = []
        for table in section.tables:
            tables.append({
                "table": table,
                "id": table.key.replace("_", "-"),
                "header_rows": table.header_rows(),
                "rows": [list(zip(cells, table.columns, strict=True)) for cells in table.formatted_rows()],
                "total": list(zip(table.formatted_total(), table.columns, strict=True))
                if table.total is not None else None,
                "charts": [{"chart": c, "svg": mark_safe(c.svg())} for c in table.figures],  # noqa: S308 (built by charts.py: every text escaped)
            })
        sections.append({"section": section, "id": f"section-{section.key.replace('_', '-')}", "tables": tables})
    return {"plan": plan, "sections": sections}


# One stylesheet for the dashboard (served as a static file, as the site's Content
# Security Policy allows no inline styles) and this document (a file opened on its own,
# so the styles go inside it).
REPORT_CSS = Path(__file__).resolve().parent.parent / "static" / "insights" / "report.css"


def to_html(report: dict) -> str:
    return render_to_string(
        "insights/report_document.html",
        {**context(report), "report_css": mark_safe(REPORT_CSS.read_text(encoding="utf-8"))},  # noqa: S308 (our own file)
    )
