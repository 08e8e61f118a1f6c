"""Several ways to apply per procedure, honest online status, planned online year, and
the first steps of a life event."""

import datetime as dt

import pytest
from django.utils import timezone

from tenohira.catalog.models import Channel, LifeEvent, LifeEventFirstStep, Procedure
from tenohira.catalog.selectors import (
    online_procedure_ids,
    online_procedure_ids_during,
    online_without_form,
    ways_to_apply,
)
from tenohira.catalog.services import COLUMNS, export_catalog, import_catalog

pytestmark = pytest.mark.django_db

MANY_WAYS = {
    "手続ID": "HJC", "部局": "市民部", "所属": "市民課", "手続名": "住民票の写し等の交付請求",
    "必要なもの": "本人確認書類（運転免許証、マイナンバーカード等）、手数料",
    "申請方法": "オンライン、外部サービス、郵送、窓口",
    "外部サービス名": "",
    "申請先URL": "https://app.oss.myna.go.jp/Application/search",
    "郵送先": "〒000-0000 サンプル市本町1-1 サンプル市役所 市民課 郵送請求係",
    "窓口": "本庁舎1階 市民課 ①番窓口\n北行政センター",
    "受付時間": "平日 8:30〜17:15\n平日 9:00〜17:00",
    "オンライン化予定年度": "令和8年度",
}


def test_one_row_gives_every_way_to_apply_easiest_first(write_csv, web):
    import_catalog(write_csv([MANY_WAYS]))
    procedure = Procedure.objects.get(code="HJC")
    assert procedure.planned_online_fiscal_year == 2026
    stored = [(c.kind, c.place, c.hours) for c in procedure.channels.order_by("order")]
    assert stored == [
        (Channel.PLATFORM, "", ""),
        (Channel.EXTERNAL, "", ""),
        (Channel.POST, MANY_WAYS["郵送先"], ""),
        (Channel.COUNTER, "本庁舎1階 市民課 ①番窓口", "平日 8:30〜17:15"),
        (Channel.COUNTER, "北行政センター", "平日 9:00〜17:00"),
    ]
    # No published form: the page shows the other ways, never 「オンライン」 here.
    ways = ways_to_apply(procedure)
    assert [w.kind for w in ways] == [Channel.EXTERNAL, Channel.POST, Channel.COUNTER, Channel.COUNTER]
    assert ways[0].service_name == "マイナポータル ぴったりサービス"
    assert ways[2].bring == ["本人確認書類（運転免許証、マイナンバーカード等）", "手数料"]
    page = web.get("/procedures/HJC/").content.decode()
    order = [page.index(text) for text in (
        "マイナポータル ぴったりサービスで申請する（外部サイト）", "郵送で申請", "本庁舎1階 市民課 ①番窓口", "北行政センター",
    )]
    assert order == sorted(order)
    assert "24時間" not in page


def test_export_then_import_changes_nothing(write_csv, tmp_path):
    import_catalog(write_csv([MANY_WAYS, {"部局": "市民部", "所属": "市民課", "手続名": "転入届"}]))
    target = tmp_path / "out.csv"
    export_catalog(str(target))
    header = target.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header == COLUMNS
    again = import_catalog(target)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_changing_a_counter_keeps_what_only_the_admin_holds(write_csv):
    import_catalog(write_csv([MANY_WAYS]))
    counter = Procedure.objects.get(code="HJC").channels.get(place="北行政センター")
    counter.bring = "印鑑"
    counter.save()
    result = import_catalog(write_csv([dict(MANY_WAYS, 受付時間="平日 8:30〜17:15")]))
    assert result.updated == 1
    counter = Procedure.objects.get(code="HJC").channels.get(place="北行政センター")
    assert (counter.hours, counter.bring) == ("平日 8:30〜17:15", "印鑑")


def test_old_single_channel_files_keep_working(write_csv):
    rows = [
        {"部局": "市民部", "所属": "市民課", "手続名": "転出届", "申請方法": "外部サービス",
         "申請先URL": "https://example.jp/tenshutsu", "窓口": "本庁舎1階"},
        {"部局": "市民部", "所属": "市民課", "手続名": "印鑑登録", "申請方法": "窓口"},
    ]
    import_catalog(write_csv(rows, columns=["部局", "所属", "手続名", "申請方法", "申請先URL", "窓口"]))
    assert [c.kind for c in Procedure.objects.get(name="転出届").channels.all()] == [Channel.EXTERNAL, Channel.COUNTER]
    stamp = Procedure.objects.get(name="印鑑登録")
    [way] = ways_to_apply(stamp)
    assert way.kind == Channel.COUNTER and "市民課" in way.place


def test_planned_year_spellings(write_csv):
    rows = [
        {"部局": "市民部", "所属": "市民課", "手続名": f"手続{i}", "オンライン化予定年度": text}
        for i, text in enumerate(["2025", "2025年度", "令和7年度", "R7", "Ｒ７年度"])
    ]
    import_catalog(write_csv(rows, columns=["部局", "所属", "手続名", "オンライン化予定年度"]))
    assert set(Procedure.objects.values_list("planned_online_fiscal_year", flat=True)) == {2025}


def test_headers_as_the_city_writes_them(write_csv):
    path = write_csv(
        [{"No.": "1", "部局名": "市民部", "課名": "市民課", "手続き名": "転入届", "年間件数": "8,000"}],
        columns=["No.", "部局名", "課名", "手続き名", "年間件数"],
    )
    assert import_catalog(path).created == 1
    assert Procedure.objects.get().annual_applications == 8000


