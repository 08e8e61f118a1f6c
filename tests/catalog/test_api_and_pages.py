"""The JSON API under /api/v1/ and the resident pages of the catalog."""

import json

import pytest

from tenohira.catalog.models import Department, LifeEvent, Procedure, Section

pytestmark = pytest.mark.django_db

RESULT_FIELDS = {"id", "name", "reading", "department", "section", "channel", "url"}


# --- API -------------------------------------------------------------------------------------


def test_api_search_returns_the_hoiku_procedures(search_catalog, web, publish_form):
    publish_form(search_catalog["HIK"])
    response = web.get("/api/v1/procedures", {"q": "ほいく"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["count"] == 3
    assert {item["code"] for item in body["results"]} == {"HIK", "HSM", "GHG"}
    for item in body["results"]:
        assert set(item) >= RESULT_FIELDS
        procedure = search_catalog[item["code"]]
        assert item["id"] == procedure.pk
        assert item["name"] == procedure.name
        assert item["reading"] == procedure.reading
        assert item["department"] == procedure.section.department.name
        assert item["section"] == procedure.section.name
        assert item["channel"] == ("platform" if item["code"] == "HIK" else "counter")
        assert item["online"] is (item["code"] == "HIK")
        assert item["url"] == f"http://testserver/procedures/{procedure.code}/"
    hik = next(item for item in body["results"] if item["code"] == "HIK")
    assert (hik["department"], hik["section"], hik["channel"]) == ("こども部", "保育課", "platform")


def test_api_results_are_ranked_like_the_search(search_catalog, web):
    body = web.get("/api/v1/procedures", {"q": "印鑑登録"}).json()
    assert [item["code"] for item in body["results"]] == ["INK", "INS"]


def test_api_channels(search_catalog, web):
    results = web.get("/api/v1/procedures", {"q": "転"}).json()["results"]
    channels = {item["code"]: (item["channel"], item["external_url"]) for item in results}
    assert channels["TNS"] == ("external", "https://app.example.jp/tenshutsu")
    assert channels["TNY"] == ("counter", "")


def test_api_without_query_lists_every_published_procedure_busiest_first(search_catalog, web):
    body = web.get("/api/v1/procedures", {"page_size": 100}).json()
    published = Procedure.objects.filter(is_published=True)
    assert body["count"] == published.count() == len(search_catalog) - 1
    volumes = [item["annual_applications"] for item in body["results"]]
    assert volumes == sorted(volumes, reverse=True)
    assert "HIDDEN" not in {item["code"] for item in body["results"]}


def test_api_department_filter(search_catalog, web):
    kodomo = Department.objects.get(name="こども部")
    body = web.get("/api/v1/procedures", {"q": "申込", "department": kodomo.pk}).json()
    assert [item["code"] for item in body["results"]] == ["HIK"]


def test_api_unpublished_procedure_is_not_found(search_catalog, web):
    assert web.get("/api/v1/procedures", {"q": "内部監査"}).json()["count"] == 0


def test_api_query_of_100_characters_is_accepted(search_catalog, web):
    assert web.get("/api/v1/procedures", {"q": "ほ" * 100}).status_code == 200


@pytest.mark.parametrize("query", ["ほ" * 101, "保育 " * 40])
def test_api_query_longer_than_100_characters_is_refused_in_japanese(search_catalog, web, query):
    response = web.get("/api/v1/procedures", {"q": query})
    assert response.status_code == 400
    assert response.json() == {"q": ["検索語は100文字以内にしてください。"]}


def test_api_bad_department_is_refused(search_catalog, web):
    assert web.get("/api/v1/procedures", {"department": "こども部"}).status_code == 400


def test_api_works_on_an_allowed_host_without_settings_changes(search_catalog, client):
    response = client.get("/api/v1/procedures", {"q": "ほいく"}, HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response.json()["results"][0]["url"].startswith("http://localhost/procedures/")


def test_openapi_document(web):
    response = web.get("/api/v1/schema/")
    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/procedures" in document["paths"]
    operation = document["paths"]["/api/v1/procedures"]["get"]
    assert {"q", "department"} <= {parameter["name"] for parameter in operation["parameters"]}


# --- resident pages -----------------------------------------------------------------------


def test_home_page(search_catalog, web):
    response = web.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'action="/search/"' in page
    assert 'href="/life-events/moving/"' in page
    assert "こども部" in page


def test_search_page_lists_results(search_catalog, web):
    response = web.get("/search/", {"q": "ほいく"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "3件の手続きが見つかりました" in page
    for code in ("HIK", "HSM", "GHG"):
        assert f'href="/procedures/{code}/"' in page


def test_search_page_without_query(search_catalog, web):
    response = web.get("/search/")
    assert response.status_code == 200
    assert 'href="/life-events/moving/"' in response.content.decode()


def test_search_page_cuts_a_long_query_and_says_so(search_catalog, web):
    response = web.get("/search/", {"q": "保育" + "あ" * 200})
    assert response.status_code == 200
    assert "検索語が長すぎるため、先頭の100文字で探しました。" in response.content.decode()


def test_department_pages(search_catalog, web):
    response = web.get("/departments/")
    assert response.status_code == 200
    page = response.content.decode()
    for department in Department.objects.all():
        assert department.name in page
    kodomo = Department.objects.get(name="こども部")
    response = web.get(f"/departments/{kodomo.pk}/")
    assert response.status_code == 200
    assert "保育課" in response.content.decode()
    assert "子育て支援課" in response.content.decode()


def test_section_page_lists_only_published_procedures(search_catalog, web):
    section = Section.objects.get(name="市民活動課")
    response = web.get(f"/sections/{section.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "市民活動センター利用者登録の申し込み" in page
    assert "内部監査資料の閲覧申請" not in page


def test_life_event_pages(search_catalog, web):
    response = web.get("/life-events/")
    assert response.status_code == 200
    for event in LifeEvent.objects.all():
        assert event.name in response.content.decode()
    response = web.get("/life-events/moving/")
    assert response.status_code == 200
    page = response.content.decode()
    for code in ("TNY", "TNS", "TNK", "KKH"):
        assert f'href="/procedures/{code}/"' in page


def test_procedure_page_with_a_published_form_offers_the_online_application(search_catalog, web, publish_form):
    publish_form(search_catalog["HIK"])
    response = web.get("/procedures/HIK/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "保育所等の利用申込" in page
    assert "スマートフォンやパソコンから24時間いつでも申請できます" in page
    assert 'href="/procedures/HIK/apply/"' in page
    # Easiest first: the online way comes before the counter.
    assert page.index("このサイトからオンラインで申請") < page.index("窓口で申請")


def test_procedure_marked_online_without_a_form_is_not_shown_as_online(search_catalog, web):
    page = web.get("/procedures/HIK/").content.decode()
    assert "24時間" not in page
    assert "オンラインで申請する" not in page
    assert "準備中" not in page
    assert "本庁舎 保育課" in page  # the counter the catalog names
    listing = web.get("/search/", {"q": "保育所等の利用申込"}).content.decode()
    assert "オンライン申請</span>" not in listing
    assert "窓口で申請</span>" in listing


def test_online_status_follows_the_application_window(search_catalog, web, publish_form):
    import datetime as dt

    from django.utils import timezone

    from tenohira.catalog.selectors import online_procedure_ids

    hik = search_catalog["HIK"]
    now = timezone.now()
    publish_form(hik, opens_at=now + dt.timedelta(days=3))
    page = web.get("/procedures/HIK/").content.decode()
    assert "オンラインの受付はまだ始まっていません。" in page and "から受け付けます" in page and "令和" in page
    assert "オンラインで申請する" not in page
    assert hik.pk not in online_procedure_ids()
    assert hik.pk in online_procedure_ids(now + dt.timedelta(days=4))

    publish_form(hik, opens_at=now - dt.timedelta(days=30), closes_at=now - dt.timedelta(days=1))
    page = web.get("/procedures/HIK/").content.decode()
    assert "で終了しました" in page
    assert hik.pk not in online_procedure_ids()

    publish_form(hik, opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=1))
    assert hik.pk in online_procedure_ids()
    assert "オンラインで申請する" in web.get("/procedures/HIK/").content.decode()


def test_online_filter_keeps_only_procedures_that_can_be_applied_for_online_now(search_catalog, web, publish_form):
    publish_form(search_catalog["SDG"])
    page = web.get("/search/", {"q": "ごみ", "online": "1"}).content.decode()
    assert 'href="/procedures/SDG/"' in page
    every = web.get("/search/", {"online": "1"}).content.decode()
    codes = {code for code in search_catalog if f'href="/procedures/{code}/"' in every}
    # the published form and the external online services; HIK/HKG are marked online without a form
    assert codes == {"SDG", "TNS", "MNC", "JDT", "PCR"}
    home = web.get("/").content.decode()
    assert "オンラインで申請できる手続きの一覧（5件）" in home


def test_procedure_page_for_the_external_channel_names_the_service(search_catalog, web):
    response = web.get("/procedures/TNS/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "app.example.jp" in page  # no name given: the page names the host it goes to
    assert 'href="https://app.example.jp/tenshutsu"' in page
    assert "（外部サイト）" in page


def test_procedure_page_for_the_counter_channel_shows_place_and_hours(search_catalog, web):
    response = web.get("/procedures/HJC/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "窓口で申請" in page
    assert "本庁舎1階 市民課 ①番窓口" in page
    assert "平日 8:30～17:15" in page


def test_unknown_pages_are_404(search_catalog, web):
    assert web.get("/procedures/NOSUCH/").status_code == 404
    assert web.get("/departments/999999/").status_code == 404
    assert web.get("/sections/999999/").status_code == 404
    assert web.get("/life-events/no-such-event/").status_code == 404


def test_unpublished_procedure_has_no_page(search_catalog, web):
    assert Procedure.objects.filter(code="HIDDEN").exists()
    assert web.get("/procedures/HIDDEN/").status_code == 404
    page = web.get("/search/", {"q": "内部監査資料の閲覧申請"}).content.decode()
    assert "/procedures/HIDDEN/" not in page


def test_unknown_host_is_refused(client):
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400


def test_api_online_filter(search_catalog, web, publish_form):
    publish_form(search_catalog["SDG"])
    body = web.get("/api/v1/procedures", {"online": "true"}).json()
    assert {item["code"] for item in body["results"]} == {"SDG", "TNS", "MNC", "JDT", "PCR"}
    assert all(item["online"] for item in body["results"])
    body = web.get("/api/v1/procedures", {"q": "ほいく", "online": "true"}).json()
    assert body["count"] == 0
    assert web.get("/api/v1/procedures", {"online": "たぶん"}).status_code == 400


def test_api_refuses_ids_and_sizes_the_database_cannot_hold(search_catalog, web):
    # Found by the schemathesis run: a 25-digit department id overflowed SQLite (a 500).
    for params in ({"department": "4000899286033844645396480"}, {"page_size": "9" * 5000}):
        response = web.get("/api/v1/procedures", params)
        assert response.status_code == 400, params


def test_api_drops_control_characters_from_the_query(search_catalog, web):
    # Found by the schemathesis run: q=%00 was refused although the document allows it.
    assert web.get("/api/v1/procedures", {"q": "\x00"}).status_code == 200
    body = web.get("/api/v1/procedures", {"q": "ほいく\x00"}).json()
    assert {item["code"] for item in body["results"]} >= {"HIK"}
