"""A resident on a phone finds a procedure and learns how to apply, in a real Chromium.

The catalog is imported through the real importer (as a municipality would), the pages are
served by pytest-django's live server, and every page a resident passes through is checked
with axe-core: any violation fails the test.
"""

import csv
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

pytestmark = [
    pytest.mark.browser,
    # Transactional because the live server reads the database from another thread;
    # serialized_rollback restores the life events and synonyms seeded by migration 0002,
    # which the flush after every transactional test would otherwise wipe.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

HOIKU = ["保育所等の利用申し込み", "保育の必要性の認定申請", "保育料の減免申請", "一時保育の利用登録"]
EXTERNAL_URL = "https://app.oss.myna.go.jp/Application/search?keyword=%E8%BB%A2%E5%87%BA"
COUNTER_PLACE = "本庁舎2階 保育課 5番窓口"
COUNTER_HOURS = "平日 8時30分〜17時15分（第2土曜日は9時〜12時）"

# (手続ID, 部局, 所属, 手続名, よみ, キーワード, 概要, 申請方法, 申請先URL, 窓口, 受付時間, 本人確認, ライフイベント, 年間申請件数)
# The 保育 procedures have no よみ on purpose: the importer must derive it for ほいく to find them.
CATALOG = [
    ("HOIKU-01", "子ども未来部", "保育課", HOIKU[0], "", "保育園、入園",
     "認可保育所・認定こども園などの利用を申し込みます。", "オンライン", "",
     "本庁舎2階 保育課", "平日 8時30分〜17時15分", "マイナンバーカード", "子育て、入園・入学", 2400),
    ("HOIKU-02", "子ども未来部", "保育課", HOIKU[1], "", "",
     "保育が必要な事由（就労・介護など）を認定します。", "外部サービス",
     "https://app.oss.myna.go.jp/Application/search?keyword=%E4%BF%9D%E8%82%B2",
     "", "", "マイナンバーカード", "子育て", 1800),
    ("HOIKU-03", "子ども未来部", "保育課", HOIKU[2], "", "",
     "災害や失業などで保育料の支払いが難しいときに減免を申請します。", "窓口", "",
     COUNTER_PLACE, COUNTER_HOURS, "不要", "子育て", 60),
    ("HOIKU-04", "子ども未来部", "保育課", HOIKU[3], "", "一時預かり",
     "保護者の急用やリフレッシュのため、保育所で一時的に預かります。", "窓口", "",
     "各保育所", "平日 9時〜16時", "不要", "子育て", 900),
    ("JUMIN-01", "市民部", "市民課", "住民票の写しの交付請求", "じゅうみんひょうのうつしのこうふせいきゅう",
     "住民票", "住民票の写しを交付します。コンビニ交付も利用できます。", "窓口", "",
     "本庁舎1階 市民課 1番窓口", "平日 8時30分〜17時15分", "不要", "引越し", 52000),
    ("JUMIN-02", "市民部", "市民課", "転出届", "てんしゅつとどけ", "引っ越し、転出",
     "市外へ引っ越すときの届出です。マイナンバーカードがあればオンラインで出せます。", "外部サービス",
     EXTERNAL_URL, "", "", "マイナンバーカード", "引越し", 4100),
    ("JUMIN-03", "市民部", "市民課", "転入届", "てんにゅうとどけ", "",
     "市外から引っ越してきたときの届出です。", "窓口", "", "本庁舎1階 市民課 2番窓口",
     "平日 8時30分〜17時15分", "不要", "引越し", 4300),
    ("KANKYO-01", "環境部", "ごみ減量推進課", "粗大ごみの収集申し込み", "", "粗大ゴミ",
     "家具や自転車などの粗大ごみの戸別収集を申し込みます。", "オンライン", "", "", "",
     "メールアドレス", "ごみ・リサイクル", 15000),
    ("KANKYO-02", "環境部", "生活環境課", "犬の登録", "いぬのとうろく", "畜犬登録",
     "生後91日以上の犬を飼い始めたときの登録です。", "窓口", "", "本庁舎3階 生活環境課",
     "平日 8時30分〜17時15分", "不要", "ペット", 700),
    ("KAIGO-01", "健康福祉部", "介護保険課", "要介護・要支援認定の申請", "", "",
     "介護サービスを利用するための認定を申請します。", "窓口", "", "本庁舎1階 介護保険課",
     "平日 8時30分〜17時15分", "不要", "介護、高齢者", 3200),
]


@pytest.fixture
def catalog(tmp_path):
    """The small catalog above, imported through the real importer from a CSV file."""
    from tenohira.catalog.services import COLUMNS, import_catalog

    path = tmp_path / "catalog.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for (code, department, section, name, reading, keywords, summary, channel, url, place,
             hours, identity, events, volume) in CATALOG:
            writer.writerow({
                **dict.fromkeys(COLUMNS, ""),
                "手続ID": code, "部局": department, "所属": section, "手続名": name, "よみ": reading,
                "キーワード": keywords, "概要": summary, "申請方法": channel, "申請先URL": url,
                "窓口": place, "受付時間": hours, "本人確認": identity, "ライフイベント": events,
                "年間申請件数": volume, "手数料": "", "公開": "はい",
            })
    result = import_catalog(path)
    assert result.created == len(CATALOG), result.summary()
    assert result.readings_derived >= len(HOIKU)
    return {row[0]: row for row in CATALOG}


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def assert_accessible(page: Page, where: str) -> None:
    """Run axe-core on the page as rendered; fail on any violation, saying what and where."""
    violations = Axe().run(page).response["violations"]
    report = [
        f"{v['id']} [{v.get('impact')}] {v['description']} ({v['helpUrl']})\n"
        + "\n".join(f"    at {node['target']}: {node.get('failureSummary', '')}" for node in v["nodes"])
        for v in violations
    ]
    assert not violations, f"axe-core found {len(violations)} violation(s) on {where} ({page.url}):\n" + "\n".join(report)