def test_online_status_counts_only_published_forms_and_external_services(write_csv, publish_form):
    rows = [
        {"手続ID": "FRM", "部局": "市民部", "所属": "市民課", "手続名": "フォームあり", "申請方法": "オンライン"},
        {"手続ID": "NOF", "部局": "市民部", "所属": "市民課", "手続名": "フォームなし", "申請方法": "オンライン"},
        {"手続ID": "EXT", "部局": "市民部", "所属": "市民課", "手続名": "外部", "申請方法": "外部サービス",
         "外部サービス名": "かんたん電子申請", "申請先URL": "https://example.jp/kantan"},
        {"手続ID": "PST", "部局": "市民部", "所属": "市民課", "手続名": "郵送", "申請方法": "郵送", "郵送先": "市民課"},
    ]
    import_catalog(write_csv(rows))
    by_code = {p.code: p for p in Procedure.objects.all()}
    publish_form(by_code["FRM"])
    assert online_procedure_ids() == {by_code["FRM"].pk, by_code["EXT"].pk}
    assert [p.code for p in online_without_form()] == ["NOF"]


def test_online_during_a_fiscal_year_needs_a_window_inside_it(write_csv, publish_form):
    import_catalog(write_csv([{"手続ID": "HKC", "部局": "こども部", "所属": "こども育成課",
                               "手続名": "放課後児童クラブ入所申請", "申請方法": "オンライン"}]))
    hkc = Procedure.objects.get(code="HKC")
    zone = timezone.get_default_timezone()
    publish_form(
        hkc,
        opens_at=dt.datetime(2023, 11, 6, tzinfo=zone),
        closes_at=dt.datetime(2023, 12, 1, tzinfo=zone),
    )
    hkc.form.versions.update(published_at=dt.datetime(2023, 10, 1, tzinfo=zone))
    assert hkc.pk in online_procedure_ids_during(dt.date(2023, 4, 1), dt.date(2024, 3, 31))
    assert hkc.pk not in online_procedure_ids_during(dt.date(2024, 4, 1), dt.date(2025, 3, 31))
    assert hkc.pk not in online_procedure_ids_during(dt.date(2022, 4, 1), dt.date(2023, 3, 31))


def test_life_event_page_opens_with_the_first_steps(search_catalog, web):
    moving = LifeEvent.objects.get(slug="moving")
    LifeEventFirstStep.objects.create(life_event=moving, procedure=search_catalog["TNS"], note="引越しの前に", order=1)
    LifeEventFirstStep.objects.create(life_event=moving, procedure=search_catalog["TNY"], note="引越しから14日以内", order=2)
    page = web.get("/life-events/moving/").content.decode()
    first = page.index("まず必要な手続き")
    assert first < page.index('href="/procedures/TNS/"') < page.index('href="/procedures/TNY/"')
    assert "引越しから14日以内" in page
    rest = page.split("そのほかの手続き", 1)[1]
    assert 'href="/procedures/TNK/"' in rest
    assert 'href="/procedures/TNY/"' not in rest


def test_departments_and_life_events_follow_the_order_set_in_the_admin(search_catalog, web):
    from tenohira.catalog.models import Department

    departments = list(Department.objects.order_by("id"))
    for position, department in enumerate(reversed(departments)):
        department.order = position
        department.save()
    events = list(LifeEvent.objects.order_by("id"))
    for position, event in enumerate(reversed(events)):
        event.order = position
        event.save()
    page = web.get("/").content.decode()
    shown = [page.index(f'href="{d.get_absolute_url()}"') for d in reversed(departments)]
    assert shown == sorted(shown)
    listed = [e for e in reversed(events) if f'href="{e.get_absolute_url()}"' in page]
    positions = [page.index(f'href="{e.get_absolute_url()}"') for e in listed]
    assert len(listed) > 3 and positions == sorted(positions)


def test_no_page_claims_a_card_check_that_is_not_performed(search_catalog, web, publish_form):
    """The card is checked online only where this site's own form asks for it (the
    application pages enforce it); elsewhere the page names the documents checked at the
    counter or by post, and never claims a card reading that does not happen."""
    tns = web.get("/procedures/TNS/").content.decode()  # 本人確認: マイナンバーカード, external service
    assert "本人確認書類（マイナンバーカード、運転免許証など）を確認します" in tns
    assert "カードを読み取" not in tns and "ログインします" not in tns
    hik = search_catalog["HIK"]
    publish_form(hik)
    page = web.get("/procedures/HIK/").content.decode()
    assert "マイナンバーカードの読み取りは行っていません" not in page
    assert "申請を始めるときにマイナンバーカードでログインします" in page
    assert "利用者証明用電子証明書の暗証番号（数字4桁）" in page
    assert "本人確認書類（マイナンバーカード、運転免許証など）を確認します" in page  # at the counter, still
    assert "署名用電子証明書" not in page  # card sign-in only: no signature is asked

    hik.identity = "card_signature"
    hik.save(update_fields=["identity"])
    page = web.get("/procedures/HIK/").content.decode()
    assert "送信する前に、マイナンバーカードで申請内容に電子署名します" in page
    assert "署名用電子証明書のパスワード（英数字6〜16文字）" in page
