"""Outputs of the headquarters report (本部会報告), all drawn from the report JSON that
tenohira.insights.report.build() returns (shape: docs/insights-report.md):

    to_xlsx(report, path)            Excel workbook: a 概要 sheet and one sheet per table
    to_pdf(report, path)             A4 PDF in Japanese, tables with their charts
    to_html(report) -> str           one self-contained HTML page (inline SVG charts, no JS)
    to_open_data_csv(report, path)   the KPIs as open data: UTF-8 with BOM, one figure a row

The layout they share (which tables, columns and charts) is render.tables.layout().
"""

from tenohira.insights.render.html import to_html
from tenohira.insights.render.opendata import to_open_data_csv
from tenohira.insights.render.pdf import to_pdf
from tenohira.insights.render.xlsx import to_xlsx

__all__ = ["to_html", "to_open_data_csv", "to_pdf", "to_xlsx"]
