"""Staff pages of the reservations (/staff/reservations/): scoped by section, every view of
bookings, export and action audited; 来所, 来所なし, 取消し (places back once), 休止 and its
lifting, 代理予約 at the counter with the same refusals and alternatives, and the exports
(CSV UTF-8 / CP932 with unencodable characters reported, XLSX)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.reservations import services
from tenohira.reservations.errors import BookingRefused, OutsideWindow
from tenohira.reservations.models import Booking, Facility, Resource, ResourceKind, Slot, SlotKind

pytestmark = pytest.mark.django_db

BASE = "/staff/reservations"


@pytest.fixture
def resource(staff):
    facility = Facility.objects.create(code="hoken", name="保健センター", section=staff.section)
    return Resource.objects.create(
        code="kenshin", name="乳幼児健診", facility=facility, section=staff.section, kind=Resource.Kind.CHECKUP,
        closes_hours_before=24, change_hours_before=24, opens_days_ahead=60, max_active_per_person=1,
    )


def make_slot(resource, *, start: dt.datetime, capacity=3, kinds=None) -> Slot:
    slot = Slot.objects.create(resource=resource, starts_at=start, ends_at=start + dt.timedelta(minutes=30),
                               capacity=capacity)
    for order, (code, places) in enumerate((kinds or {}).items()):
        kind, _ = ResourceKind.objects.get_or_create(resource=resource, code=code, defaults={"name": f"{code}健診",
                                                                                           "order": order})
        SlotKind.objects.create(slot=slot, kind=kind, capacity=places)
    return slot


def days_ahead(days: int, hour: int = 10) -> dt.datetime:
    return timezone.now().replace(hour=hour, minute=0, second=0, microsecond=0) + dt.timedelta(days=days)


def book(slot, name="予約 花子", phone="090-1111-2222", email="hanako@example.jp", **fields) -> Booking:
    return services.book(services.Request(slot_id=slot.pk, person=services.Person(name=name, phone=phone, email=email),
                                          **fields))


def started(booking: Booking, minutes_ago: int = 30) -> Booking:
    """Move the booking's slot into the recent past (bookings are only made ahead)."""
    start = timezone.now() - dt.timedelta(minutes=minutes_ago)
    Slot.objects.filter(pk=booking.slot_id).update(starts_at=start, ends_at=start + dt.timedelta(minutes=30))
    booking.refresh_from_db()
    return booking


def local_day(moment: dt.datetime) -> str:
    return timezone.localtime(moment).date().isoformat()


def audits(kind: str, **detail) -> list[AuditRecord]:
    found = list(AuditRecord.objects.filter(action=kind).order_by("pk"))
    return [r for r in found if all(r.detail.get(k) == v for k, v in detail.items())]


# --- scoping ------------------------------------------------------------------------------


def test_another_sections_clerk_gets_404_and_cannot_act(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5))
    booking = book(slot, name="秘匿 太郎")
    client = staff_client(staff.other_handler)
    index = client.get(f"{BASE}/")
    assert index.status_code == 200
    assert "乳幼児健診" not in index.content.decode()
    day = local_day(slot.starts_at)
    for url in (f"{BASE}/r/kenshin/?date={day}", f"{BASE}/r/kenshin/week/", f"{BASE}/r/kenshin/generate/",
                f"{BASE}/r/kenshin/slots/{slot.pk}/", f"{BASE}/r/kenshin/book/?slot={slot.pk}",
                f"{BASE}/b/{booking.number}/", f"{BASE}/b/{booking.number}/cancel/"):
        assert client.get(url).status_code == 404, url
    for url, data in ((f"{BASE}/b/{booking.number}/check-in/", {}),
                      (f"{BASE}/b/{booking.number}/cancel/", {"reason": "x"}),
                      (f"{BASE}/r/kenshin/slots/{slot.pk}/block/", {"reason": "x"}),
                      (f"{BASE}/r/kenshin/export/", {"format": "csv-utf8", "date": day}),
                      (f"{BASE}/r/kenshin/book/", {"slot": slot.pk, "name": "x", "phone": "1", "channel": "counter"})):
        response = client.post(url, data)
        assert response.status_code == 404, url
        assert "秘匿" not in response.content.decode()
    booking.refresh_from_db()
    slot.refresh_from_db()
    assert booking.state == Booking.State.CONFIRMED and not slot.blocked and slot.booked == 1
    assert not AuditRecord.objects.filter(action__startswith="reservation_").exists()