def assert_styled(page: Page) -> None:
    """The site stylesheet was served and applied (an unstyled page would pass the layout
    and contrast checks for the wrong reason)."""
    header = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
    assert header == "rgb(0, 23, 193)", f"site.css not applied on {page.url} (header background {header})"


def search_from_home(page: Page, base_url: str, query: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("手続きの名前やキーワード", exact=True).fill(query)
    page.get_by_role("button", name="検索", exact=True).click()
    page.wait_for_url("**/search/?q=*")


def result_names(page: Page) -> list[str]:
    return [name.strip() for name in page.locator(".result-list .result__name").all_inner_texts()]


def open_procedure(page: Page, name: str) -> None:
    page.locator(".result-list").get_by_role("link", name=name, exact=True).click()
    page.wait_for_url("**/procedures/*/")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    how_to_apply = page.get_by_role("region", name="申請のしかた")
    expect(how_to_apply).to_be_visible()
    expect(how_to_apply.get_by_role("heading", level=2, name="申請のしかた")).to_be_visible()


def assert_no_horizontal_scroll(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways at {width} px: scrollWidth={scroll_width}"


def test_search_in_hiragana_and_open_a_procedure(live_server, catalog, phone, screenshots):
    page = phone
    page.goto(live_server.url + "/")
    expect(page).to_have_title("手続きを探す | サンプル市 てのひら")
    assert_styled(page)
    assert_accessible(page, "the home page")

    search_from_home(page, live_server.url, "ほいく")
    expect(page.get_by_role("heading", level=1)).to_have_text("「ほいく」の検索結果")
    names = result_names(page)
    missing = [name for name in HOIKU if name not in names]
    assert not missing, f"ほいく did not list {missing}; results: {names}"
    # Names match above the rest: the 保育 procedures come first, busiest first.
    assert names[: len(HOIKU)] == sorted(HOIKU, key=lambda n: -next(r[-1] for r in CATALOG if r[3] == n))
    assert_accessible(page, "the results page")
    page.screenshot(path=screenshots / "results-390.png", full_page=True)

    open_procedure(page, HOIKU[2])
    how_to_apply = page.get_by_role("region", name="申請のしかた")
    expect(how_to_apply).to_contain_text(COUNTER_PLACE)
    assert_accessible(page, "a procedure page")
    page.screenshot(path=screenshots / "procedure-390.png", full_page=True)
    print(f"screenshots in {screenshots}")


def test_no_match_suggests_life_events_and_departments(live_server, catalog, phone, screenshots):
    page = phone
    query = "zzzz存在しない手続き"
    search_from_home(page, live_server.url, query)
    expect(page.locator(".result-list")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(f"「{query}」に当てはまる手続きは見つかりませんでした。")

    events = page.get_by_role("heading", level=2, name="暮らしのできごとから探す")
    expect(events).to_be_visible()
    expect(page.get_by_role("link", name="子育て")).to_be_visible()
    expect(page.get_by_role("heading", level=2, name="担当部署から探す")).to_be_visible()
    for department in ("子ども未来部", "市民部", "環境部", "健康福祉部"):
        expect(page.locator(".suggestions").get_by_role("link", name=department, exact=True)).to_be_visible()
    # The search box stays, holding what was typed, so the resident can try again.
    expect(page.get_by_label("もう一度探す")).to_have_value(query)
    assert_accessible(page, "the no-match page")
    page.screenshot(path=screenshots / "no-match-390.png", full_page=True)

    # A suggestion leads somewhere useful.
    page.get_by_role("link", name="子育て").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("子育て")
    expect(page.get_by_role("link", name=HOIKU[0])).to_be_visible()


def test_search_and_open_without_javascript(live_server, catalog, phone_without_js):
    page = phone_without_js
    # JavaScript really is off in this context: an inline script does not run.
    page.set_content("<title>off</title><script>document.title = 'on'</script>")
    assert page.title() == "off"

    search_from_home(page, live_server.url, "ほいく")
    names = result_names(page)
    assert set(HOIKU) <= set(names), f"ほいく without JavaScript listed {names}"
    open_procedure(page, HOIKU[0])


@pytest.mark.parametrize("code", ["JUMIN-02", "HOIKU-03", "HOIKU-01"], ids=["external", "counter", "platform"])
def test_each_channel_has_its_one_action_and_fits_320px(live_server, catalog, narrow_phone, screenshots, code):
    page = narrow_phone
    _, _, _, name, _, _, _, channel, url, place, hours, *_ = catalog[code]
    page.goto(f"{live_server.url}/procedures/{code}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    how_to_apply = page.get_by_role("region", name="申請のしかた")
    expect(how_to_apply).to_be_visible()
    assert_styled(page)

    if channel == "外部サービス":
        # The link names the service it goes to (known from its address).
        action = how_to_apply.get_by_role("link", name="マイナポータル ぴったりサービスで申請する（外部サイト）")
        expect(action).to_be_visible()
        expect(action).to_have_attribute("href", url)
        action.scroll_into_view_if_needed()
        box = action.bounding_box()
        assert box and box["height"] >= 44, f"the external link is not a comfortable touch target: {box}"
    elif channel == "窓口":
        expect(how_to_apply.get_by_role("heading", level=3, name="窓口で申請")).to_be_visible()
        expect(how_to_apply.get_by_text(place, exact=True)).to_be_visible()
        expect(how_to_apply.get_by_text(hours, exact=True)).to_be_visible()
        expect(how_to_apply.get_by_role("link")).to_have_count(0)
    else:
        # Marked online, but no form is published: nothing on the page says online; the
        # counter is where to go.
        expect(how_to_apply).not_to_contain_text("24時間")
        expect(how_to_apply.get_by_role("link", name="オンラインで申請する")).to_have_count(0)
        expect(how_to_apply.get_by_text(place, exact=True)).to_be_visible()
        # Once a form is published, the online way comes first, with its one action.
        from tenohira.catalog.models import Procedure
        from tenohira.forms.services import publish

        publish(Procedure.objects.get(code=code), {
            "title": name, "steps": [{"key": "a", "title": "申請者", "fields": [{"key": "name", "type": "text", "label": "氏名"}]}],
        })
        page.reload()
        expect(how_to_apply).to_contain_text("24時間いつでも申請できます")
        start = how_to_apply.get_by_role("link", name="オンラインで申請する")
        expect(start).to_be_visible()
        first_way = how_to_apply.locator(".way").first
        expect(first_way.get_by_role("link", name="オンラインで申請する")).to_be_visible()
        expect(how_to_apply.get_by_text(place, exact=True)).to_be_visible()

    assert_no_horizontal_scroll(page, 320)
    page.screenshot(path=screenshots / f"procedure-{code}-320.png", full_page=True)

    # The way there fits too.
    page.goto(f"{live_server.url}/search/?q=%E3%81%BB%E3%81%84%E3%81%8F")
    assert_no_horizontal_scroll(page, 320)
    page.goto(live_server.url + "/")
    assert_no_horizontal_scroll(page, 320)
    assert urlparse(page.url).path == "/"
