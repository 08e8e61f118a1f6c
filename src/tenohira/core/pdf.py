"""Pieces shared by the PDFs Tenohira writes (the 受付票 and the headquarters report)."""

from __future__ import annotations

from reportlab.pdfgen import canvas as pdfcanvas


def numbered_canvas(font: str, footer: str, *, margin: float, baseline: float, rule_gap: float,
                    size: float, rule_colour, text_colour):
    """A canvas class that writes `footer` and 「n / total ページ」 on every page once the
    number of pages is known (portrait and landscape pages alike)."""

    class NumberedCanvas(pdfcanvas.Canvas):
        def __init__(self, *args, **kwargs):
            # BaseDocTemplate passes initialFontName=None: replace it, or every page would
            # start with (and the PDF reference) Helvetica.
            kwargs["initialFontName"] = font
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            width = self._pagesize[0]
            self.saveState()
            self.setStrokeColor(rule_colour)
            self.setLineWidth(0.5)
            self.line(margin, baseline + rule_gap, width - margin, baseline + rule_gap)
            self.setFont(font, size)
            self.setFillColor(text_colour)
            self.drawString(margin, baseline, footer)
            self.drawRightString(width - margin, baseline, f"{self._pageNumber} / {total} ページ")
            self.restoreState()

    return NumberedCanvas


