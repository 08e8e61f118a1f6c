"""Template tags for the site's frame: the page title and the municipality's name.

They read settings directly rather than the context, so that the 500 page, which Django
renders without a request or context processors, says the same as every other page.
"""

from django import template
from django.conf import settings
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()

SEPARATOR = " | "


def site_name() -> str:
    return f"{settings.MUNICIPALITY_NAME} てのひら"


@register.simple_tag
def municipality_name() -> str:
    return settings.MUNICIPALITY_NAME


class PageTitleNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        # The block rendered escaped; joining its words keeps it so.
        name = mark_safe(" ".join(self.nodelist.render(context).split()))  # noqa: S308
        if not name:
            return conditional_escape(site_name())
        return format_html("{}{}{}", name, SEPARATOR, site_name())


@register.tag
def page_title(parser, token):
    """`{% page_title %}{% block title %}{% endblock %}{% endpage_title %}` renders
    「ページ名 | サンプル市 てのひら」, or only the site's name when the page has none.

    A template cannot test whether a child filled a block, so the separator is decided
    after the block has rendered. The block inside stays overridable: Django finds
    blocks through every node's nodelist."""
    nodelist = parser.parse(("endpage_title",))
    parser.delete_first_token()
    return PageTitleNode(nodelist)
