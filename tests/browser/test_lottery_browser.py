"""Lotteries (抽選), waiting lists (キャンセル待ち) and provisional bookings (仮予約) in a real
Chromium at phone size (390×844), each page checked with axe-core where JavaScript runs:

1. a resident enters a lottery (wishes, 区分, name, e-mail), opens the entry page from the
   e-mail, sees the seed's SHA-256, and withdraws only through the confirmation page
   (Enter in a text field only ever submits the entry) — with and without JavaScript;
2. a clerk of the resource's section closes and draws the lottery; the resident opens the
   results page from the result e-mail, sees the seed and the digest, downloads the
   entries (no names) and the draw re-run from them gives the published digest;
3. a full slot's day page offers キャンセル待ち; the resident joins, a cancellation offers
   the place by e-mail, the resident accepts and the booking is confirmed; an offer not
   taken in time says so, lapses to the next person, who declines after a confirmation page;
4. a clerk confirms one 仮予約 and rejects another (Enter in the reason adds a line; the
   rejection needs its button and a reason).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE
from tests.browser.test_survey_acceptance import STAFF_PASSWORD, sign_in
from tests.support.a11y import assert_accessible

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

GROUPS = [{"code": "resident", "label": "市内在住・在勤"}, {"code": "other", "label": "それ以外"}]


# --- the world ------------------------------------------------------------------------


def _in_days(days: int, hour: int) -> dt.datetime:
    from django.utils import timezone

    from tenohira.core.fiscal import JST

    day = timezone.now().astimezone(JST).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=JST)


@pytest.fixture
def section(db):
    from tenohira.catalog.models import Department, Section

    department = Department.objects.create(name="教育部（抽選）", order=1)
    return Section.objects.create(department=department, name="スポーツ振興課（抽選）", order=1)


@pytest.fixture
def facility(section):
    from tenohira.reservations.models import Facility

    return Facility.objects.create(code="taiikukan-l", name="総合体育館", section=section, address="中央2-2-2")


def _resource(facility, code: str, name: str, **fields):
    from tenohira.reservations.models import Resource

    values = {"kind": Resource.Kind.ROOM, "closes_hours_before": 0, "change_hours_before": 0,
              "opens_days_ahead": 400}
    values.update(fields)
    return Resource.objects.create(code=code, name=name, facility=facility, section=facility.section, **values)


def _slot(resource, days: int, hour: int, capacity: int):
    from tenohira.reservations.models import Slot

    start = _in_days(days, hour)
    return Slot.objects.create(resource=resource, starts_at=start, ends_at=start + dt.timedelta(hours=2),
                               capacity=capacity)


@pytest.fixture
def tennis(facility):
    """A lottery for two court sessions of two places each, entries open since an hour ago."""
    from django.utils import timezone

    from tenohira.reservations import allocation_services
    from tenohira.reservations.models import Resource

    court = _resource(facility, "tennis-l", "テニスコート", allocation=Resource.Allocation.LOTTERY,
                      max_active_per_person=1)
    slots = [_slot(court, 30, 9, 2), _slot(court, 30, 13, 2)]
    today = timezone.now().date()
    lottery = allocation_services.create_lottery(
        court, title="テニスコート 来月分", period_start=today + dt.timedelta(days=20),
        period_end=today + dt.timedelta(days=40), entries_open_at=timezone.now() - dt.timedelta(hours=1),
        entries_close_at=timezone.now() + dt.timedelta(days=3), max_wishes=2, priority_rules=GROUPS,
    )
    return lottery, slots


def _clerk(section, username: str = "chusen-tanto"):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole

    user = get_user_model().objects.create_user(username, password=STAFF_PASSWORD, last_name="抽選",
                                                first_name="担当")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role="handler", section=section)
    return user


@pytest.fixture
def fast_staff(settings, live_server):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url


@pytest.fixture
def second_phone(chromium):
    """Another phone (the other person of the story) with its own cookies."""
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _check(page: Page, where: str, *, with_axe: bool = True) -> None:
    """axe-core (when JavaScript runs) and nothing wider than the phone."""
    if with_axe:
        assert_accessible(page, where)
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{where} is wider than the phone: {wide}"


def _link_in(message, pattern: str) -> str:
    found = re.search(r"https?://\S+?(" + pattern + r")", message.body)
    assert found, f"no link {pattern} in: {message.body}"
    return found.group(1)


def _named(action: str, number: str) -> re.Pattern:
    """A row's button or link: its visible action, then the booking number for screen readers."""
    return re.compile(rf"^{action}\s*:\s*{re.escape(number)}$")


