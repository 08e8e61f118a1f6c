"""The small markup of the site's own pages, so that the DX division can write them in
the admin without HTML (and without being able to inject any).

Blank lines separate blocks. A block whose first line starts with "## " (or "### ") is a
heading followed by a paragraph; a block whose lines all start with "- " or "・" is a
list; anything else is a paragraph whose line breaks are kept. Addresses become links.
"""

from django.conf import settings
from django.utils.html import format_html, format_html_join, urlize
from django.utils.safestring import SafeString, mark_safe


def placeholders() -> dict[str, str]:
    """Values the text may name in braces; they follow the settings, so a page stays true
    when the installation changes them."""
    return {
        "市区町村名": settings.MUNICIPALITY_NAME,
        "一時保存の日数": str(settings.DRAFT_LIFETIME_DAYS),
        "予約の保存日数": str(getattr(settings, "RESERVATIONS_RETENTION_DAYS", 365)),
    }


def fill(text: str) -> str:
    for name, value in placeholders().items():
        text = text.replace("{" + name + "}", value)
    return text


def _inline(text: str) -> SafeString:
    # urlize escapes everything that it does not turn into a link.
    return mark_safe(urlize(text, nofollow=True, autoescape=True))  # noqa: S308


def render(text: str) -> SafeString:
    blocks = [block.strip("\n") for block in fill(text).replace("\r\n", "\n").split("\n\n")]
    html = []
    for block in filter(None, (b.strip() for b in blocks)):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        first = lines[0]
        if first.startswith(("## ", "### ")):
            heading = first.split(" ", 1)[1].strip()
            html.append(format_html("<h2>{}</h2>" if first.startswith("## ") else "<h3>{}</h3>", heading))
            lines = lines[1:]
            if not lines:
                continue
        if all(line.startswith(("- ", "・")) for line in lines):
            items = format_html_join("", "<li>{}</li>", ((_inline(line[1:].strip()),) for line in lines))
            html.append(format_html("<ul>{}</ul>", items))
        else:
            html.append(format_html("<p>{}</p>", mark_safe("<br>".join(_inline(line) for line in lines))))  # noqa: S308
    return mark_safe("\n".join(html))  # noqa: S308