def test_dx_admin_sees_every_resource_but_acts_only_with_a_section_role(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5))
    booking = book(slot, name="閲覧 花子")
    client = staff_client(staff.dx_admin)
    assert "乳幼児健診" in client.get(f"{BASE}/").content.decode()
    page = client.get(f"{BASE}/r/kenshin/?date={local_day(slot.starts_at)}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "閲覧 花子" in text and "090-1111-2222" in text and "閲覧のみです" in text
    assert client.post(f"{BASE}/b/{booking.number}/cancel/", {"reason": "テスト"}).status_code == 403
    booking.refresh_from_db()
    assert booking.state == Booking.State.CONFIRMED
    [record] = audits("reservation_view", page="day")
    assert record.actor == staff.dx_admin.username and record.target == "kenshin" and record.detail["bookings"] == 1


def test_the_nav_shows_reservations_to_sections_with_resources(staff, staff_client, resource):
    assert f'href="{BASE}/"' in staff_client(staff.handler).get(f"{BASE}/").content.decode()
    assert f'href="{BASE}/"' not in staff_client(staff.other_handler).get("/staff/").content.decode()


# --- day and week views ---------------------------------------------------------------------


def test_day_view_shows_slots_kinds_bookings_and_counts(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5), capacity=4, kinds={"4m": 2, "18m": 2})
    book(slot, name="山田 花子", kind_code="4m")
    other = book(slot, name="鈴木 一郎", email="ichiro@example.jp", phone="080-3333-4444", kind_code="18m")
    services.cancel(other, by_resident=False, reason="電話で取消し")
    blocked = make_slot(resource, start=days_ahead(5, hour=14))
    Slot.objects.filter(pk=blocked.pk).update(blocked=True, block_reason="設備点検")
    client = staff_client(staff.handler)
    response = client.get(f"{BASE}/r/kenshin/?date={local_day(slot.starts_at)}")
    text = response.content.decode()
    assert response.status_code == 200
    for expected in ("山田 花子", "090-1111-2222", "4m健診", "1 / 2", "鈴木 一郎", "取消し 1件", "予約確定 1件",
                     "設備点検", "休止", "窓口・電話で予約を受ける"):
        assert expected in text, expected
    # No check-in before the slot's day, no no-show before it starts.
    assert "来所なし<span" not in text and ">来所<span" not in text
    # The date picker works without JavaScript: an ordinary GET form.
    assert 'type="date"' in text and 'method="get"' in text
    bad = client.get(f"{BASE}/r/kenshin/?date=2026-13-45")
    assert bad.status_code == 200 and "日付を読み取れませんでした" in bad.content.decode()
    assert 'value="2026-13-45"' in bad.content.decode()


# --- actions --------------------------------------------------------------------------------


def test_check_in_and_no_show(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(3), capacity=3)
    came = book(slot, name="来所 花子")
    missed = book(slot, name="欠席 太郎", email="taro@example.jp")
    came = started(came)
    client = staff_client(staff.handler)
    response = client.post(f"{BASE}/b/{came.number}/check-in/")
    assert response.status_code == 302 and f"#slot-{slot.pk}" in response["Location"]
    came.refresh_from_db()
    assert came.state == Booking.State.CHECKED_IN and came.checked_in_at is not None
    missed.refresh_from_db()
    assert client.post(f"{BASE}/b/{missed.number}/no-show/").status_code == 302
    missed.refresh_from_db()
    assert missed.state == Booking.State.NO_SHOW
    slot.refresh_from_db()
    assert slot.booked == 2  # a visit or a no-show keeps its places
    assert [r.target for r in audits("reservation_action", action="check_in")] == [came.number]
    assert [r.target for r in audits("reservation_action", action="no_show")] == [missed.number]
    week = client.get(f"{BASE}/r/kenshin/week/?date={local_day(slot.starts_at)}").content.decode()
    assert "来所なし（この週 1件）" in week and "欠席 太郎" in week
    assert "来所済み 1件" in week and "来所なし 1件" in week


