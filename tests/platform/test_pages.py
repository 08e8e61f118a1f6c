"""The frame of every resident page (title, language, footer) and the site's own pages."""

import re
from pathlib import Path

import pytest

from tenohira.platform.models import SitePage

TITLE = re.compile(r"<title>(.*?)</title>", re.S)
SITE = "サンプル市 てのひら"
FOOTER_LINKS = {
    "/contact/": "お問い合わせ",
    "/privacy/": "プライバシーポリシー",
    "/accessibility/": "アクセシビリティ方針",
    "/terms/": "利用規約",
    "/status/": "申請状況の確認",
}


def title_of(html: str) -> str:
    return TITLE.search(html).group(1)


@pytest.fixture
def pages(db, settings):
    settings.MUNICIPALITY_NAME = "サンプル市"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/search/?q=%E3%81%BB%E3%81%84%E3%81%8F", "「ほいく」の検索結果"),
        ("/departments/", "担当部署から探す"),
        ("/life-events/", "暮らしのできごとから探す"),
        ("/status/", "申請状況の確認"),
        ("/contact/", "お問い合わせ"),
        ("/privacy/", "プライバシーポリシー"),
        ("/accessibility/", "アクセシビリティ方針"),
        ("/terms/", "利用規約"),
        ("/no-such-page/", "ページが見つかりません"),
    ],
)
def test_every_page_has_its_name_then_the_site_in_the_title_and_the_footer(pages, browser, path, name):
    html = browser.get(path).content.decode()
    assert title_of(html) == f"{name} | {SITE}"
    assert '<html lang="ja">' in html
    footer = html[html.index('<footer class="site-footer">'):]
    for href, label in FOOTER_LINKS.items():
        assert f'<a href="{href}">{label}</a>' in footer


def test_the_title_follows_the_municipality_setting(pages, browser, settings):
    settings.MUNICIPALITY_NAME = "てのひら町"
    assert title_of(browser.get("/privacy/").content.decode()) == "プライバシーポリシー | てのひら町 てのひら"


def test_a_page_without_a_name_is_titled_by_the_site_alone(pages, browser):
    # The top page may name no page of its own: then no dangling separator.
    title = title_of(browser.get("/").content.decode())
    assert title == SITE or (title.endswith(f" | {SITE}") and not title.startswith(" | "))


def test_a_page_name_is_escaped_once(pages, browser):
    html = browser.get("/search/", {"q": "<b>&"}).content.decode()
    assert title_of(html) == f"「&lt;b&gt;&amp;」の検索結果 | {SITE}"


def test_the_four_pages_are_seeded_by_the_migration(db):
    assert set(SitePage.objects.values_list("slug", flat=True)) == set(SitePage.Slug.values)


def test_the_privacy_policy_names_what_the_software_stores(pages, browser):
    html = browser.get("/privacy/").content.decode()
    for stored in ("申請フォームに入力した回答", "添付ファイル", "メールアドレス", "アクセスログ", "監査ログ", "Cookie"):
        assert stored in html
    # Drafts are deleted after the configured number of days, and the page says so.
    assert "最後に変更した日から30日" in html
    # Bookings are kept as long as the reservations' retention setting says.
    assert "予約した方の氏名" in html and "予約の枠が終わってから365日" in html


def test_the_privacy_policy_follows_the_draft_lifetime_setting(pages, browser, settings):
    settings.DRAFT_LIFETIME_DAYS = 14
    assert "最後に変更した日から14日" in browser.get("/privacy/").content.decode()


def test_the_accessibility_policy_names_its_target(pages, browser):
    html = browser.get("/accessibility/").content.decode()
    assert "JIS X 8341-3:2016" in html and "適合レベル AA" in html


def test_the_dx_division_edits_a_page_and_residents_see_it(pages, browser):
    page = SitePage.objects.get(slug="contact")
    page.title = "お問い合わせ先"
    page.body = (
        "{市区町村名} DX推進課\n電話 0120-000-000\n\n"
        "## 受付時間\n- 平日 8:30～17:15\n- 土日祝日と年末年始を除く\n\n"
        "メール: dx@example.lg.jp <script>alert(1)</script>"
    )
    page.save()
    html = browser.get("/contact/").content.decode()
    assert title_of(html) == f"お問い合わせ先 | {SITE}"
    assert "<p>サンプル市 DX推進課<br>電話 0120-000-000</p>" in html
    assert "<h2>受付時間</h2>" in html
    assert "<ul><li>平日 8:30～17:15</li><li>土日祝日と年末年始を除く</li></ul>" in html
    assert '<a href="mailto:dx@example.lg.jp">dx@example.lg.jp</a>' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "最終更新:" in html


def test_a_missing_page_row_falls_back_to_the_default_words(pages, browser):
    SitePage.objects.filter(slug="terms").delete()
    response = browser.get("/terms/")
    assert response.status_code == 200
    assert "規約の変更" in response.content.decode()


def test_pages_are_in_the_admin_to_edit_but_never_to_add_or_delete(rf):
    from django.contrib import admin

    model_admin = admin.site._registry[SitePage]
    request = rf.get("/admin/")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_line_breaking_keeps_small_kana_with_their_word():
    from django.contrib.staticfiles import finders

    css = Path(finders.find("tenohira/css/site.css")).read_text(encoding="utf-8")
    body = re.search(r"\nbody \{(.*?)\}", css, re.S).group(1)
    for declaration in ("line-break: strict;", "word-break: auto-phrase;", "overflow-wrap: anywhere;"):
        assert declaration in body
