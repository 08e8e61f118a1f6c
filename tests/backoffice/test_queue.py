"""The section queue at /staff/: scoped to the user's sections, filters, kana-insensitive
search, age and overdue items, pagination that keeps the filters, a bounded query count."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from tenohira.applications.models import Submission
from tenohira.backoffice.models import Role, StaffRole

pytestmark = pytest.mark.django_db


def receipts_in(html: str) -> list[str]:
    return re.findall(r'<a href="/staff/submissions/([^/]+)/">', html)


def rows_of(html: str) -> list[str]:
    body = html[html.index("<tbody>"): html.index("</tbody>")]
    return re.findall(r"<tr.*?</tr>", body, re.S)


def set_status(submission, status):
    Submission.objects.filter(pk=submission.pk).update(status=status)


def test_the_queue_shows_only_the_users_sections_applications_with_the_columns(staff, staff_client, make_submission):
    mine = make_submission(family="山田", given="花子", family_kana="ヤマダ", given_kana="ハナコ")
    theirs = make_submission(staff.other_procedure, family="佐藤", given="一郎", family_kana="サトウ", given_kana="イチロウ")
    response = staff_client(staff.handler).get("/staff/")
    assert response.status_code == 200
    html = response.content.decode()
    assert receipts_in(html) == [mine.receipt_number]
    assert theirs.receipt_number not in html and "佐藤" not in html
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', html)
    assert headers == ["受付番号", "手続き", "申請者", "申請日時", "経過日数", "標準処理期間 / 処理期限", "状態"]
    (row,) = rows_of(html)
    local = timezone.localtime(mine.submitted_at)
    assert "児童手当の認定請求" in row and "山田 花子" in row and local.strftime("%Y-%m-%d %H:%M") in row
    assert "0日" in row and "14日 / " + mine.due_date.strftime("%Y-%m-%d") in row and "受付" in row
    assert "期限超過" not in row

    other = staff_client(staff.other_handler).get("/staff/").content.decode()
    assert receipts_in(other) == [theirs.receipt_number]


def test_dates_are_shown_in_japan_time(staff, staff_client, make_submission):
    submission = make_submission()
    # 2024-06-30 16:30 UTC is 2024-07-01 01:30 in Tokyo.
    Submission.objects.filter(pk=submission.pk).update(submitted_at=dt.datetime(2024, 6, 30, 16, 30, tzinfo=dt.UTC))
    html = staff_client(staff.handler).get("/staff/?status=all").content.decode()
    assert "2024-07-01 01:30" in html


def test_filter_by_procedure_status_and_date_range(staff, staff_client, make_submission):
    a = make_submission(family_kana="アオキ", family="青木")
    b = make_submission(staff.second_procedure, family="伊藤", family_kana="イトウ")
    old = make_submission(family="上田", family_kana="ウエダ", submitted_days_ago=40)
    done = make_submission(family="江藤", family_kana="エトウ")
    set_status(done, Submission.Status.COMPLETED)
    withdrawn = make_submission(family="大野", family_kana="オオノ")
    set_status(withdrawn, Submission.Status.WITHDRAWN)
    client = staff_client(staff.handler)

    # Default: open applications only (finished and withdrawn ones are out of the way).
    assert set(receipts_in(client.get("/staff/").content.decode())) == {a.receipt_number, b.receipt_number, old.receipt_number}
    assert set(receipts_in(client.get("/staff/?status=all").content.decode())) == {
        a.receipt_number, b.receipt_number, old.receipt_number, done.receipt_number, withdrawn.receipt_number}
    assert receipts_in(client.get("/staff/?status=completed").content.decode()) == [done.receipt_number]
    by_procedure = client.get(f"/staff/?procedure={staff.second_procedure.pk}").content.decode()
    assert receipts_in(by_procedure) == [b.receipt_number]
    assert f'<option value="{staff.second_procedure.pk}" selected>' in by_procedure

    today = timezone.localdate()
    recent = client.get(f"/staff/?date_from={today - dt.timedelta(days=7)}&status=all").content.decode()
    assert old.receipt_number not in receipts_in(recent) and a.receipt_number in receipts_in(recent)
    early = client.get(f"/staff/?date_to={today - dt.timedelta(days=30)}").content.decode()
    assert receipts_in(early) == [old.receipt_number]
    day = (today - dt.timedelta(days=40)).isoformat()
    assert receipts_in(client.get(f"/staff/?date_from={day}&date_to={day}").content.decode()) == [old.receipt_number]


def test_a_procedure_of_another_section_is_not_a_filter_choice(staff, staff_client, make_submission):
    make_submission()
    response = staff_client(staff.handler).get(f"/staff/?procedure={staff.other_procedure.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "保育所の入所申込" not in html
    assert "条件の一部を使えませんでした" in html
    assert len(receipts_in(html)) == 1  # the invalid filter is left out, the rest applies


def test_impossible_date_ranges_are_reported_not_crashed(staff, staff_client, make_submission):
    make_submission()
    html = staff_client(staff.handler).get("/staff/?date_from=2025-05-01&date_to=2025-04-01").content.decode()
    assert "「申請日（まで）」は「申請日（から）」と同じか後の日にしてください。" in html
    html = staff_client(staff.handler).get("/staff/?date_from=2025-13-45").content.decode()
    assert "条件の一部を使えませんでした" in html and 'aria-invalid="true"' in html


@pytest.mark.parametrize("query", ["ヤマダ", "やまだ", "ﾔﾏﾀﾞ", "山田", "ﾔﾏﾀﾞﾊﾅｺ", "やまだはなこ", "はなこ"])
def test_search_by_name_or_furigana_ignores_kana_and_width(staff, staff_client, make_submission, query):
    yamada = make_submission(family="山田", given="花子", family_kana="ヤマダ", given_kana="ハナコ")
    make_submission(family="佐藤", given="次郎", family_kana="サトウ", given_kana="ジロウ")
    response = staff_client(staff.handler).get("/staff/", {"q": query})
    assert receipts_in(response.content.decode()) == [yamada.receipt_number]


def test_search_by_receipt_number_in_full_or_by_its_tail(staff, staff_client, make_submission):
    first = make_submission(family="山田", family_kana="ヤマダ")
    second = make_submission(family="佐藤", family_kana="サトウ")
    client = staff_client(staff.handler)
    assert receipts_in(client.get("/staff/", {"q": second.receipt_number}).content.decode()) == [second.receipt_number]
    tail = first.receipt_number.rsplit("-", 1)[1]  # e.g. 000001
    assert receipts_in(client.get("/staff/", {"q": tail}).content.decode()) == [first.receipt_number]
    # typed in full-width digits and lower case
    wide = first.receipt_number.lower().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert receipts_in(client.get("/staff/", {"q": wide}).content.decode()) == [first.receipt_number]


def test_overdue_items_are_flagged_in_text_and_can_be_filtered(staff, staff_client, make_submission):
    late = make_submission(family="遅田", family_kana="オソダ", submitted_days_ago=20)  # 14-day period
    on_time = make_submission(family="早田", family_kana="ハヤタ", submitted_days_ago=3)
    finished_late = make_submission(family="済田", family_kana="スミダ", submitted_days_ago=30)
    set_status(finished_late, Submission.Status.COMPLETED)
    no_period = make_submission(staff.second_procedure, family="無田", family_kana="ムタ", submitted_days_ago=100)
    client = staff_client(staff.handler)

    html = client.get("/staff/?status=all").content.decode()
    rows = {receipts_in(row)[0]: row for row in rows_of(html)}
    assert 'class="is-overdue"' in rows[late.receipt_number] and "期限超過" in rows[late.receipt_number]
    assert "20日" in rows[late.receipt_number]
    for other in (on_time, finished_late, no_period):
        assert "期限超過" not in rows[other.receipt_number]
    assert "定めなし" in rows[no_period.receipt_number]

    assert receipts_in(client.get("/staff/?overdue=1").content.decode()) == [late.receipt_number]


def test_pagination_keeps_the_filters(staff, staff_client, make_submission):
    for n in range(53):
        make_submission(family="山田", family_kana="ヤマダ", given=f"{n}")
    make_submission(family="佐藤", family_kana="サトウ")
    client = staff_client(staff.handler)
    first = client.get("/staff/", {"q": "やまだ", "status": "open", "overdue": ""}).content.decode()
    assert len(receipts_in(first)) == 50
    assert "53件" in first
    links = re.findall(r'<nav class="staff-pagination".*?</nav>', first, re.S)[0]
    next_href = re.search(r'href="\?([^"]+)" rel="next"', links).group(1).replace("&amp;", "&")
    params = parse_qs(next_href)
    assert params["q"] == ["やまだ"] and params["status"] == ["open"] and params["page"] == ["2"]
    assert params["section"] == [str(staff.section.pk)]
    second = client.get("/staff/?" + next_href).content.decode()
    assert len(receipts_in(second)) == 3
    assert not set(receipts_in(first)) & set(receipts_in(second))
    assert 'aria-current="page">2<' in second
    # A page past the end shows the last page rather than an error.
    assert receipts_in(client.get("/staff/?" + next_href.replace("page=2", "page=99")).content.decode()) == receipts_in(second)


def test_the_queue_page_costs_the_same_few_queries_for_5_or_55_rows(staff, staff_client, make_submission, django_assert_max_num_queries):
    client = staff_client(staff.handler)
    for _ in range(5):
        make_submission()
    client.get("/staff/")  # warm caches that are per process (content types, ...)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get("/staff/").status_code == 200
    for _ in range(50):
        make_submission()
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as many:
        response = client.get("/staff/?status=open&q=やまだ")
    assert len(receipts_in(response.content.decode())) == 50
    assert len(many.captured_queries) == len(few.captured_queries)


def test_staff_of_several_sections_switch_between_them(staff, staff_client, make_submission):
    StaffRole.objects.create(user=staff.handler, role=Role.HANDLER, section=staff.other_section)
    mine = make_submission()
    theirs = make_submission(staff.other_procedure, family="佐藤", family_kana="サトウ")
    client = staff_client(staff.handler)
    html = client.get("/staff/").content.decode()
    assert '<label for="f-section-switch">所属</label>' in html
    assert receipts_in(html) == [mine.receipt_number]
    switched = client.get(f"/staff/?section={staff.other_section.pk}").content.decode()
    assert receipts_in(switched) == [theirs.receipt_number]
    assert "保育課" in switched


def test_a_section_the_user_does_not_serve_cannot_be_chosen(staff, staff_client, make_submission):
    mine = make_submission()
    make_submission(staff.other_procedure, family="佐藤", family_kana="サトウ")
    html = staff_client(staff.handler).get(f"/staff/?section={staff.other_section.pk}").content.decode()
    assert receipts_in(html) == [mine.receipt_number]
    assert "保育課" not in html
    html = staff_client(staff.handler).get("/staff/?section=abc").content.decode()
    assert receipts_in(html) == [mine.receipt_number]


def test_the_queue_marks_the_current_page_in_the_menu(staff, staff_client):
    html = staff_client(staff.approver).get("/staff/").content.decode()
    assert '<a href="/staff/" aria-current="page">申請一覧</a>' in html
    assert '<a href="/staff/password/">パスワードの変更</a>' in html