def test_no_show_only_after_the_start_and_check_in_only_on_the_day(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(3))
    booking = book(slot)
    client = staff_client(staff.handler)
    page = client.post(f"{BASE}/b/{booking.number}/no-show/", follow=True).content.decode()
    assert "予約の時刻を過ぎてから" in page
    page = client.post(f"{BASE}/b/{booking.number}/check-in/", follow=True).content.decode()
    assert "予約の当日から" in page
    booking.refresh_from_db()
    assert booking.state == Booking.State.CONFIRMED
    assert not audits("reservation_action")


def test_staff_cancel_asks_first_and_gives_the_place_back_once(staff, staff_client, resource, mailoutbox,
                                                               django_capture_on_commit_callbacks):
    slot = make_slot(resource, start=days_ahead(3), capacity=1)
    booking = book(slot)
    client = staff_client(staff.handler)
    confirm = client.get(f"{BASE}/b/{booking.number}/cancel/")
    assert confirm.status_code == 200 and "予約を取り消しますか" in confirm.content.decode()
    missing = client.post(f"{BASE}/b/{booking.number}/cancel/", {"reason": "  "})
    assert missing.status_code == 400 and "取消しの理由を入力してください" in missing.content.decode()
    booking.refresh_from_db()
    assert booking.state == Booking.State.CONFIRMED
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"{BASE}/b/{booking.number}/cancel/", {"reason": "ご本人から電話"})
    assert done.status_code == 302
    booking.refresh_from_db()
    slot.refresh_from_db()
    assert booking.state == Booking.State.CANCELLED and booking.cancel_reason == "ご本人から電話"
    assert slot.booked == 0
    assert [m.to for m in mailoutbox] == [["hanako@example.jp"]]
    again = client.post(f"{BASE}/b/{booking.number}/cancel/", {"reason": "二度目"})
    assert again.status_code == 400 and "既に" in again.content.decode()
    slot.refresh_from_db()
    assert slot.booked == 0
    [record] = audits("reservation_action", action="cancel")
    assert record.target == booking.number and record.detail["reason"] == "ご本人から電話"
    # The place is free again for a resident.
    assert book(slot, name="次の 人", email="next@example.jp").state == Booking.State.CONFIRMED


def test_block_keeps_bookings_refuses_residents_and_unblock_reopens(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(3), capacity=3)
    kept = book(slot, name="連絡 待子", phone="090-5555-6666")
    client = staff_client(staff.handler)
    response = client.post(f"{BASE}/r/kenshin/slots/{slot.pk}/block/", {"reason": "空調の点検"}, follow=True)
    text = response.content.decode()
    assert "予約済みの1件はそのままです" in text and "連絡 待子" in text and "090-5555-6666" in text
    slot.refresh_from_db()
    assert slot.blocked and slot.block_reason == "空調の点検"
    kept.refresh_from_db()
    assert kept.state == Booking.State.CONFIRMED
    with pytest.raises(BookingRefused):
        book(slot, name="住民 次郎", email="jiro@example.jp")
    again = client.post(f"{BASE}/r/kenshin/slots/{slot.pk}/block/", {"reason": "二度目"})
    assert again.status_code == 400 and "既に休止" in again.content.decode()
    assert client.post(f"{BASE}/r/kenshin/slots/{slot.pk}/unblock/").status_code == 302
    slot.refresh_from_db()
    assert not slot.blocked
    assert book(slot, name="住民 次郎", email="jiro@example.jp").state == Booking.State.CONFIRMED
    assert [r.detail["action"] for r in audits("reservation_action")] == ["block", "unblock"]
    assert audits("reservation_action", action="block")[0].detail["bookings"] == [kept.number]


