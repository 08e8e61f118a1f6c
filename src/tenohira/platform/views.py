from django.shortcuts import render

from tenohira.platform import markup
from tenohira.platform.defaults import DEFAULT_PAGES
from tenohira.platform.models import SitePage


def site_page(request, slug: str):
    page = SitePage.objects.filter(slug=slug).first()
    if page is None:
        # The seed row is missing (a database emptied by hand): the footer link must still
        # lead to the default words rather than to a 404.
        title, body = DEFAULT_PAGES[slug]
        page = SitePage(slug=slug, title=title, body=body)
    return render(request, "platform/page.html", {"page": page, "body": markup.render(page.body)})
