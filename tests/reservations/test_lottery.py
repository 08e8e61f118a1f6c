"""Lottery (抽選): a published, seeded draw anyone can re-run from the seed and the entries."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from tenohira.reservations import allocation_services, services
from tenohira.reservations import lottery as draw_rule
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import Booking, Lottery, LotteryEntry, Resource, Slot

pytestmark = pytest.mark.django_db

GROUPS = [{"code": "resident", "label": "市内在住・在勤"}, {"code": "other", "label": "それ以外"}]


def _lottery(make_resource, make_slot, *, slots=20, capacity=2, **fields):
    resource = make_resource("tennis", name="テニスコート", allocation=Resource.Allocation.LOTTERY,
                             max_active_per_person=1, **fields)
    for i in range(slots):
        make_slot(resource, days_ahead=30 + i // 4, hour=9 + 2 * (i % 4), capacity=capacity)
    today = timezone.now().date()
    lottery = allocation_services.create_lottery(
        resource, title="テニスコート 来月分", period_start=today + dt.timedelta(days=20),
        period_end=today + dt.timedelta(days=60), entries_open_at=timezone.now() - dt.timedelta(hours=1),
        entries_close_at=timezone.now() + dt.timedelta(days=3), max_wishes=3, priority_rules=GROUPS,
    )
    return resource, lottery


def _close(lottery):
    Lottery.objects.filter(pk=lottery.pk).update(entries_close_at=timezone.now() - dt.timedelta(minutes=1),
                                                 draw_at=timezone.now() - dt.timedelta(minutes=1))
    lottery.refresh_from_db()


def test_draw_rule_is_documented_and_pure():
    entries = [draw_rule.EntryRow(number=n, priority=n % 2, wishes=(1, 2)) for n in range(1, 11)]
    result = draw_rule.draw("seed", entries, {1: 2, 2: 1})
    assert result == draw_rule.draw("seed", list(reversed(entries)), {1: 2, 2: 1})
    # Group 0 (the even numbers here) is served before group 1.
    assert {n for n, slot in result.winners.items()} <= {2, 4, 6, 8, 10}
    expected = sorted((e for e in entries if e.priority == 0), key=lambda e: draw_rule.entry_key("seed", e.number))
    assert result.order[:5] == tuple(e.number for e in expected)
    assert result.won[expected[0].number] == 1 and result.won[expected[2].number] == 2
    lines = "".join(f"{n},{'' if result.won[n] is None else result.won[n]}\n" for n in sorted(result.won))
    assert result.digest == hashlib.sha256(lines.encode()).hexdigest()


def test_lottery_slots_cannot_be_booked_before_the_draw(make_resource, make_slot, person):
    _resource, lottery = _lottery(make_resource, make_slot, slots=2)
    slot = lottery.slots.first()
    with pytest.raises(NotAllowed):
        services.book(services.Request(slot_id=slot.pk, person=person()))


def test_500_entries_for_40_places_redrawn_from_the_published_files(make_resource, make_slot, person, tmp_path,
                                                                     django_capture_on_commit_callbacks):
    _resource, lottery = _lottery(make_resource, make_slot)
    client = Client()
    published_hash = lottery.seed_hash
    page = client.get(f"/reservations/lottery/{lottery.pk}/").content.decode()
    assert published_hash in page and lottery.seed not in page
    slot_ids = list(lottery.slots.values_list("pk", flat=True))
    rng = random.Random(15)
    for n in range(500):
        allocation_services.enter(lottery, person(n), wishes=rng.sample(slot_ids, 3), priority=0 if n % 3 == 0 else 1,
                                  request_key=f"entry-{n}")
    # A double tap returns the same entry; a second entry of one person is refused.
    again = allocation_services.enter(lottery, person(0), wishes=slot_ids[:1], request_key="entry-0")
    assert again.number == 1
    with pytest.raises(NotAllowed):
        allocation_services.enter(lottery, person(0), wishes=slot_ids[:1], request_key="other")
    assert lottery.entries.count() == 500
    results = client.get(f"/reservations/lottery/{lottery.pk}/results/").content.decode()
    assert lottery.seed not in results

    _close(lottery)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = allocation_services.draw(lottery)
    lottery.refresh_from_db()
    assert lottery.state == Lottery.State.DRAWN
    assert hashlib.sha256(lottery.seed.encode()).hexdigest() == published_hash
    assert lottery.result_digest == result.digest
    assert len(result.winners) == 40
    assert Booking.objects.filter(channel=Booking.Channel.LOTTERY, state=Booking.State.CONFIRMED).count() == 40
    assert LotteryEntry.objects.filter(lottery=lottery, state=LotteryEntry.State.WON).count() == 40
    assert LotteryEntry.objects.filter(lottery=lottery, state=LotteryEntry.State.LOST).count() == 460
    for slot in Slot.objects.filter(lottery=lottery):
        assert slot.booked == slot.capacity == 2
        assert slot.bookings.count() == 2
    subjects = [m.subject for m in mail.outbox]
    assert subjects.count("【サンプル市】抽選の結果のお知らせ（当選）") == 40
    assert subjects.count("【サンプル市】抽選の結果のお知らせ（落選）") == 460
    with pytest.raises(NotAllowed):
        allocation_services.draw(lottery)

    # The published page and files: the seed now, no names.
    results = client.get(f"/reservations/lottery/{lottery.pk}/results/").content.decode()
    assert lottery.seed in results and lottery.result_digest in results and "予約 太郎" not in results
    entries_csv = client.get(f"/reservations/lottery/{lottery.pk}/entries.csv")
    capacities_csv = client.get(f"/reservations/lottery/{lottery.pk}/capacities.csv")
    assert entries_csv.status_code == capacities_csv.status_code == 200
    assert "太郎" not in entries_csv.content.decode()
    (tmp_path / "entries.csv").write_bytes(entries_csv.content)
    (tmp_path / "capacities.csv").write_bytes(capacities_csv.content)

    out = io.StringIO()
    call_command("reservations", "redraw", "--seed", lottery.seed, "--entries", str(tmp_path / "entries.csv"),
                 "--capacities", str(tmp_path / "capacities.csv"), "--seed-hash", published_hash, stdout=out)
    printed = out.getvalue()
    assert f"digest {lottery.result_digest}" in printed
    assert "winners 40" in printed and "公開された結果と一致します" in printed
    won = dict(LotteryEntry.objects.filter(lottery=lottery).values_list("number", "booking__slot_id"))
    for number, slot_id in won.items():
        assert f"\n{number},{slot_id or ''}\n" in printed

    # Another seed gives another result (and the command says it does not match).
    other = draw_rule.draw("another seed", *_published(tmp_path))
    assert other.digest != lottery.result_digest and other.won != result.won
    with pytest.raises(CommandError):
        call_command("reservations", "redraw", "--seed", "another seed", "--entries", str(tmp_path / "entries.csv"),
                     "--capacities", str(tmp_path / "capacities.csv"), stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("reservations", "redraw", "--seed", lottery.seed, "--entries", str(tmp_path / "entries.csv"),
                     "--capacities", str(tmp_path / "capacities.csv"), "--seed-hash", "0" * 64,
                     stdout=io.StringIO())


def _published(path):
    entries, _won = draw_rule.read_entries((path / "entries.csv").read_text(encoding="utf-8"))
    return entries, draw_rule.read_capacities((path / "capacities.csv").read_text(encoding="utf-8"))


def test_resident_enters_on_the_page_and_withdraws(make_resource, make_slot):
    _resource, lottery = _lottery(make_resource, make_slot, slots=3)
    slot_ids = list(lottery.slots.values_list("pk", flat=True))
    client = Client()
    form = {"name": "抽選 花子", "email": "hanako@example.jp", "phone": "", "priority": "0",
            "wish0": str(slot_ids[1]), "wish1": str(slot_ids[0]), "wish2": "", "request_key": "k" * 32}
    missing = client.post(f"/reservations/lottery/{lottery.pk}/", {**form, "name": ""})
    assert missing.status_code == 400 and "氏名を入力してください" in missing.content.decode()
    assert 'value="hanako@example.jp"' in missing.content.decode()  # what was typed is kept
    done = client.post(f"/reservations/lottery/{lottery.pk}/", form)
    assert done.status_code == 302
    again = client.post(f"/reservations/lottery/{lottery.pk}/", form)  # a double tap
    assert again["Location"] == done["Location"]
    entry = LotteryEntry.objects.get()
    assert entry.wishes == [slot_ids[1], slot_ids[0]] and entry.priority == 0
    assert "申込番号は 1 です" in client.get(done["Location"]).content.decode()
    withdraw = f"/reservations/lottery/e/{entry.token}/withdraw/"
    assert "本当に取り下げますか" in client.get(withdraw).content.decode()
    entry.refresh_from_db()
    assert entry.state == LotteryEntry.State.ENTERED  # GET only asks
    client.post(withdraw)
    entry.refresh_from_db()
    assert entry.state == LotteryEntry.State.WITHDRAWN


def test_draw_command(make_resource, make_slot, person):
    _resource, lottery = _lottery(make_resource, make_slot, slots=1, capacity=1)
    slot_id = lottery.slots.get().pk
    for n in range(3):
        allocation_services.enter(lottery, person(n), wishes=[slot_id])
    with pytest.raises(CommandError):
        call_command("reservations", "draw", str(lottery.pk), stdout=io.StringIO())  # entries still open
    _close(lottery)
    out = io.StringIO()
    call_command("reservations", "draw", str(lottery.pk), stdout=out)
    lottery.refresh_from_db()
    assert f"digest {lottery.result_digest}" in out.getvalue() and "当選 1 件" in out.getvalue()


def test_demo_lottery_is_open_and_seeded_once(sample_catalog):
    from tenohira.reservations.demo import lottery as demo

    line = demo.seed()
    assert "テニスコート" in line and demo.seed() == ""
    found = Lottery.objects.get()
    assert allocation_services.accepting(found) and found.slots.count() >= 28
    assert Client().get(f"/reservations/lottery/{found.pk}/").status_code == 200


def test_the_sweep_draws_a_lottery_once_its_draw_time_has_come(make_resource, make_slot, person):
    from tenohira.reservations import tasks

    _resource, lottery = _lottery(make_resource, make_slot, slots=1, capacity=1)
    slot_id = lottery.slots.get().pk
    for n in range(2):
        allocation_services.enter(lottery, person(n), wishes=[slot_id])
    assert tasks.draw_due() is False  # entries still open: nothing to draw
    lottery.refresh_from_db()
    assert lottery.state == Lottery.State.OPEN
    _close(lottery)
    tasks.draw_due()
    lottery.refresh_from_db()
    assert lottery.state == Lottery.State.DRAWN and lottery.result_digest
    assert Booking.objects.filter(slot_id=slot_id, channel=Booking.Channel.LOTTERY).count() == 1
    assert tasks.draw_due() is False  # drawn once