def test_generate_slots_from_the_rules(staff, staff_client, resource):
    from tenohira.reservations.models import OpeningRule

    start = timezone.localdate() + dt.timedelta(days=1)
    OpeningRule.objects.create(resource=resource, weekdays="0123456", start=dt.time(9), end=dt.time(11),
                               slot_minutes=60, capacity=5, business_days_only=False, valid_from=start)
    client = staff_client(staff.handler)
    response = client.post(f"{BASE}/r/kenshin/generate/", {"start": start.isoformat(),
                                                           "end": (start + dt.timedelta(days=2)).isoformat()})
    assert response.status_code == 302
    assert Slot.objects.filter(resource=resource).count() == 6
    assert client.post(f"{BASE}/r/kenshin/generate/", {"start": start.isoformat(),
                                                       "end": start.isoformat()}).status_code == 302
    assert Slot.objects.filter(resource=resource).count() == 6  # existing slots are kept
    wrong = client.post(f"{BASE}/r/kenshin/generate/", {"start": "2026-05-02", "end": "2026-05-01"})
    assert wrong.status_code == 400 and 'value="2026-05-02"' in wrong.content.decode()
    assert [r.detail["made"] for r in audits("reservation_action", action="generate")] == [6, 0]


def test_book_on_behalf_at_the_counter_inside_the_closing_window(staff, staff_client, resource):
    soon = timezone.now() + dt.timedelta(hours=2)
    slot = make_slot(resource, start=soon.replace(second=0, microsecond=0), capacity=2, kinds={"4m": 2})
    with pytest.raises(OutsideWindow):
        book(slot, kind_code="4m")
    client = staff_client(staff.handler)
    form = client.get(f"{BASE}/r/kenshin/book/?slot={slot.pk}")
    assert form.status_code == 200
    key = form.context["typed"]["request_key"]
    data = {"slot": slot.pk, "channel": "counter", "kind": "4m", "places": "1", "name": "窓口 花子",
            "name_kana": "マドグチ ハナコ", "phone": "0120-000-000", "request_key": key}
    response = client.post(f"{BASE}/r/kenshin/book/", data)
    assert response.status_code == 302
    made = Booking.objects.get()
    assert response["Location"] == f"{BASE}/b/{made.number}/"
    assert made.channel == Booking.Channel.COUNTER and made.booked_by == staff.handler
    assert made.kind.code == "4m" and made.state == Booking.State.CONFIRMED
    # A double tap of 予約する books once.
    assert client.post(f"{BASE}/r/kenshin/book/", data).status_code == 302
    assert Booking.objects.count() == 1
    slot.refresh_from_db()
    assert slot.booked == 1
    [record] = audits("reservation_action", action="book")
    assert record.target == made.number and record.detail["channel"] == "counter"
    assert audits("reservation_view", page="booking") == []
    assert client.get(response["Location"]).status_code == 200
    assert len(audits("reservation_view", page="booking")) == 1


def test_full_slot_refusal_shows_alternatives_and_keeps_what_was_typed(staff, staff_client, resource):
    full = make_slot(resource, start=days_ahead(5), capacity=1)
    later = make_slot(resource, start=days_ahead(6), capacity=2)
    book(full)
    client = staff_client(staff.handler)
    data = {"slot": full.pk, "channel": "phone", "places": "1", "name": "電話 太郎", "phone": "03-1234-5678",
            "request_key": "k" * 32}
    response = client.post(f"{BASE}/r/kenshin/book/", data)
    assert response.status_code == 409
    text = response.content.decode()
    assert "たった今いっぱいになりました" in text
    assert f'name="slot" value="{later.pk}" checked' in text
    assert 'value="電話 太郎"' in text and 'value="03-1234-5678"' in text
    assert Booking.objects.count() == 1
    # Picking the alternative books it with the same key.
    response = client.post(f"{BASE}/r/kenshin/book/", {**data, "slot": later.pk})
    assert response.status_code == 302
    made = Booking.objects.get(name="電話 太郎")
    assert made.slot == later and made.channel == Booking.Channel.PHONE


def test_book_on_behalf_needs_a_contact(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5))
    response = staff_client(staff.handler).post(f"{BASE}/r/kenshin/book/", {
        "slot": slot.pk, "channel": "counter", "places": "1", "name": "連絡先 なし"})
    assert response.status_code == 400 and "電話番号かメールアドレス" in response.content.decode()
    assert not Booking.objects.exists()


# --- exports ----------------------------------------------------------------------------------


