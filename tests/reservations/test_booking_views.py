"""The residents' booking pages through Django's test client and the real database: find,
a resource's days, a day's times, the booking page with the form engine, 確認, booking,
the booking's own page, change and cancel; refusals and bad input."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from tenohira.reservations import services
from tenohira.reservations.demo.base import CHECKUP_QUESTIONS
from tenohira.reservations.models import Booking, Resource, Slot, SlotKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkup(make_resource, section):
    section.phone = "0120-000-111"
    section.save()
    return make_resource("kenshin", name="乳幼児健診", kind=Resource.Kind.CHECKUP, keywords="健診 4か月",
                         bring="母子健康手帳", questions=CHECKUP_QUESTIONS, max_active_per_person=3)


def typed(slot, key="", **over):
    data = {
        "slot": str(slot.pk), "request_key": key, "booker_kind": "4m",
        "booker_name__family": "予約", "booker_name__given": "花子",
        "booker_name__family_kana": "ヨヤク", "booker_name__given_kana": "ハナコ",
        "booker_email": "hanako@example.jp", "booker_phone": "090-1234-5678",
        "child_name__family": "予約", "child_name__given": "一郎",
        "child_name__family_kana": "ヨヤク", "child_name__given_kana": "イチロウ",
        "child_birth": "2025-01-15", "concern": "",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def key_of(response) -> str:
    return re.search(r'name="request_key" value="([0-9a-f]{32})"', response.content.decode()).group(1)


def book_url(resource):
    return reverse("reservations:book", args=[resource.code])


def test_find_resource_days_and_day(client, checkup, make_slot):
    open_slot = make_slot(checkup, days_ahead=3, hour=13, capacity=4, kinds={"4m": 2, "18m": 2})
    make_slot(checkup, days_ahead=3, hour=14, capacity=4, kinds={"4m": 2, "18m": 2}, booked=4)
    make_slot(checkup, days_ahead=3, hour=15, capacity=4, kinds={"4m": 2}, blocked=True, block_reason="点検")
    page = client.get(reverse("reservations:index"), {"q": "健診"}).content.decode()
    assert "乳幼児健診" in page and reverse("reservations:resource", args=["kenshin"]) in page
    assert "乳幼児健診" not in client.get(reverse("reservations:index"), {"q": "テニス"}).content.decode()
    assert client.get(reverse("reservations:index"), {"kind": "room"}).content.decode().count("kenshin") == 0

    resource_page = client.get(reverse("reservations:resource", args=["kenshin"])).content.decode()
    assert "種別を選ぶと" in resource_page and "4m" in resource_page
    day = open_slot.starts_at.astimezone(services.JST).date()
    with_kind = client.get(reverse("reservations:resource", args=["kenshin"]),
                           {"kind": "4m", "month": f"{day:%Y-%m}"}).content.decode()
    assert f"{day.month}月{day.day}日" in with_kind and "空き 2" in with_kind

    day_page = client.get(reverse("reservations:day", args=["kenshin", day.isoformat()]), {"kind": "4m"})
    text = day_page.content.decode()
    assert "満員" in text and "休止" in text and "点検" in text
    assert f"slot={open_slot.pk}" in text
    assert client.get(reverse("reservations:day", args=["kenshin", "2025-02-30"])).status_code == 404


def test_book_confirm_done_mail_and_page(client, checkup, make_slot, django_capture_on_commit_callbacks):
    slot = make_slot(checkup, days_ahead=3, hour=13, capacity=4, kinds={"4m": 2})
    form = client.get(book_url(checkup), {"slot": slot.pk, "kind": "4m"})
    assert form.status_code == 200
    assert "お子さんの氏名" in form.content.decode()
    key = key_of(form)
    confirm = client.post(book_url(checkup), typed(slot, key))
    text = confirm.content.decode()
    assert confirm.status_code == 200 and "予約の内容の確認" in text
    assert "予約 花子" in text and "ヨヤク ハナコ" in text and "予約 一郎" in text
    assert Booking.objects.count() == 0  # 確認 books nothing
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(book_url(checkup), typed(slot, key, action="book"))
    booking = Booking.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse("reservations:done", args=[booking.token])
    assert booking.kind.code == "4m" and booking.name == "予約 花子" and booking.name_kana == "ヨヤク ハナコ"
    assert booking.answers["child_birth"] == "2025-01-15" and booking.request_key == key
    page = client.get(done["Location"]).content.decode()
    assert "予約が確定しました" in page and booking.number in page
    message = mail.outbox[-1]
    assert message.to == ["hanako@example.jp"]
    name, content, kind = message.attachments[0]
    assert name.endswith(".ics") and "SUMMARY" in content
    ical = client.get(reverse("reservations:ical", args=[booking.token]))
    assert ical["Content-Type"].startswith("text/calendar") and booking.number in ical.content.decode()


def test_last_place_gone_shows_alternatives_and_keeps_typing(client, checkup, make_slot, person):
    slot = make_slot(checkup, days_ahead=3, hour=13, capacity=1, kinds={"4m": 1})
    later = make_slot(checkup, days_ahead=4, hour=13, capacity=2, kinds={"4m": 2})
    key = key_of(client.get(book_url(checkup), {"slot": slot.pk, "kind": "4m"}))
    # Someone else takes the last place while this resident reads the check page.
    services.book(services.Request(slot_id=slot.pk, person=person(9), kind_code="4m"))
    response = client.post(book_url(checkup), typed(slot, key, action="book"))
    text = response.content.decode()
    assert response.status_code == 409
    assert "たった今いっぱい" in text and 'class="error-summary"' in text
    assert f'name="alt_slot" value="{later.pk}"' in text
    assert 'value="花子"' in text and 'value="hanako@example.jp"' in text
    assert Booking.objects.count() == 1
    # The alternative's button posts what was typed to 確認 for that slot.
    new_key = key_of(response)
    confirm = client.post(book_url(checkup), {**typed(slot, new_key), "alt_slot": str(later.pk)})
    assert confirm.status_code == 200 and f'name="slot" value="{later.pk}"' in confirm.content.decode()


def test_double_submit_books_once(client, checkup, make_slot):
    slot = make_slot(checkup, capacity=4, kinds={"4m": 4})
    key = key_of(client.get(book_url(checkup), {"slot": slot.pk}))
    first = client.post(book_url(checkup), typed(slot, key, action="book"))
    second = client.post(book_url(checkup), typed(slot, key, action="book"))
    assert first["Location"] == second["Location"]
    assert Booking.objects.count() == 1
    slot.refresh_from_db()
    assert slot.booked == 1


def test_change_to_another_slot(client, checkup, make_slot, person, django_capture_on_commit_callbacks):
    old = make_slot(checkup, days_ahead=3, hour=13, capacity=2, kinds={"4m": 2})
    new = make_slot(checkup, days_ahead=5, hour=13, capacity=2, kinds={"4m": 2})
    booking = services.book(services.Request(slot_id=old.pk, person=person(), kind_code="4m", answers={"a": 1}))
    page = client.get(reverse("reservations:booking", args=[booking.token])).content.decode()
    assert reverse("reservations:change", args=[booking.token]) in page
    day = new.starts_at.astimezone(services.JST).date()
    day_page = client.get(reverse("reservations:change", args=[booking.token]), {"day": day.isoformat()})
    assert f'value="{new.pk}"' in day_page.content.decode()
    confirm = client.post(reverse("reservations:change", args=[booking.token]), {"slot": new.pk})
    assert "この日時に変更しますか" in confirm.content.decode()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("reservations:change", args=[booking.token]), {"slot": new.pk, "action": "change"})
        again = client.post(reverse("reservations:change", args=[booking.token]), {"slot": new.pk, "action": "change"})
    replacement = Booking.objects.exclude(pk=booking.pk).get()
    assert done["Location"] == reverse("reservations:done", args=[replacement.token])
    assert again.status_code == 302  # the old booking is no longer changeable: back to its page
    booking.refresh_from_db()
    assert booking.state == Booking.State.CANCELLED and replacement.slot_id == new.pk
    assert replacement.kind.code == "4m" and replacement.answers == {"a": 1}
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.booked, new.booked) == (0, 1)
    assert SlotKind.objects.get(slot=old).booked == 0 and SlotKind.objects.get(slot=new).booked == 1
    assert sorted(m.subject for m in mail.outbox) == ["【サンプル市】予約が確定しました", "【サンプル市】予約を取り消しました"]
    old_page = client.get(reverse("reservations:booking", args=[booking.token])).content.decode()
    assert replacement.number in old_page


def test_change_refused_keeps_the_old_booking(checkup, make_slot, person):
    old = make_slot(checkup, days_ahead=3, capacity=2, kinds={"4m": 2})
    full = make_slot(checkup, days_ahead=4, capacity=1, kinds={"4m": 1})
    booking = services.book(services.Request(slot_id=old.pk, person=person(), kind_code="4m"))
    services.book(services.Request(slot_id=full.pk, person=person(2), kind_code="4m"))
    with pytest.raises(services.SlotFull):
        services.change(booking, full.pk)
    booking.refresh_from_db()
    old.refresh_from_db()
    assert booking.state == Booking.State.CONFIRMED and old.booked == 1


def test_cancel_with_confirmation_twice_gives_places_back_once(client, checkup, make_slot, person):
    slot = make_slot(checkup, capacity=2, kinds={"4m": 2})
    booking = services.book(services.Request(slot_id=slot.pk, person=person(), kind_code="4m", places=1))
    confirm = client.get(reverse("reservations:cancel", args=[booking.token]))
    assert "この予約を取り消しますか" in confirm.content.decode()
    assert Booking.objects.get().state == Booking.State.CONFIRMED  # a GET changes nothing
    first = client.post(reverse("reservations:cancel", args=[booking.token]))
    second = client.post(reverse("reservations:cancel", args=[booking.token]))
    assert first.status_code == second.status_code == 302
    slot.refresh_from_db()
    assert slot.booked == 0 and SlotKind.objects.get(slot=slot).booked == 0
    page = client.get(reverse("reservations:booking", args=[booking.token]), follow=True).content.decode()
    assert "取消し" in page


def test_after_the_deadline_says_so_and_gives_the_phone(client, make_resource, make_slot, person, section):
    section.phone = "0120-000-111"
    section.save()
    resource = make_resource(change_hours_before=24 * 10)
    slot = make_slot(resource, days_ahead=3, capacity=1)
    booking = services.book(services.Request(slot_id=slot.pk, person=person()))
    page = client.get(reverse("reservations:booking", args=[booking.token])).content.decode()
    assert "期限" in page and "0120-000-111" in page
    assert reverse("reservations:cancel", args=[booking.token]) not in page
    client.post(reverse("reservations:cancel", args=[booking.token]))
    assert Booking.objects.get().state == Booking.State.CONFIRMED


def test_someone_elses_or_made_up_token_is_404(client, checkup, make_slot, person):
    slot = make_slot(checkup, capacity=1, kinds={"4m": 1})
    booking = services.book(services.Request(slot_id=slot.pk, person=person(), kind_code="4m"))
    for url in ("booking", "done", "ical", "cancel", "change"):
        assert client.get(reverse(f"reservations:{url}", args=["x" * 32])).status_code == 404
        assert client.get(reverse(f"reservations:{url}", args=[booking.token[:-1] + "A"])).status_code == 404
    assert client.post(reverse("reservations:cancel", args=["y" * 32])).status_code == 404


@pytest.mark.parametrize("over, message", [
    ({"booker_name__family": "", "booker_name__given": ""}, "予約する方の氏名の姓・名を入力してください"),
    ({"booker_email": "hanako@"}, "メールアドレスの形式が正しくありません"),
    ({"concern": "あ" * 10_000}, "400文字以内"),
    ({"booker_name__family": "あ" * 10_000}, "50文字以内"),
    ({"booker_kind": "9z"}, "種別を選択肢から選んでください"),
    ({"child_birth": "あした"}, "お子さんの生年月日"),
])
def test_bad_input_gives_clear_errors(client, checkup, make_slot, over, message):
    slot = make_slot(checkup, capacity=1, kinds={"4m": 1})
    key = key_of(client.get(book_url(checkup), {"slot": slot.pk}))
    for action in ("check", "book"):
        response = client.post(book_url(checkup), typed(slot, key, action=action, **over))
        text = response.content.decode()
        assert response.status_code == 400, text[:500]
        assert message in text and "入力内容を確認してください" in text
    assert Booking.objects.count() == 0


@pytest.mark.parametrize("slot_value", ["abc", "-1", "1e9", "", "１", "99999999999999999999"])
def test_a_slot_that_is_not_a_number_is_a_clear_400(client, checkup, make_slot, slot_value):
    slot = make_slot(checkup, capacity=1, kinds={"4m": 1})
    get = client.get(book_url(checkup), {"slot": slot_value})
    post = client.post(book_url(checkup), {**typed(slot, "", action="book"), "slot": slot_value})
    for response in (get, post):
        assert response.status_code == 400
        assert "予約する日時の指定が正しくありません" in response.content.decode()
    assert Booking.objects.count() == 0


def test_a_slot_of_another_resource_is_refused(client, checkup, make_resource, make_slot):
    other = make_slot(make_resource("room-b"), capacity=1)
    assert client.get(book_url(checkup), {"slot": other.pk}).status_code == 400


def test_provisional_booking_says_so(client, make_resource, make_slot):
    resource = make_resource("review", requires_review=True)
    slot = make_slot(resource, capacity=1)
    key = key_of(client.get(book_url(resource), {"slot": slot.pk}))
    data = {k: v for k, v in typed(slot, key).items() if k.startswith("booker_") and k != "booker_kind"}
    confirm = client.post(book_url(resource), {**data, "slot": slot.pk, "request_key": key})
    assert "仮予約" in confirm.content.decode()
    done = client.post(book_url(resource), {**data, "slot": slot.pk, "request_key": key, "action": "book"}, follow=True)
    assert "仮予約を受け付けました" in done.content.decode()
    assert Booking.objects.get().state == Booking.State.PROVISIONAL


def test_places_are_asked_when_more_than_one(client, make_resource, make_slot):
    resource = make_resource("class", max_places=2)
    slot = make_slot(resource, capacity=3)
    key = key_of(client.get(book_url(resource), {"slot": slot.pk}))
    data = {k: v for k, v in typed(slot, key).items() if k.startswith("booker_") and k != "booker_kind"}
    too_many = client.post(book_url(resource), {**data, "slot": slot.pk, "request_key": key, "booker_places": "3"})
    assert too_many.status_code == 400 and "人数・枠数は2以下で入力してください" in too_many.content.decode()
    client.post(book_url(resource), {**data, "slot": slot.pk, "request_key": key, "booker_places": "２",
                                     "action": "book"})
    assert Booking.objects.get().places == 2
    assert Slot.objects.get(pk=slot.pk).booked == 2


def test_signed_in_resident_is_prefilled_and_sees_bookings_on_mypage(client, checkup, make_slot):
    from tenohira.core import residents
    from tenohira.identity.models import Account

    account = Account.objects.create(provider="email", subject="s-1", email="signed@example.jp")
    session = client.session
    session[residents.SESSION_KEY] = {"account_id": account.pk, "provider": "email", "provider_label": "メール",
                                      "kind": "individual", "level": "email", "email": "signed@example.jp",
                                      "last_seen": __import__("time").time()}
    session.save()
    slot = make_slot(checkup, capacity=2, kinds={"4m": 2})
    form = client.get(book_url(checkup), {"slot": slot.pk, "kind": "4m"})
    assert 'value="signed@example.jp"' in form.content.decode()
    key = key_of(form)
    client.post(book_url(checkup), typed(slot, key, action="book", booker_email="signed@example.jp"))
    booking = Booking.objects.get()
    assert booking.account_id == account.pk
    mypage = client.get("/mypage/").content.decode()
    assert "施設・健診の予約" in mypage and booking.number in mypage
    assert reverse("reservations:booking", args=[booking.token]) in mypage


def test_procedure_page_offers_booking(client, sample_catalog):
    from tenohira.catalog.models import Procedure
    from tenohira.reservations.demo import base

    base.seed()
    procedure = Procedure.objects.filter(name__contains="乳幼児健康診査").first()
    assert procedure is not None
    page = client.get(reverse("catalog:procedure", args=[procedure.code])).content.decode()
    assert "予約する" in page and reverse("reservations:resource", args=["nyuyoji-kenshin"]) in page


def test_home_links_to_reservations(client, sample_catalog):
    assert reverse("reservations:index") in client.get("/").content.decode()


def test_many_bookings_from_one_address_are_slowed_down_and_what_was_typed_is_kept(client, checkup, make_slot,
                                                                                      settings):
    settings.RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR = 2
    slots = [make_slot(checkup, days_ahead=3 + n, capacity=5, kinds={"4m": 5}) for n in range(3)]
    for n, slot in enumerate(slots[:2]):
        data = typed(slot, f"{n:032x}", action="book", booker_email=f"person{n}@example.jp")
        assert client.post(book_url(checkup), data).status_code == 302
    data = typed(slots[2], f"{9:032x}", action="book", booker_email="person3@example.jp")
    response = client.post(book_url(checkup), data)
    assert response.status_code == 429
    text = response.content.decode()
    assert "しばらくしてからもう一度" in text and 'value="person3@example.jp"' in text
    assert Booking.objects.count() == 2