def _mail_to(address: str, subject_part: str):
    found = [m for m in mail.outbox if m.to == [address] and subject_part in m.subject]
    assert len(found) == 1, [(m.to, m.subject) for m in mail.outbox]
    return found[0]


# --- 1. entering and withdrawing --------------------------------------------------------


@pytest.mark.parametrize("browser_page", ["phone", "phone_without_js"])
def test_resident_enters_a_lottery_and_withdraws_after_the_confirmation(request, browser_page, live_server,
                                                                       fast_staff, tennis):
    from tenohira.reservations.models import LotteryEntry

    page: Page = request.getfixturevalue(browser_page)
    with_axe = browser_page == "phone"
    lottery, slots = tennis
    base = live_server.url
    mail.outbox.clear()

    page.goto(f"{base}/reservations/lottery/{lottery.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("テニスコート 来月分")
    # The seed is not shown before the draw, only its SHA-256.
    expect(page.locator(".facts")).to_contain_text(lottery.seed_hash)
    assert lottery.seed not in page.content()
    _check(page, "the lottery's entry form", with_axe=with_axe)

    # Everything but the name: the error is summarised at the top and every answer is kept.
    page.get_by_label("第1希望").select_option(str(slots[1].pk))
    page.get_by_label("第2希望").select_option(str(slots[0].pk))
    page.get_by_label("市内在住・在勤").check()
    page.get_by_label("フリガナ").fill("チュウセン ハナコ")
    page.get_by_label("メールアドレス").fill("hanako@example.jp")
    page.get_by_label("電話番号").fill("090-2000-0001")
    page.get_by_role("button", name="抽選に申し込む").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("氏名を入力してください。")
    expect(page.get_by_label("メールアドレス")).to_have_value("hanako@example.jp")
    expect(page.get_by_label("第1希望")).to_have_value(str(slots[1].pk))
    expect(page.get_by_label("第2希望")).to_have_value(str(slots[0].pk))
    expect(page.get_by_label("市内在住・在勤")).to_be_checked()
    assert not LotteryEntry.objects.exists()
    _check(page, "the entry form with an error", with_axe=with_axe)
    summary.get_by_role("link", name="氏名を入力してください。").click()

    # Enter in a text field submits the entry (the only button of the form).
    page.get_by_label("氏名").fill("抽選 花子")
    page.get_by_label("氏名").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("抽選の申込みを受け付けました")
    entry = LotteryEntry.objects.get()
    assert (entry.name, entry.email, entry.wishes, entry.priority) == (
        "抽選 花子", "hanako@example.jp", [slots[1].pk, slots[0].pk], 0)
    assert entry.state == LotteryEntry.State.ENTERED
    _check(page, "the entry received", with_axe=with_axe)

    message = _mail_to("hanako@example.jp", "抽選の申込みを受け付けました")
    assert f"申込番号: {entry.number}" in message.body
    page.goto(base + _link_in(message, r"/reservations/lottery/e/[^/\s]+/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("抽選の申込み")
    facts = page.locator(".facts")
    expect(facts).to_contain_text("申込み済み")
    expect(facts).to_contain_text(lottery.seed_hash)
    _check(page, "the entry page from the e-mail", with_axe=with_axe)

    # Withdrawing is a link to a page that asks first; going back changes nothing.
    page.get_by_role("link", name="申込みを取り下げる").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("本当に取り下げますか")
    _check(page, "the withdrawal's confirmation", with_axe=with_axe)
    page.get_by_role("link", name="取り下げずに戻る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("抽選の申込み")
    entry.refresh_from_db()
    assert entry.state == LotteryEntry.State.ENTERED
    page.get_by_role("link", name="申込みを取り下げる").click()
    page.get_by_role("button", name="申込みを取り下げる").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("抽選の申込み")
    expect(page.locator(".facts")).to_contain_text("取下げ")
    expect(page.get_by_role("link", name="申込みを取り下げる")).to_have_count(0)
    entry.refresh_from_db()
    assert entry.state == LotteryEntry.State.WITHDRAWN
    _check(page, "the withdrawn entry", with_axe=with_axe)


# --- 2. the draw and its published results ------------------------------------------------


def test_clerk_draws_and_the_resident_checks_the_published_draw(phone: Page, second_phone: Page, live_server,
                                                                fast_staff, tennis, section, tmp_path):
    from tenohira.reservations import allocation_services, services
    from tenohira.reservations import lottery as draw_rule
    from tenohira.reservations.models import Booking, Lottery, LotteryEntry

    lottery, slots = tennis
    base = live_server.url
    # Six entrants for four places; the resident of the story is the first.
    for n in range(1, 7):
        allocation_services.enter(lottery, services.Person(name=f"抽選 太郎{n}", email=f"taro{n}@example.jp",
                                                           phone=""),
                                  wishes=[slots[n % 2].pk, slots[(n + 1) % 2].pk], priority=0 if n <= 3 else 1)
    mail.outbox.clear()

    clerk = _clerk(section)
    sign_in(phone, base, clerk)
    phone.goto(f"{base}/staff/reservations/lottery/")
    _check(phone, "the staff lottery index")
    phone.get_by_role("link", name="テニスコート 来月分").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("テニスコート 来月分")
    expect(phone.get_by_role("cell", name="抽選 太郎1", exact=True)).to_be_visible()
    _check(phone, "the staff page of a lottery")
    expect(phone.get_by_role("link", name="抽選する")).to_have_count(0)  # entries still open

    phone.get_by_role("button", name="申込みの受付を終了する").click()
    expect(phone.get_by_role("status")).to_contain_text("申込みの受付を終了しました。")
    assert Lottery.objects.get(pk=lottery.pk).state == Lottery.State.CLOSED
    phone.get_by_role("link", name="抽選する").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("抽選しますか")
    expect(phone.locator(".facts")).to_contain_text("6件")
    _check(phone, "the draw's confirmation")
    phone.get_by_role("button", name="抽選する").click()
    expect(phone.get_by_role("status")).to_contain_text("抽選しました。当選 4 件、落選 2 件。")
    lottery.refresh_from_db()
    assert lottery.state == Lottery.State.DRAWN
    expect(phone.locator(".facts")).to_contain_text(lottery.result_digest)
    _check(phone, "the drawn lottery's staff page")
    assert Booking.objects.filter(channel=Booking.Channel.LOTTERY).count() == 4
    assert LotteryEntry.objects.filter(state=LotteryEntry.State.WON).count() == 4

    # The resident follows the result e-mail to the published draw.
    message = _mail_to("taro1@example.jp", "抽選の結果のお知らせ")
    resident = second_phone
    resident.goto(base + _link_in(message, rf"/reservations/lottery/{lottery.pk}/results/"))
    expect(resident.get_by_role("heading", level=1)).to_contain_text("抽選の方法と結果")
    facts = resident.locator(".facts")
    expect(facts).to_contain_text(lottery.seed)
    expect(facts).to_contain_text(lottery.seed_hash)
    expect(facts).to_contain_text(lottery.result_digest)
    expect(resident.get_by_role("region", name="申込みと結果").get_by_role("row")).to_have_count(7)
    assert "太郎" not in resident.content()
    _check(resident, "the published results")

    with resident.expect_download() as download:
        resident.get_by_role("link", name="申込みと結果（CSV）").click()
    entries_file = tmp_path / "entries.csv"
    download.value.save_as(entries_file)
    assert download.value.suggested_filename == f"lottery-{lottery.pk}-entries.csv"
    text = entries_file.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(draw_rule.ENTRY_COLUMNS)
    assert "太郎" not in text and "@" not in text
    with resident.expect_download() as download:
        resident.get_by_role("link", name="枠ごとの数（CSV）").click()
    capacities = draw_rule.read_capacities(download.value.path().read_text(encoding="utf-8"))

    # Anyone can re-run the draw from the seed on the page and the downloaded files.
    shown_seed = resident.locator("xpath=//dt[normalize-space()='シード']/following-sibling::dd[1]").inner_text().strip()
    rows, published = draw_rule.read_entries(text)
    again = draw_rule.draw(shown_seed, rows, capacities)
    assert draw_rule.seed_hash(shown_seed) == lottery.seed_hash
    assert again.won == published and again.digest == lottery.result_digest
    assert len(again.winners) == 4


# --- 3. the waiting list ------------------------------------------------------------------


@pytest.mark.parametrize("browser_page", ["phone", "phone_without_js"])
def test_waiting_list_offer_accepted_from_the_e_mail(request, browser_page, live_server, fast_staff, facility):
    from tenohira.core.fiscal import JST
    from tenohira.reservations import services
    from tenohira.reservations.models import Booking, Slot, WaitlistEntry

    page: Page = request.getfixturevalue(browser_page)
    with_axe = browser_page == "phone"
    base = live_server.url
    room = _resource(facility, "washitsu-l", "和室")
    slot = _slot(room, 3, 10, 1)
    first = services.book(services.Request(slot_id=slot.pk, person=services.Person(
        name="先客 一郎", email="senkyaku@example.jp", phone="")))
    mail.outbox.clear()

    day = slot.starts_at.astimezone(JST).date()
    page.goto(f"{base}/reservations/r/{room.code}/{day.isoformat()}/")
    expect(page.locator(".result-list")).to_contain_text("満員")
    _check(page, "the day page with a full slot", with_axe=with_axe)
    page.get_by_role("link", name=re.compile("^キャンセル待ちに登録する")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("キャンセル待ちの登録")
    _check(page, "the waiting list's form", with_axe=with_axe)

    page.get_by_label("氏名").fill("待ち 次郎")
    page.get_by_role("button", name="キャンセル待ちに登録する").click()
    expect(page.locator(".error-summary")).to_contain_text("結果をお知らせするメールアドレスを入力してください。")
    expect(page.get_by_label("氏名")).to_have_value("待ち 次郎")
    assert not WaitlistEntry.objects.exists()
    _check(page, "the waiting list's form with an error", with_axe=with_axe)
    page.get_by_label("メールアドレス").fill("jiro@example.jp")
    page.get_by_label("メールアドレス").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("キャンセル待ちに登録しました")
    expect(page.locator(".facts")).to_contain_text("1番目")
    _check(page, "the waiting entry", with_axe=with_axe)
    waiting = WaitlistEntry.objects.get()
    assert waiting.state == WaitlistEntry.State.WAITING
    _mail_to("jiro@example.jp", "キャンセル待ちを受け付けました")

    # Someone else's booking is cancelled: the place is kept for the first one waiting.
    assert services.cancel(first) is True
    assert Slot.objects.get(pk=slot.pk).booked == 1
    offer = _mail_to("jiro@example.jp", "キャンセル待ちの枠に空きが出ました")
    page.goto(base + _link_in(offer, r"/reservations/waitlist/w/[^/\s]+/"))
    expect(page.locator(".facts")).to_contain_text("ご案内の期限")
    _check(page, "the offer", with_axe=with_axe)
    page.get_by_role("button", name="予約する").click()

    waiting.refresh_from_db()
    booking = waiting.booking
    assert waiting.state == WaitlistEntry.State.ACCEPTED
    assert booking.state == Booking.State.CONFIRMED and booking.channel == Booking.Channel.WAITLIST
    expect(page.get_by_role("heading", level=1)).to_have_text("予約が確定しました")
    expect(page.locator(".receipt-number")).to_have_text(booking.number)
    expect(page.locator(".facts")).to_contain_text("予約確定")
    _check(page, "the booking made from the offer", with_axe=with_axe)
    assert Slot.objects.get(pk=slot.pk).booked == 1
    confirmed = _mail_to("jiro@example.jp", "予約が確定しました")
    assert confirmed.attachments and confirmed.attachments[0][0].endswith(".ics")


# --- 4. 仮予約 reviewed by a clerk ---------------------------------------------------------


def test_clerk_confirms_one_provisional_booking_and_rejects_another(phone: Page, live_server, fast_staff,
                                                                    facility, section):
    from tenohira.reservations import services
    from tenohira.reservations.models import Booking, Slot

    base = live_server.url
    hall = _resource(facility, "hall-l", "多目的ホール", requires_review=True)
    slot = _slot(hall, 5, 13, 2)
    kept, refused = (services.book(services.Request(slot_id=slot.pk, person=services.Person(
        name=name, email=email, phone=""))) for name, email in (("確定 一子", "ichiko@example.jp"),
                                                               ("不可 二郎", "jiro2@example.jp")))
    assert kept.state == refused.state == Booking.State.PROVISIONAL
    mail.outbox.clear()

    sign_in(phone, base, _clerk(section, "kari-tanto"))
    phone.goto(f"{base}/staff/reservations/lottery/")
    phone.get_by_role("link", name="確認を待つ仮予約（2件）").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("確認を待つ仮予約")
    expect(phone.get_by_role("cell", name="確定 一子")).to_be_visible()
    _check(phone, "the provisional bookings")

    phone.get_by_role("button", name=_named("確定する", kept.number)).click()
    expect(phone.get_by_role("status")).to_contain_text(f"予約 {kept.number} を確定しました。")
    assert Booking.objects.get(pk=kept.pk).state == Booking.State.CONFIRMED
    assert _mail_to("ichiko@example.jp", "予約が確定しました").attachments
    expect(phone.get_by_role("cell", name="確定 一子")).to_have_count(0)

    phone.get_by_role("link", name=_named("お受けできない", refused.number)).click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("この仮予約をお受けできないことにしますか")
    _check(phone, "the rejection page")
    reason = phone.get_by_label("理由（必須・ご本人に知らせます）")
    reason.fill("ホールの点検と重なりました")
    reason.press("Enter")  # a new line in the reason, never the rejection
    expect(reason).to_have_value("ホールの点検と重なりました\n")
    expect(phone.get_by_role("heading", level=1)).to_have_text("この仮予約をお受けできないことにしますか")
    assert Booking.objects.get(pk=refused.pk).state == Booking.State.PROVISIONAL

    # Without a reason the rejection is refused, and said so at the top.
    reason.fill("")
    phone.get_by_role("button", name="お受けできないことにする").click()
    expect(phone.locator(".error-summary")).to_contain_text("お受けできない理由を書いてください")
    assert Booking.objects.get(pk=refused.pk).state == Booking.State.PROVISIONAL
    _check(phone, "the rejection page with an error")

    phone.get_by_label("理由（必須・ご本人に知らせます）").fill("ホールの点検と重なりました")
    phone.get_by_role("button", name="お受けできないことにする").click()
    expect(phone.get_by_role("status")).to_contain_text(f"予約 {refused.number} をお受けできないこととし")
    expect(phone.get_by_text("確認を待つ仮予約はありません。")).to_be_visible()
    refused.refresh_from_db()
    assert refused.state == Booking.State.REJECTED and refused.cancel_reason == "ホールの点検と重なりました"
    told = _mail_to("jiro2@example.jp", "仮予約をお受けできませんでした")
    assert "ホールの点検と重なりました" in told.body
    assert Slot.objects.get(pk=slot.pk).booked == 1


def test_an_offer_not_taken_in_time_passes_to_the_next_who_declines(phone: Page, second_phone: Page, live_server,
                                                                     fast_staff, facility):
    from django.utils import timezone

    from tenohira.reservations import services, waitlist
    from tenohira.reservations.models import Booking, Slot, WaitlistEntry

    base = live_server.url
    room = _resource(facility, "kaigi-l", "会議室")
    slot = _slot(room, 4, 14, 1)
    first = services.book(services.Request(slot_id=slot.pk, person=services.Person(
        name="先客 一郎", email="senkyaku@example.jp", phone="")))
    late, next_one = (waitlist.join(slot, services.Person(name=name, email=email, phone=""))
                      for name, email in (("遅刻 三郎", "saburo@example.jp"), ("辞退 四郎", "shiro@example.jp")))
    mail.outbox.clear()
    services.cancel(first)

    # The first offer's time runs out while its page is open: 予約する then says so, and the
    # page opened again offers no 予約する at all.
    offer = _mail_to("saburo@example.jp", "キャンセル待ちの枠に空きが出ました")
    phone.goto(base + _link_in(offer, r"/reservations/waitlist/w/[^/\s]+/"))
    Booking.objects.filter(pk=WaitlistEntry.objects.get(pk=late.pk).booking_id).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1))
    phone.get_by_role("button", name="予約する").click()
    expect(phone.locator(".error-summary")).to_contain_text("ご案内の期限を過ぎたため")
    _check(phone, "an offer accepted too late")
    phone.goto(base + _link_in(offer, r"/reservations/waitlist/w/[^/\s]+/"))
    expect(phone.locator("main")).to_contain_text("ご案内の期限が過ぎたため")
    expect(phone.get_by_role("button", name="予約する")).to_have_count(0)

    # The sweep lapses it and offers the place to the next person, who declines after the
    # confirmation page: nobody else waits, so the place is free for everyone again.
    assert waitlist.lapse_offers() == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1
    offer = _mail_to("shiro@example.jp", "キャンセル待ちの枠に空きが出ました")
    second_phone.goto(base + _link_in(offer, r"/reservations/waitlist/w/[^/\s]+/"))
    second_phone.get_by_role("link", name="この枠を辞退する").click()
    expect(second_phone.get_by_role("heading", level=1)).to_have_text("この枠を辞退しますか")
    _check(second_phone, "declining an offer")
    second_phone.get_by_role("button", name="辞退する").click()
    expect(second_phone.get_by_role("heading", level=1)).to_have_text("キャンセル待ち")
    expect(second_phone.locator(".facts")).to_contain_text("取下げ")
    expect(second_phone.get_by_role("button", name="予約する")).to_have_count(0)
    _check(second_phone, "the declined offer")
    assert WaitlistEntry.objects.get(pk=late.pk).state == WaitlistEntry.State.LAPSED
    assert WaitlistEntry.objects.get(pk=next_one.pk).state == WaitlistEntry.State.WITHDRAWN
    assert Slot.objects.get(pk=slot.pk).booked == 0