def _download(client, fmt: str, slot, period="day"):
    return client.post(f"{BASE}/r/kenshin/export/", {"format": fmt, "period": period,
                                                      "date": local_day(slot.starts_at)})


def test_csv_exports_round_trip_japanese_names(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5))
    book(slot, name="髙橋 花子", phone="=1+2")  # 髙 is in CP932 (IBM extension); = would start a formula
    client = staff_client(staff.handler)
    utf8 = _download(client, "csv-utf8", slot)
    assert utf8.status_code == 200 and utf8.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(utf8.content.decode("utf-8-sig"))))
    assert rows[0][0] == "予約番号" and rows[1][9] == "髙橋 花子" and rows[1][11] == "'=1+2"
    sjis = _download(client, "csv-cp932", slot, period="week")
    assert sjis.status_code == 200 and "Windows-31J" in sjis["Content-Type"]
    rows = list(csv.reader(io.StringIO(sjis.content.decode("cp932"))))
    assert rows[1][9] == "髙橋 花子" and rows[1][4] == "乳幼児健診"
    assert "attachment" in sjis["Content-Disposition"]
    assert [(r.detail["format"], r.detail["period"], r.detail["rows"]) for r in audits("reservation_export")] == [
        ("csv-utf8", "day", 1), ("csv-cp932", "week", 1)]


def test_cp932_export_reports_a_name_it_cannot_hold(staff, staff_client, resource):
    slot = make_slot(resource, start=days_ahead(5))
    booking = book(slot, name="\U00020bb7田 太郎")  # 𠮷 (U+20BB7) is outside CP932
    client = staff_client(staff.handler)
    response = _download(client, "csv-cp932", slot)
    assert response.status_code == 422
    text = response.content.decode()
    assert "U+20BB7" in text and booking.number in text and "ファイルは作られていません" in text
    assert response.get("Content-Disposition") is None
    [record] = audits("reservation_export")
    assert record.detail["refused"] is True and record.detail["unencodable"] == 1 and record.detail["rows"] == 0
    assert _download(client, "csv-utf8", slot).content.decode("utf-8-sig").count("\U00020bb7田 太郎") == 1


def test_xlsx_export(staff, staff_client, resource):
    from openpyxl import load_workbook

    slot = make_slot(resource, start=days_ahead(5))
    book(slot, name="=HYPERLINK(\"x\")")
    response = _download(staff_client(staff.handler), "xlsx", slot)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.cell(1, 10).value == "氏名"
    cell = sheet.cell(2, 10)
    assert cell.value == "=HYPERLINK(\"x\")" and cell.data_type == "s"
    assert audits("reservation_export", format="xlsx")


def test_book_on_behalf_asks_the_bookings_own_questions(staff, staff_client, resource):
    Resource.objects.filter(pk=resource.pk).update(questions={"title": "健診の予約", "steps": [{
        "key": "child", "title": "お子さんについて", "fields": [
            {"key": "child_birth", "type": "date", "label": "お子さんの生年月日", "required": True},
            {"key": "concern", "type": "textarea", "label": "相談したいこと", "required": False, "max_length": 400},
        ]}]})
    slot = make_slot(resource, start=days_ahead(5), capacity=2)
    client = staff_client(staff.handler)
    form = client.get(f"{BASE}/r/kenshin/book/?slot={slot.pk}")
    assert 'id="f-child_birth"' in form.content.decode()  # the same field as the resident's page
    data = {"slot": slot.pk, "channel": "phone", "places": "1", "name": "電話 花子", "phone": "090-1234-0000",
            "request_key": form.context["typed"]["request_key"], "concern": "離乳食について"}
    missing = client.post(f"{BASE}/r/kenshin/book/", data)
    text = missing.content.decode()
    assert missing.status_code == 400 and "お子さんの生年月日" in text and 'href="#f-child_birth"' in text
    assert "離乳食について" in text and 'value="電話 花子"' in text  # what was typed is kept
    assert not Booking.objects.exists()
    done = client.post(f"{BASE}/r/kenshin/book/", {**data, "child_birth": "令和8年8月1日"})
    assert done.status_code == 302
    made = Booking.objects.get()
    assert made.answers["child_birth"] == "2026-08-01" and made.answers["concern"] == "離乳食について"
