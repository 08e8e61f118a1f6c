"""Residents get Japanese error pages, never Django's debug page, in the demo as well."""

import sys
import types

import pytest
from django.test import Client
from django.urls import path

SITE = "サンプル市 てのひら"


def boom(request):
    raise RuntimeError("forced for the test")


@pytest.fixture
def failing_site(settings, monkeypatch):
    """The real URLs plus /boom/, whose view fails."""
    from tenohira.config import urls

    module = types.ModuleType("tenohira_test_failing_urls")
    module.urlpatterns = [path("boom/", boom), *urls.urlpatterns]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    settings.ROOT_URLCONF = module.__name__
    return Client(HTTP_HOST="localhost", raise_request_exception=False)


def test_a_missing_page_is_a_japanese_404_with_the_way_back(db, browser, settings):
    settings.DEMO = True  # the demo too
    response = browser.get("/procedures/NO-SUCH/")
    html = response.content.decode()
    assert response.status_code == 404
    assert f"<title>ページが見つかりません | {SITE}</title>" in html
    assert '<a href="/">トップページへ戻る</a>' in html
    assert 'action="/search/"' in html and '<a href="/search/">' in html
    assert "Traceback" not in html and "Page not found" not in html


def test_a_failing_page_is_a_japanese_500_with_the_way_back(db, failing_site, settings):
    settings.DEMO = True
    response = failing_site.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500
    assert f"<title>エラーが発生しました | {SITE}</title>" in html
    assert '<html lang="ja">' in html
    assert '<a href="/">トップページへ戻る</a>' in html and 'action="/search/"' in html
    assert "forced for the test" not in html and "Traceback" not in html


def test_the_500_page_renders_without_a_request_context_or_database(rf, settings):
    # No db fixture: pytest-django fails the test on any query.
    from django.views.defaults import server_error

    settings.MUNICIPALITY_NAME = "てのひら町"
    html = server_error(rf.get("/")).content.decode()
    assert "<title>エラーが発生しました | てのひら町 てのひら</title>" in html
    assert "てのひら町" in html and "/static/tenohira/css/site.css" in html


def test_a_refused_form_post_is_explained_in_japanese(db, settings):
    client = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    response = client.post("/status/", {"receipt_number": "2024-HKC-000001"})
    assert response.status_code == 403
    assert "送信できませんでした" in response.content.decode()
